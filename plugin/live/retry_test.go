package live

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/plugin/enrich"
	"github.com/kubectl-netflow/kubectl-netflow/probe/client"
)

// oneShot yields one batch of records at once, then waits.
type oneShot struct {
	recs []flow.Record
	done atomic.Bool
	stop chan struct{}
}

func (o *oneShot) Hello() client.Hello { return client.Hello{BootID: "b"} }
func (o *oneShot) Recv() (client.Event, error) {
	if !o.done.Swap(true) {
		return client.Event{Batch: &client.Batch{Seq: 1, Records: o.recs}}, nil
	}
	<-o.stop
	return client.Event{}, context.Canceled
}
func (o *oneShot) Close() error {
	select {
	case <-o.stop:
	default:
		close(o.stop)
	}
	return nil
}

// TestRetryNamesPodsThatJustStarted: a record of a container the caches do
// not know yet is named once the kubelet's report of it arrives.
func TestRetryNamesPodsThatJustStarted(t *testing.T) {
	pending := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "quick"},
		Spec:       corev1.PodSpec{NodeName: "a"},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	cs := fake.NewClientset(pending)
	e, err := enrich.New(enrich.Config{Client: cs})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		// The kubelet reports the container a moment after it started.
		time.Sleep(300 * time.Millisecond)
		p := pending.DeepCopy()
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.9",
			ContainerStatuses: []corev1.ContainerStatus{{Name: "c", ContainerID: "containerd://abc"}}}
		_, _ = cs.CoreV1().Pods("ns").UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
	}()
	src := New(Config{
		Nodes: []string{"a"}, Probes: &fakeProbes{}, Enricher: e, RetryDelay: time.Second,
		Connect: func(context.Context, string) (Stream, error) {
			return &oneShot{stop: make(chan struct{}), recs: []flow.Record{
				{ContainerID: "abc", Addr: "10.0.0.9", DstAddr: "1.1.1.1", NodeName: "a"},
				// The probe could not name the container of a process
				// that already exited: the address names the pod.
				{Addr: "10.0.0.9", DstAddr: "1.1.1.1", NodeName: "a"},
			}}, nil
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var got []flow.Record
	if err := src.Stream(ctx, func(b *flow.Batch) error { got = append(got, b.Records...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d records, want 2", len(got))
	}
	for _, r := range got {
		if r.PodName != "quick" || r.ContainerName != "c" || r.WorkloadKind != "Pod" {
			t.Errorf("not named: %+v", r)
		}
	}
}
