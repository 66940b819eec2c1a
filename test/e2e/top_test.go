//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

const (
	blobSize = 2_000_000
	// directGets and serviceGets are how often the clients download the blob.
	directGets  = 3
	serviceGets = 2
)

// TestTopWorkloads runs workloads in two namespaces that exchange a known
// number of bytes, directly and through a Service, across the lab's two
// nodes and zones, while `top -o json` collects; Ctrl-C then prints the
// result and leaves no probe pod.
func TestTopWorkloads(t *testing.T) {
	e := Setup(t)
	probeNS := e.Namespace(t, "probes")
	srv := e.Namespace(t, "srv")
	cli := e.Namespace(t, "cli")
	ctx := Context(t, 5*time.Minute)

	// The server: a Deployment on lab-b behind a Service.
	labels := map[string]string{"app": "sink"}
	spec := httpServerSpec(blobSize)
	spec.NodeSelector = map[string]string{ZoneLabel: NodeZones[NodeB]}
	if _, err := e.Client.AppsV1().Deployments(srv).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "sink"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := e.Client.CoreV1().Services(srv).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "sink"},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sinkIP := waitDeploymentPodIP(t, e, srv, "app=sink")
	retrans0 := retransSegs(t, sinkIP)

	top := e.startPlugin(t, "top", "-n", probeNS, "-o", "json",
		"--group-by", "ns,workload_name,workload_kind,dst_ns,dst_workload_name,dst_workload_kind")
	top.waitStderr(90*time.Second, NodeA+": streaming", NodeB+": streaming")

	// The clients, on lab-a: a bare pod that talks to the server pod's IP,
	// and a Job that talks to the Service's ClusterIP.
	direct := BusyboxPod("direct", NodeA, fmt.Sprintf("for i in $(seq %d); do wget -q -O /dev/null http://%s:8080/blob || exit 1; done", directGets, sinkIP))
	e.CreatePod(t, cli, direct)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "fetch"},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{Spec: BusyboxPod("fetch", NodeA,
				fmt.Sprintf("for i in $(seq %d); do wget -q -O /dev/null http://%s/blob || exit 1; done", serviceGets, svc.Spec.ClusterIP)).Spec},
		},
	}
	if _, err := e.Client.BatchV1().Jobs(cli).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.WaitPhase(t, cli, "direct", corev1.PodSucceeded, 2*time.Minute)
	waitJob(t, e, cli, "fetch")
	time.Sleep(3 * time.Second) // the last interval reaches the plugin
	// Segments the server sent again cross the wire again: the IP-layer
	// counts hold them, the payload sent does not.
	retrans := retransSegs(t, sinkIP) - retrans0
	t.Logf("FIGURE the server retransmitted %d TCP segments", retrans)

	if err := top.stop(syscall.SIGINT, 30*time.Second); err != nil {
		t.Fatalf("top after Ctrl-C: %v\n%s", err, top.stderr.String())
	}
	gs := parseGroups(t, top.stdout.String())
	t.Logf("stderr:\n%s", top.stderr.String())

	t.Run("pod to Deployment by pod IP, bytes within 1%", func(t *testing.T) {
		want := int64(directGets * blobSize)
		rows := find(gs, "ns", cli, "workload_name", "direct", "workload_kind", "Pod", "dst_ns", srv, "dst_workload_name", "sink", "dst_workload_kind", "Deployment")
		if len(rows) != 1 {
			t.Fatalf("client → server rows: %v\nall: %v", rows, gs)
		}
		t.Logf("FIGURE client received %d IP bytes in %d packets: ~%d payload bytes for %d sent",
			rows[0].num("rx_bytes"), rows[0].num("rx_packets"), payload(rows[0].num("rx_bytes"), rows[0].num("rx_packets")), want)
		if got := payload(rows[0].num("rx_bytes"), rows[0].num("rx_packets")); !withinWire(got, want, 0.01, retrans) {
			t.Errorf("client received ~%d payload bytes (rx_bytes %d), want %d ± 1%% (+ %d retransmitted segments)", got, rows[0].num("rx_bytes"), want, retrans)
		}
		back := find(gs, "ns", srv, "workload_name", "sink", "workload_kind", "Deployment", "dst_ns", cli, "dst_workload_name", "direct", "dst_workload_kind", "Pod")
		if len(back) != 1 {
			t.Fatalf("server → client rows: %v", back)
		}
		if got := payload(back[0].num("tx_bytes"), back[0].num("tx_packets")); !withinWire(got, want, 0.01, retrans) {
			t.Errorf("server sent ~%d payload bytes (tx_bytes %d), want %d ± 1%% (+ %d retransmitted segments)", got, back[0].num("tx_bytes"), want, retrans)
		}
	})
	t.Run("Job through a Service resolves to the backend Deployment", func(t *testing.T) {
		// The probe of lab-a, the Job's node, reads lab-a's connection
		// tracking, where kube-proxy translated the ClusterIP; on this
		// shared kernel the plugin keeps that probe's copy of the flow.
		want := int64(serviceGets * blobSize)
		rows := find(gs, "ns", cli, "workload_name", "fetch", "workload_kind", "Job")
		if len(rows) == 0 {
			t.Fatalf("no rows of the Job; all: %v", gs)
		}
		var total int64
		for _, r := range rows {
			if r.str("dst_workload_kind") == "service" {
				t.Errorf("the ClusterIP was not translated to its backend: %v", r)
			}
			if r.str("dst_ns") == srv && r.str("dst_workload_name") == "sink" && r.str("dst_workload_kind") == "Deployment" {
				total += payload(r.num("rx_bytes"), r.num("rx_packets"))
			}
		}
		if !withinWire(total, want, 0.01, retrans) {
			t.Errorf("Job received ~%d payload bytes from the Deployment %s/sink, want %d ± 1%% (+ %d retransmitted segments); rows %v", total, srv, want, retrans, rows)
		}
	})
	t.Run("Ctrl-C leaves no probe pod", func(t *testing.T) {
		if pods := e.probePods(t, probeNS); len(pods) != 0 {
			t.Errorf("%d probe pods left after Ctrl-C", len(pods))
		}
	})
}

func waitDeploymentPodIP(t *testing.T, e *Env, ns, selector string) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		l, err := e.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err == nil && len(l.Items) > 0 {
			p := e.WaitRunning(t, ns, l.Items[0].Name)
			return p.Status.PodIP
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("no pod %s in %s", selector, ns)
	return ""
}

func waitJob(t *testing.T, e *Env, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		j, err := e.Client.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && j.Status.Succeeded > 0 {
			return
		}
		if err == nil && j.Status.Failed > 0 {
			t.Fatalf("job %s/%s failed", ns, name)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("job %s/%s did not finish", ns, name)
}

// TestTopNodeSelection probes one node by name, then the nodes of a zone by
// label.
func TestTopNodeSelection(t *testing.T) {
	e := Setup(t)
	ns := e.Namespace(t, "probes")
	tests := []struct {
		name      string
		args      []string
		want, not string
	}{
		{"by name", []string{"--node", NodeA}, NodeA, NodeB},
		{"by label", []string{"-l", ZoneLabel + "=" + NodeZones[NodeB]}, NodeB, NodeA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"top", "-n", ns, "--duration", "12s", "-o", "json", "--group-by", "node_name"}, tt.args...)
			stdout, stderr, err := e.RunPlugin(Context(t, 2*time.Minute), t, args...)
			if err != nil {
				t.Fatalf("top: %v\n%s", err, stderr)
			}
			if !strings.Contains(stderr, tt.want+": streaming") || strings.Contains(stderr, tt.not+":") {
				t.Errorf("want a probe on %s only; stderr:\n%s", tt.want, stderr)
			}
			parseGroups(t, stdout)
			if pods := e.probePods(t, ns); len(pods) != 0 {
				t.Errorf("%d probe pods left", len(pods))
			}
		})
	}
}

// TestTopSharedKernel checks that the lab's nodes are seen to share a kernel.
func TestTopSharedKernel(t *testing.T) {
	e := Setup(t)
	ns := e.Namespace(t, "probes")
	stdout, stderr, err := e.RunPlugin(Context(t, 2*time.Minute), t, "flows", "-n", ns, "--duration", "15s")
	if err != nil {
		t.Fatalf("flows: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "share one kernel") {
		t.Errorf("no shared kernel note; stderr:\n%s", stderr)
	}
	_ = stdout
}

// TestTopSIGKILL kills the plugin: its probes exit on their own within the
// idle timeout, and cleanup removes the pods they leave.
func TestTopSIGKILL(t *testing.T) {
	e := Setup(t)
	ns := e.Namespace(t, "probes")
	top := e.startPlugin(t, "top", "-n", ns, "-o", "json", "--idle-timeout", "10s")
	top.waitStderr(90*time.Second, NodeA+": streaming", NodeB+": streaming")
	_ = top.stop(syscall.SIGKILL, 10*time.Second)
	if n := len(e.probePods(t, ns)); n != 2 {
		t.Fatalf("%d probe pods after SIGKILL, want the 2 left behind", n)
	}
	e.waitProbes(t, ns, 45*time.Second, "exited", func(pods []corev1.Pod) bool {
		for _, p := range pods {
			if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
				return false
			}
		}
		return true
	})
	stdout, stderr, err := e.RunPlugin(Context(t, time.Minute), t, "cleanup", "-n", ns)
	if err != nil || strings.Count(stdout, "deleted") != 2 {
		t.Fatalf("cleanup: %v\n%s%s", err, stdout, stderr)
	}
	e.waitProbes(t, ns, 30*time.Second, "gone", func(pods []corev1.Pod) bool { return len(pods) == 0 })
}

// TestTopRBAC runs the plugin as a ServiceAccount that may manage pods but
// not port-forward to them.
func TestTopRBAC(t *testing.T) {
	e := Setup(t)
	ns := e.Namespace(t, "rbac")
	ctx := Context(t, time.Minute)
	sa := "limited"
	if _, err := e.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "no-portforward"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create", "get", "list", "watch", "delete"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "no-portforward"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "no-portforward"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := e.RunPlugin(ctx, t, "top", "-n", ns, "--duration", "5s", "--as", "system:serviceaccount:"+ns+":"+sa)
	if err == nil {
		t.Fatal("top ran without pods/portforward")
	}
	for _, want := range []string{"RBAC", "create pods/portforward in namespace \"" + ns + "\"", "docs/rbac.yaml"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("error lacks %q:\n%s", want, stderr)
		}
	}
	if pods := e.probePods(t, ns); len(pods) != 0 {
		t.Errorf("%d probe pods created without permission to use them", len(pods))
	}
}

// TestTopPodSecurity runs the probes in a namespace that enforces the
// restricted Pod Security level.
func TestTopPodSecurity(t *testing.T) {
	e := Setup(t)
	ns := e.Namespace(t, "restricted")
	ctx := Context(t, time.Minute)
	n, err := e.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	if _, err := e.Client.CoreV1().Namespaces().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := e.RunPlugin(ctx, t, "top", "-n", ns, "--duration", "5s")
	if err == nil {
		t.Fatal("top ran in a restricted namespace")
	}
	for _, want := range []string{`namespace "` + ns + `"`, `"restricted"`, "pod-security.kubernetes.io/enforce=privileged", "--probe-namespace"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("error lacks %q:\n%s", want, stderr)
		}
	}
}

// TestTopTimeToFirstRows measures how long `kubectl netflow flows` takes
// from start to its first record, with the probe image on the nodes.
func TestTopTimeToFirstRows(t *testing.T) {
	e := Setup(t)
	ns := e.Namespace(t, "probes")
	fl := e.startPlugin(t, "flows", "-n", ns)
	deadline := time.Now().Add(60 * time.Second)
	for fl.stdout.String() == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no record after 60s; stderr:\n%s", fl.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	first := time.Since(fl.started)
	t.Logf("FIGURE time from start to the first record: %s", first.Round(10*time.Millisecond))
	if first > 5*time.Second {
		t.Errorf("first record after %s, want ≤ 5s", first)
	}
	if err := fl.stop(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Errorf("flows after SIGTERM: %v", err)
	}
	if pods := e.probePods(t, ns); len(pods) != 0 {
		t.Errorf("%d probe pods left after SIGTERM", len(pods))
	}
}
