package enrich

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	metafake "k8s.io/client-go/metadata/fake"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

func node(name, zone string, ips ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{ZoneLabel: zone}}}
	for _, ip := range ips {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	return n
}

func owner(apiVersion, kind, name string) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, Controller: &yes, UID: types.UID(name)}}
}

type podOpt func(*corev1.Pod)

func pod(ns, name, nodeName, ip string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "/" + name)},
		Spec:       corev1.PodSpec{NodeName: nodeName},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func ownedBy(apiVersion, kind, name string) podOpt {
	return func(p *corev1.Pod) { p.OwnerReferences = owner(apiVersion, kind, name) }
}

func container(name, id string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: name, ContainerID: "containerd://" + id})
	}
}

func labels(kv ...string) podOpt {
	return func(p *corev1.Pod) {
		p.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func phase(ph corev1.PodPhase, created time.Time) podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph; p.CreationTimestamp = metav1.NewTime(created) }
}

func hostNetwork(p *corev1.Pod) { p.Spec.HostNetwork = true }

func partial(apiVersion, kind, ns, name string, owners []metav1.OwnerReference) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owners},
	}
}

// metadataScheme knows replicasets and jobs as metadata-only objects.
func metadataScheme() *runtime.Scheme {
	s := metafake.NewTestScheme()
	for _, gvk := range []schema.GroupVersionKind{{Group: "apps", Version: "v1", Kind: "ReplicaSet"}, {Group: "batch", Version: "v1", Kind: "Job"}} {
		s.AddKnownTypeWithName(gvk, &metav1.PartialObjectMetadata{})
		s.AddKnownTypeWithName(gvk.GroupVersion().WithKind(gvk.Kind+"List"), &metav1.PartialObjectMetadataList{})
	}
	return s
}

// fixture is a small cluster: two nodes in two zones, one workload of each
// kind, a Service with a ClusterIP and the kubernetes Service whose endpoint
// is no pod.
func fixture(t *testing.T) *Enricher {
	t.Helper()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	objs := []runtime.Object{
		node("node-a", "zone-a", "10.244.0.1"),
		node("node-b", "zone-b", "10.244.1.1"),
		pod("shop", "web-7d9f-abcde", "node-a", "10.244.0.10", ownedBy("apps/v1", "ReplicaSet", "web-7d9f"), container("nginx", "aaa1"), labels("pod-template-hash", "7d9f")),
		pod("shop", "db-0", "node-b", "10.244.1.10", ownedBy("apps/v1", "StatefulSet", "db"), container("postgres", "bbb1")),
		pod("kube-system", "agent-xyz", "node-b", "10.244.1.11", ownedBy("apps/v1", "DaemonSet", "agent"), container("agent", "ccc1")),
		pod("batch", "report-28911-abc", "node-a", "10.244.0.12", ownedBy("batch/v1", "Job", "report-28911"), container("report", "ddd1")),
		pod("batch", "once-xyz", "node-a", "10.244.0.13", ownedBy("batch/v1", "Job", "once"), container("once", "eee1")),
		pod("shop", "legacy-abc", "node-a", "10.244.0.14", ownedBy("apps/v1", "ReplicaSet", "legacy"), container("legacy", "fff1")),
		pod("shop", "solo", "node-b", "10.244.1.15", container("solo", "ggg1")),
		pod("shop", "vm-1", "node-b", "10.244.1.16", ownedBy("kubevirt.io/v1", "VirtualMachineInstance", "vm"), container("compute", "hhh1")),
		pod("kube-system", "proxy-n", "node-b", "10.244.1.1", hostNetwork, ownedBy("apps/v1", "DaemonSet", "kube-proxy"), container("kube-proxy", "iii1")),
		pod("shop", "cache-old", "node-a", "10.244.0.20", phase(corev1.PodSucceeded, t0.Add(time.Hour)), container("c", "jjj1")),
		pod("shop", "cache-new", "node-a", "10.244.0.20", phase(corev1.PodRunning, t0), container("c", "kkk1")),
		pod("shop", "nors-abc", "node-a", "10.244.0.21", ownedBy("apps/v1", "ReplicaSet", "nors-5c6b"), labels("pod-template-hash", "5c6b"), container("n", "lll1")),
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
			Spec:       corev1.ServiceSpec{ClusterIP: "10.96.0.50", ClusterIPs: []string{"10.96.0.50", "fd00:96::50"}},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kubernetes"},
			Spec:       corev1.ServiceSpec{ClusterIP: "10.96.0.1"},
		},
		&discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "kubernetes", Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"192.168.5.2"}}},
		},
	}
	meta := metafake.NewSimpleMetadataClient(metadataScheme(),
		partial("apps/v1", "ReplicaSet", "shop", "web-7d9f", owner("apps/v1", "Deployment", "web")),
		partial("apps/v1", "ReplicaSet", "shop", "legacy", nil),
		partial("batch/v1", "Job", "batch", "report-28911", owner("batch/v1", "CronJob", "report")),
		partial("batch/v1", "Job", "batch", "once", nil),
	)
	e, err := New(Config{Client: fake.NewClientset(objs...), Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(func() { cancel(); e.Shutdown() })
	if err := e.Start(ctx, 0); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestSource(t *testing.T) {
	e := fixture(t)
	tests := []struct {
		name string
		in   flow.Record
		want flow.Record
	}{
		{
			name: "Deployment through its ReplicaSet",
			in:   flow.Record{ContainerID: "aaa1", NodeName: "node-b", Addr: "10.244.0.10"},
			want: flow.Record{ContainerName: "nginx", PodName: "web-7d9f-abcde", NS: "shop", WorkloadKind: "Deployment", WorkloadName: "web", NodeName: "node-a", Zone: "zone-a"},
		},
		{
			name: "StatefulSet",
			in:   flow.Record{ContainerID: "bbb1", NodeName: "node-b"},
			want: flow.Record{ContainerName: "postgres", PodName: "db-0", NS: "shop", WorkloadKind: "StatefulSet", WorkloadName: "db", NodeName: "node-b", Zone: "zone-b"},
		},
		{
			name: "DaemonSet",
			in:   flow.Record{ContainerID: "ccc1", NodeName: "node-b"},
			want: flow.Record{ContainerName: "agent", PodName: "agent-xyz", NS: "kube-system", WorkloadKind: "DaemonSet", WorkloadName: "agent", NodeName: "node-b", Zone: "zone-b"},
		},
		{
			name: "CronJob through its Job",
			in:   flow.Record{ContainerID: "ddd1", NodeName: "node-a"},
			want: flow.Record{ContainerName: "report", PodName: "report-28911-abc", NS: "batch", WorkloadKind: "CronJob", WorkloadName: "report", NodeName: "node-a", Zone: "zone-a"},
		},
		{
			name: "Job",
			in:   flow.Record{ContainerID: "eee1", NodeName: "node-a"},
			want: flow.Record{ContainerName: "once", PodName: "once-xyz", NS: "batch", WorkloadKind: "Job", WorkloadName: "once", NodeName: "node-a", Zone: "zone-a"},
		},
		{
			name: "bare ReplicaSet",
			in:   flow.Record{ContainerID: "fff1", NodeName: "node-a"},
			want: flow.Record{ContainerName: "legacy", PodName: "legacy-abc", NS: "shop", WorkloadKind: "ReplicaSet", WorkloadName: "legacy", NodeName: "node-a", Zone: "zone-a"},
		},
		{
			name: "bare Pod",
			in:   flow.Record{ContainerID: "ggg1", NodeName: "node-b"},
			want: flow.Record{ContainerName: "solo", PodName: "solo", NS: "shop", WorkloadKind: "Pod", WorkloadName: "solo", NodeName: "node-b", Zone: "zone-b"},
		},
		{
			name: "other owner by its own kind",
			in:   flow.Record{ContainerID: "hhh1", NodeName: "node-b"},
			want: flow.Record{ContainerName: "compute", PodName: "vm-1", NS: "shop", WorkloadKind: "VirtualMachineInstance", WorkloadName: "vm", NodeName: "node-b", Zone: "zone-b"},
		},
		{
			name: "hostNetwork pod by its container",
			in:   flow.Record{ContainerID: "iii1", NodeName: "node-a", Addr: "10.244.1.1"},
			want: flow.Record{ContainerName: "kube-proxy", PodName: "proxy-n", NS: "kube-system", WorkloadKind: "DaemonSet", WorkloadName: "kube-proxy", NodeName: "node-b", Zone: "zone-b"},
		},
		{
			name: "ReplicaSet not in the cache: Deployment from pod-template-hash",
			in:   flow.Record{ContainerID: "lll1", NodeName: "node-a"},
			want: flow.Record{ContainerName: "n", PodName: "nors-abc", NS: "shop", WorkloadKind: "Deployment", WorkloadName: "nors", NodeName: "node-a", Zone: "zone-a"},
		},
		{
			name: "host process on the probe's node",
			in:   flow.Record{NodeName: "node-a", Addr: "127.0.0.1"},
			want: flow.Record{WorkloadKind: "node", WorkloadName: "node-a", NodeName: "node-a", Zone: "zone-a"},
		},
		{
			name: "host process of another node sharing the kernel, by its address",
			in:   flow.Record{NodeName: "node-a", Addr: "10.244.1.1"},
			want: flow.Record{WorkloadKind: "node", WorkloadName: "node-b", NodeName: "node-b", Zone: "zone-b"},
		},
		{
			name: "no container id, local address of a pod: that pod",
			in:   flow.Record{NodeName: "node-a", Addr: "10.244.1.10"},
			want: flow.Record{ContainerName: "postgres", PodName: "db-0", NS: "shop", WorkloadKind: "StatefulSet", WorkloadName: "db", NodeName: "node-b", Zone: "zone-b"},
		},
		{
			name: "container not known yet, local address of a pod: that pod and its only container",
			in:   flow.Record{ContainerID: "new1", NodeName: "node-a", Addr: "10.244.1.10"},
			want: flow.Record{ContainerName: "postgres", PodName: "db-0", NS: "shop", WorkloadKind: "StatefulSet", WorkloadName: "db", NodeName: "node-b", Zone: "zone-b"},
		},
		{
			name: "unknown container keeps the probe's node",
			in:   flow.Record{ContainerID: "zzz9", NodeName: "node-a"},
			want: flow.Record{NodeName: "node-a", Zone: "zone-a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.in
			e.source(&r)
			got := flow.Record{ContainerName: r.ContainerName, PodName: r.PodName, NS: r.NS, WorkloadKind: r.WorkloadKind, WorkloadName: r.WorkloadName, NodeName: r.NodeName, Zone: r.Zone}
			if got != tt.want {
				t.Errorf("source(%+v)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestSharedKernelHostProcess(t *testing.T) {
	e := fixture(t)
	e.SetSharedKernel(true)
	r := flow.Record{NodeName: "node-a", Addr: "127.0.0.1"}
	e.source(&r)
	if r.NodeName != "" || r.WorkloadKind != "node" || r.WorkloadName != "" {
		t.Errorf("host process on a shared kernel: %+v", r)
	}
	r = flow.Record{NodeName: "node-a", Addr: "10.244.1.1"}
	e.source(&r)
	if r.NodeName != "node-b" || r.WorkloadName != "node-b" {
		t.Errorf("host process with node-b's address: %+v", r)
	}
}

func TestDestination(t *testing.T) {
	e := fixture(t)
	type dst struct{ pod, ns, kind, name, node, zone string }
	tests := []struct {
		name string
		in   flow.Record
		want dst
	}{
		{"pod IP", flow.Record{DstAddr: "10.244.1.10"}, dst{"db-0", "shop", "StatefulSet", "db", "node-b", "zone-b"}},
		{"pod IP, v4-mapped", flow.Record{DstAddr: "::ffff:10.244.1.10"}, dst{"db-0", "shop", "StatefulSet", "db", "node-b", "zone-b"}},
		{"ClusterIP translated: the backend pod", flow.Record{DstAddr: "10.244.0.10", DstSvcAddr: "10.96.0.50"}, dst{"web-7d9f-abcde", "shop", "Deployment", "web", "node-a", "zone-a"}},
		{"ClusterIP not translated: the Service", flow.Record{DstAddr: "10.96.0.50"}, dst{"", "shop", "service", "web", "", ""}},
		{"ClusterIP, IPv6 family", flow.Record{DstAddr: "fd00:96::50"}, dst{"", "shop", "service", "web", "", ""}},
		{"endpoint that is no pod: its Service", flow.Record{DstAddr: "192.168.5.2"}, dst{"", "default", "service", "kubernetes", "", ""}},
		{"node IP", flow.Record{DstAddr: "10.244.1.1"}, dst{"", "", "node", "node-b", "node-b", "zone-b"}},
		{"running pod wins over a finished one with the same IP", flow.Record{DstAddr: "10.244.0.20"}, dst{"cache-new", "shop", "Pod", "cache-new", "node-a", "zone-a"}},
		{"RFC 1918", flow.Record{DstAddr: "172.16.3.4"}, dst{"", "", "private", "", "", ""}},
		{"CGNAT", flow.Record{DstAddr: "100.100.1.1"}, dst{"", "", "private", "", "", ""}},
		{"ULA", flow.Record{DstAddr: "fd12::1"}, dst{"", "", "private", "", "", ""}},
		{"loopback", flow.Record{DstAddr: "127.0.0.1"}, dst{"", "", "private", "", "", ""}},
		{"link-local", flow.Record{DstAddr: "169.254.169.254"}, dst{"", "", "private", "", "", ""}},
		{"IPv6 link-local", flow.Record{DstAddr: "fe80::1"}, dst{"", "", "private", "", "", ""}},
		{"public IPv4", flow.Record{DstAddr: "203.0.113.7"}, dst{"", "", "internet", "", "", ""}},
		{"public IPv6", flow.Record{DstAddr: "2001:db8::1"}, dst{"", "", "internet", "", "", ""}},
		{"just outside CGNAT", flow.Record{DstAddr: "100.128.0.1"}, dst{"", "", "internet", "", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.in
			e.destination(&r)
			got := dst{r.DstPodName, r.DstNS, r.DstWorkloadKind, r.DstWorkloadName, r.DstNodeName, r.DstZone}
			if got != tt.want {
				t.Errorf("destination(%s)\n got %+v\nwant %+v", tt.in.DstAddr, got, tt.want)
			}
		})
	}
}

// TestNodeInterfaceAddrs checks the addresses probes report for their
// nodes' interfaces: a bridge address names its node, an address several
// nodes share names the node of the record's source, and Services and pods
// still come first.
func TestNodeInterfaceAddrs(t *testing.T) {
	e := fixture(t)
	e.SetNodeAddrs("node-a", []string{"10.244.0.1", "172.17.0.1", "10.96.0.50"})
	e.SetNodeAddrs("node-b", []string{"10.244.1.1", "172.17.0.1", "::ffff:10.244.1.254"})
	type dst struct{ kind, name, node, zone string }
	tests := []struct {
		name string
		in   flow.Record
		want dst
	}{
		{"bridge address of node-a", flow.Record{NodeName: "node-b", DstAddr: "10.244.0.1"}, dst{"node", "node-a", "node-a", "zone-a"}},
		{"v4-mapped report", flow.Record{DstAddr: "10.244.1.254"}, dst{"node", "node-b", "node-b", "zone-b"}},
		{"shared docker0 address, seen from node-b", flow.Record{NodeName: "node-b", DstAddr: "172.17.0.1"}, dst{"node", "node-b", "node-b", "zone-b"}},
		{"shared address, seen from elsewhere", flow.Record{NodeName: "node-c", DstAddr: "172.17.0.1"}, dst{"private", "", "", ""}},
		{"a Service address on an interface (IPVS) stays the Service", flow.Record{NodeName: "node-a", DstAddr: "10.96.0.50"}, dst{"service", "web", "", ""}},
		{"unknown private address", flow.Record{NodeName: "node-a", DstAddr: "10.244.0.99"}, dst{"private", "", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.in
			e.destination(&r)
			got := dst{r.DstWorkloadKind, r.DstWorkloadName, r.DstNodeName, r.DstZone}
			if got != tt.want {
				t.Errorf("destination(%s from %q)\n got %+v\nwant %+v", tt.in.DstAddr, tt.in.NodeName, got, tt.want)
			}
		})
	}
}

func TestWithoutMetadataOrServices(t *testing.T) {
	objs := []runtime.Object{
		node("node-a", "", "10.0.0.1"),
		pod("ns", "web-7d9f-x", "node-a", "10.1.0.5", ownedBy("apps/v1", "ReplicaSet", "web-7d9f"), labels("pod-template-hash", "7d9f"), container("c", "abc")),
		pod("ns", "job-x", "node-a", "10.1.0.6", ownedBy("batch/v1", "Job", "job"), container("c", "def")),
	}
	e, err := New(Config{Client: fake.NewClientset(objs...), Resources: []Resource{Pods, Nodes}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer func() { cancel(); e.Shutdown() }()
	if err := e.Start(ctx, 0); err != nil {
		t.Fatal(err)
	}
	r := flow.Record{ContainerID: "abc", DstAddr: "10.96.0.10"}
	e.Enrich(&r)
	if r.WorkloadKind != "Deployment" || r.WorkloadName != "web" || r.DstWorkloadKind != "private" {
		t.Errorf("got %s/%s -> %s", r.WorkloadKind, r.WorkloadName, r.DstWorkloadKind)
	}
	r = flow.Record{ContainerID: "def"}
	e.Enrich(&r)
	if r.WorkloadKind != "Job" || r.WorkloadName != "job" {
		t.Errorf("got %s/%s", r.WorkloadKind, r.WorkloadName)
	}
}
