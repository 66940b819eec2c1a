package live

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/plugin/enrich"
	"github.com/kubectl-netflow/kubectl-netflow/probe/client"
)

// simStream is a simulated probe: every period it yields a batch of n
// records, as the client decodes them, from pods of a cluster of 1,000 pods.
type simStream struct {
	node     string
	n        int
	period   time.Duration
	batches  int // 0 means until closed
	sent     *atomic.Int64
	next     time.Time
	count    int
	closed   chan struct{}
	template []flow.Record
}

func newSimStream(node string, n int, period time.Duration, batches int, sent *atomic.Int64) *simStream {
	s := &simStream{node: node, n: n, period: period, batches: batches, sent: sent, closed: make(chan struct{}), next: time.Now()}
	s.template = make([]flow.Record, n)
	for i := range s.template {
		s.template[i] = flow.Record{
			TS: time.Now(), Protocol: flow.ProtocolTCP, Process: "app", PID: int64(i),
			ContainerID: fmt.Sprintf("c%04d", i%1000), NodeName: node,
			Addr: fmt.Sprintf("10.1.%d.%d", (i%1000)/250, (i%1000)%250+1), Port: int64(30000 + i),
			DstAddr: fmt.Sprintf("10.1.%d.%d", ((i+7)%1000)/250, ((i+7)%1000)%250+1), DstPort: 8080,
			TxBytes: 1000, RxBytes: 2000, TxPackets: 2, RxPackets: 3,
		}
	}
	return s
}

func (s *simStream) Hello() client.Hello {
	return client.Hello{NodeName: s.node, BootID: "boot-" + s.node, HookSet: "sim", KernelRelease: "6.1"}
}

func (s *simStream) Recv() (client.Event, error) {
	if s.batches > 0 && s.count >= s.batches {
		<-s.closed
		return client.Event{}, io.EOF
	}
	if s.period > 0 {
		s.next = s.next.Add(s.period)
		select {
		case <-time.After(time.Until(s.next)):
		case <-s.closed:
			return client.Event{}, io.EOF
		}
	}
	s.count++
	recs := make([]flow.Record, s.n)
	copy(recs, s.template)
	s.sent.Add(int64(s.n))
	return client.Event{Batch: &client.Batch{Seq: uint64(s.count), Records: recs}}, nil
}

func (s *simStream) Close() error {
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	return nil
}

// simCluster is an enricher over a fake cluster of 1,000 pods on 100 nodes.
func simCluster(t testing.TB) *enrich.Enricher {
	t.Helper()
	var objs []k8sruntime.Object
	for i := 0; i < 100; i++ {
		objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%03d", i), Labels: map[string]string{enrich.ZoneLabel: fmt.Sprintf("zone-%d", i%3)}}})
	}
	yes := true
	for i := 0; i < 1000; i++ {
		objs = append(objs, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: fmt.Sprintf("ns-%d", i%20), Name: fmt.Sprintf("pod-%04d", i), UID: types.UID(fmt.Sprint(i)),
				Labels:          map[string]string{"pod-template-hash": "abc"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: fmt.Sprintf("app-%d-abc", i%50), Controller: &yes}},
			},
			Spec: corev1.PodSpec{NodeName: fmt.Sprintf("node-%03d", i%100)},
			Status: corev1.PodStatus{
				Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.1.%d.%d", i/250, i%250+1),
				ContainerStatuses: []corev1.ContainerStatus{{Name: "app", ContainerID: fmt.Sprintf("containerd://c%04d", i)}},
			},
		})
	}
	e, err := enrich.New(enrich.Config{Client: fake.NewClientset(objs...)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestFanIn100Streams streams 100 simulated probes of 1,000 flows a second
// each into one source for a few seconds and reports the CPU it took and
// what was lost. The figures go in the note.
func TestFanIn100Streams(t *testing.T) {
	if os.Getenv("NETFLOW_LOAD_TEST") == "" {
		t.Skip("a 6 s load test whose figures depend on what else runs; NETFLOW_LOAD_TEST=1 runs it")
	}
	const streams, perSecond, seconds = 100, 1000, 6
	var sent atomic.Int64
	nodes := make([]string, streams)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("node-%03d", i)
	}
	src := New(Config{
		Nodes: nodes, Probes: &fakeProbes{}, Enricher: simCluster(t),
		Connect: func(_ context.Context, node string) (Stream, error) {
			return newSimStream(node, perSecond, time.Second, 0, &sent), nil
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), seconds*time.Second+500*time.Millisecond)
	defer cancel()
	var got, named int64
	cpu0, wall0 := cpuTime(), time.Now()
	var first, last time.Time
	err := src.Stream(ctx, func(b *flow.Batch) error {
		if first.IsZero() && len(b.Records) > 0 {
			first = time.Now()
		}
		last = time.Now()
		got += int64(len(b.Records))
		for i := range b.Records {
			if b.Records[i].WorkloadKind == "Deployment" {
				named++
			}
		}
		return nil
	})
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	t.Logf("first batch after %s, last after %s, returned after %s", first.Sub(wall0), last.Sub(wall0), wall)
	if err != nil {
		t.Fatal(err)
	}
	// Batches in flight when the context ended are not lost: the stream
	// ends with them.
	lost := sent.Load() - got
	t.Logf("FIGURE fan-in: %d streams × %d flows/s for %s: %d records received of %d sent (%d in flight at the end), "+
		"CPU %.2f s = %.2f cores (GOMAXPROCS %d), %.0f ns/record",
		streams, perSecond, wall.Round(time.Millisecond), got, sent.Load(), lost, cpu.Seconds(), cpu.Seconds()/wall.Seconds(),
		runtime.GOMAXPROCS(0), float64(cpu.Nanoseconds())/float64(max(got, 1)))
	if named != got {
		t.Errorf("%d of %d records not enriched", got-named, got)
	}
	if lost > int64(streams*perSecond) {
		t.Errorf("%d records lost, more than one interval in flight", lost)
	}
	if cores := cpu.Seconds() / wall.Seconds(); cores > 1 {
		t.Errorf("fan-in used %.2f cores, want ≤ 1", cores)
	}
}

// BenchmarkFanIn measures the cost per record of fan-in and enrichment
// without pacing: 100 streams of 1,000-record batches.
func BenchmarkFanIn(b *testing.B) {
	const streams, batch = 100, 1000
	var sent atomic.Int64
	nodes := make([]string, streams)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("node-%03d", i)
	}
	per := max(1, b.N/(streams*batch))
	src := New(Config{
		Nodes: nodes, Probes: &fakeProbes{}, Enricher: simCluster(b),
		Connect: func(_ context.Context, node string) (Stream, error) {
			return newSimStream(node, batch, 0, per, &sent), nil
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	want := int64(streams * batch * per)
	var got int64
	b.ResetTimer()
	_ = src.Stream(ctx, func(bt *flow.Batch) error {
		got += int64(len(bt.Records))
		if got >= want {
			cancel()
		}
		return nil
	})
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(got), "ns/record")
	b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "records/s")
}
