package probes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-netflow/kubectl-netflow/probe"
)

func TestPodSpec(t *testing.T) {
	p := Pod(Config{Namespace: "netflow", Session: "abc123", MaxDuration: 30 * time.Minute, IdleTimeout: 45 * time.Second, ImagePullSecrets: []string{"regcred"},
		Port: 24567, Token: "f00d"}, "worker-1")
	c := p.Spec.Containers[0]
	checks := []struct {
		name string
		ok   bool
	}{
		{"pinned to the node", p.Spec.NodeName == "worker-1"},
		{"in the namespace", p.Namespace == "netflow"},
		{"no hostPID: the eBPF programs see every process anyway", !p.Spec.HostPID},
		{"hostNetwork: connection tracking is the node's", p.Spec.HostNetwork},
		{"no container port: it would be a hostPort", len(c.Ports) == 0},
		{"no service account token", p.Spec.AutomountServiceAccountToken != nil && !*p.Spec.AutomountServiceAccountToken},
		{"never restarted", p.Spec.RestartPolicy == corev1.RestartPolicyNever},
		{"deadline from --max-duration", p.Spec.ActiveDeadlineSeconds != nil && *p.Spec.ActiveDeadlineSeconds == 1801},
		{"tolerates every taint", len(p.Spec.Tolerations) == 1 && p.Spec.Tolerations[0].Operator == corev1.TolerationOpExists && p.Spec.Tolerations[0].Key == ""},
		{"labelled for cleanup", p.Labels[NameLabel] == NameValue && p.Labels[SessionLabel] == "abc123"},
		{"not privileged", c.SecurityContext.Privileged == nil},
		{"read-only root", *c.SecurityContext.ReadOnlyRootFilesystem},
		{"drops all capabilities", len(c.SecurityContext.Capabilities.Drop) == 1 && c.SecurityContext.Capabilities.Drop[0] == "ALL"},
		{"adds BPF, PERFMON, NET_ADMIN only", len(c.SecurityContext.Capabilities.Add) == 3 && contains(c.SecurityContext.Capabilities.Add, "BPF") &&
			contains(c.SecurityContext.Capabilities.Add, "PERFMON") && contains(c.SecurityContext.Capabilities.Add, "NET_ADMIN")},
		{"limits", !c.Resources.Limits.Memory().IsZero() && !c.Resources.Limits.Cpu().IsZero()},
		{"requests", !c.Resources.Requests.Memory().IsZero()},
		{"idle timeout passed on", containsStr(c.Args, "--idle-timeout=45s")},
		{"max lifetime passed on", containsStr(c.Args, "--max-lifetime=30m0s")},
		{"listens on loopback, on the session's port", containsStr(c.Args, "--listen=127.0.0.1:24567")},
		{"NODE_NAME from the downward API", c.Env[0].Name == "NODE_NAME" && c.Env[0].ValueFrom.FieldRef.FieldPath == "spec.nodeName"},
		{"token in the environment", len(c.Env) == 2 && c.Env[1].Name == "NETFLOW_TOKEN" && c.Env[1].Value == "f00d"},
		{"token not in the arguments", !strings.Contains(strings.Join(c.Args, " "), "f00d")},
		{"termination message falls back to logs", c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError},
		{"pull secret", len(p.Spec.ImagePullSecrets) == 1 && p.Spec.ImagePullSecrets[0].Name == "regcred"},
		{"default image", strings.HasPrefix(c.Image, "ghcr.io/kubectl-netflow/netflow-probe:")},
		{"the probe's default receive hook", !strings.Contains(strings.Join(c.Args, " "), "--receive-hook")},
	}
	for _, ck := range checks {
		if !ck.ok {
			t.Errorf("probe pod: %s: not so", ck.name)
		}
	}
	priv := Pod(Config{Privileged: true, Image: "example.com/probe:1"}, "n")
	if sc := priv.Spec.Containers[0].SecurityContext; sc.Privileged == nil || !*sc.Privileged || sc.Capabilities != nil {
		t.Errorf("--privileged: got %+v", sc)
	}
	if got := priv.Spec.Containers[0].Image; got != "example.com/probe:1" {
		t.Errorf("--image: got %s", got)
	}
	for _, m := range []probe.ReceiveHook{probe.ReceiveHookAlways, probe.ReceiveHookOff} {
		if args := Pod(Config{ReceiveHook: m}, "n").Spec.Containers[0].Args; !containsStr(args, "--receive-hook="+string(m)) {
			t.Errorf("--receive-hook=%s: not passed on: %q", m, args)
		}
	}
}

func contains(cs []corev1.Capability, c corev1.Capability) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestSessionPortAndToken(t *testing.T) {
	m1 := NewManager(fake.NewClientset(), Config{})
	m2 := NewManager(fake.NewClientset(), Config{})
	c1, c2 := m1.Config(), m2.Config()
	for _, c := range []Config{c1, c2} {
		if c.Port < MinPort || c.Port > MaxPort {
			t.Errorf("port %d outside %d-%d", c.Port, MinPort, MaxPort)
		}
		if len(c.Token) != 64 || strings.Trim(c.Token, "0123456789abcdef") != "" {
			t.Errorf("token %q, want 32 bytes in hex", c.Token)
		}
	}
	if c1.Token == c2.Token {
		t.Error("two sessions got the same token")
	}
	// Every pod of a session listens on the session's port and knows its
	// token.
	for _, node := range []string{"a", "b"} {
		c := Pod(c1, node).Spec.Containers[0]
		if !containsStr(c.Args, fmt.Sprintf("--listen=127.0.0.1:%d", c1.Port)) || c.Env[1].Value != c1.Token {
			t.Errorf("pod on %s: args %v, env %v", node, c.Args, c.Env)
		}
	}
	if c := NewManager(fake.NewClientset(), Config{Port: 7459}).Config(); c.Port != 7459 {
		t.Errorf("port override ignored: %d", c.Port)
	}
}

func TestPodName(t *testing.T) {
	if got := PodName("abc", "ip-10-0-1-2.eu-west-1.compute.internal"); got != "netflow-probe-abc-ip-10-0-1-2-eu-west-1-compute-internal" {
		t.Errorf("got %q", got)
	}
}

func testNode(name string, labels map[string]string, ready corev1.ConditionStatus) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}},
	}
}

func TestSelectNodes(t *testing.T) {
	client := fake.NewClientset(
		testNode("a", map[string]string{corev1.LabelOSStable: "linux", corev1.LabelTopologyZone: "z1"}, corev1.ConditionTrue),
		testNode("b", map[string]string{corev1.LabelOSStable: "linux", corev1.LabelTopologyZone: "z2"}, corev1.ConditionTrue),
		testNode("c", map[string]string{corev1.LabelOSStable: "linux", corev1.LabelTopologyZone: "z2"}, corev1.ConditionFalse),
		testNode("win", map[string]string{corev1.LabelOSStable: "windows"}, corev1.ConditionTrue),
	)
	tests := []struct {
		name    string
		sel     Selection
		want    string
		wantErr string
	}{
		{"all Linux nodes", Selection{}, "a b c(NotReady)", ""},
		{"by name", Selection{Names: []string{"b", "a", "b"}}, "b a", ""},
		{"unknown name", Selection{Names: []string{"bb"}}, "", `no node is named "bb"`},
		{"by label", Selection{LabelSelector: corev1.LabelTopologyZone + "=z2"}, "b c(NotReady)", ""},
		{"label matches nothing", Selection{LabelSelector: "x=y"}, "", "no Linux node matches"},
		{"over the cap", Selection{MaxNodes: 2}, "", "raise the cap with --max-nodes=3"},
		{"a named Windows node", Selection{Names: []string{"win"}}, "win(NotReady)", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes, err := SelectNodes(context.Background(), client, tt.sel)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range nodes {
				s := n.Name
				if n.NotReady != "" {
					s += "(NotReady)"
				}
				got = append(got, s)
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("got %q, want %q", strings.Join(got, " "), tt.want)
			}
		})
	}
}

// denyAccess makes SelfSubjectAccessReviews deny the listed "verb resource[/sub]".
func denyAccess(client *fake.Clientset, denied ...string) {
	client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		attr := r.Spec.ResourceAttributes
		key := attr.Verb + " " + attr.Resource
		if attr.Subresource != "" {
			key += "/" + attr.Subresource
		}
		r.Status.Allowed = !containsStr(denied, key)
		return true, r, nil
	})
}

func TestPreflight(t *testing.T) {
	client := fake.NewClientset()
	denyAccess(client)
	if err := Preflight(context.Background(), client, "ns"); err != nil {
		t.Fatalf("all allowed: %v", err)
	}
	client = fake.NewClientset()
	denyAccess(client, "create pods/portforward")
	err := Preflight(context.Background(), client, "team-a")
	var fe *ForbiddenError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a ForbiddenError", err)
	}
	for _, want := range []string{`create pods/portforward in namespace "team-a"`, "docs/rbac.yaml", "kubectl auth can-i create pods/portforward -n team-a"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
}

func TestExplainPodSecurity(t *testing.T) {
	apiErr := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "netflow-probe-x",
		errors.New(`violates PodSecurity "restricted:latest": host namespaces (hostPID=true), unrestricted capabilities`))
	err := Explain(apiErr, "create", "", "pods", "locked")
	var pe *PodSecurityError
	if !errors.As(err, &pe) || pe.Level != "restricted" {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{`namespace "locked"`, "kubectl label namespace locked pod-security.kubernetes.io/enforce=privileged", "--probe-namespace"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	rbac := Explain(apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "x", errors.New("RBAC")), "create", "", "pods", "ns")
	var fe *ForbiddenError
	if !errors.As(rbac, &fe) || fe.Missing[0].Verb != "create" {
		t.Fatalf("got %v", rbac)
	}
}

// kubelet plays the kubelet: it moves each new pod to the state fn gives
// for its node.
func kubelet(t *testing.T, client *fake.Clientset, fn func(node string, p *corev1.Pod)) {
	w, err := client.CoreV1().Pods("").Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type != "ADDED" {
				continue
			}
			p = p.DeepCopy()
			fn(p.Spec.NodeName, p)
			_, _ = client.CoreV1().Pods(p.Namespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
		}
	}()
}

func waiting(reason, msg string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: ContainerName, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}
}

func TestStart(t *testing.T) {
	client := fake.NewClientset()
	kubelet(t, client, func(node string, p *corev1.Pod) {
		switch node {
		case "ok":
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: ContainerName, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		case "pull":
			p.Status.ContainerStatuses = []corev1.ContainerStatus{waiting("ErrImagePull", "not found")}
		case "kernel":
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: ContainerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 1, Reason: "Error", Message: "error: the kernel has no BTF (/sys/kernel/btf/vmlinux missing): the probe needs CONFIG_DEBUG_INFO_BTF",
			}}}}
		case "port":
			// No termination message: the kubelet falls back to the
			// log's tail.
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: ContainerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 1, Reason: "Error", Message: "time=2025-01-01T00:00:00Z level=INFO msg=starting\n" +
					"error: 127.0.0.1:24567 is in use on this node (another program, or the probe of another kubectl netflow session, listens there): " +
					"run kubectl netflow again, it picks another port: listen tcp 127.0.0.1:24567: bind: address already in use\n",
			}}}}
		case "full":
			p.Status.Phase = corev1.PodFailed
			p.Status.Reason = "OutOfcpu"
			p.Status.Message = "Node didn't have enough resource: cpu"
		}
	})
	m := NewManager(client, Config{Namespace: "ns", Session: "s1"})
	var mu sync.Mutex
	var lines []string
	running, failed, err := m.Start(context.Background(), []string{"ok", "pull", "kernel", "port", "full", "silent"}, 2*time.Second, func(node, msg string) {
		mu.Lock()
		lines = append(lines, node+": "+msg)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(running) != 1 || running[0] != "ok" {
		t.Errorf("running = %v", running)
	}
	wants := map[string]string{
		"pull":   "ErrImagePull: cannot pull the probe image",
		"kernel": "the kernel has no BTF",
		"port":   "the probe exited (code 1, Error): 127.0.0.1:24567 is in use on this node",
		"full":   "OutOfcpu",
		"silent": "did not start within 2s",
	}
	for node, want := range wants {
		if err := failed[node]; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", node, err, want)
		}
	}
	// Failed pods are deleted right away; the running one on Delete.
	pods, _ := client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	if len(pods.Items) != 1 {
		t.Errorf("%d pods left after start, want the running one", len(pods.Items))
	}
	if err := m.Delete(time.Second); err != nil {
		t.Fatal(err)
	}
	pods, _ = client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	if len(pods.Items) != 0 {
		t.Errorf("%d pods left after Delete", len(pods.Items))
	}
	if len(lines) == 0 {
		t.Error("no progress reported")
	}
}

func TestStartPodSecurityFailsFast(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "p",
			errors.New(`violates PodSecurity "baseline:latest": host namespaces (hostPID=true)`))
	})
	m := NewManager(client, Config{Namespace: "locked"})
	_, _, err := m.Start(context.Background(), []string{"a", "b"}, time.Minute, nil)
	var pe *PodSecurityError
	if !errors.As(err, &pe) || pe.Namespace != "locked" || pe.Level != "baseline" {
		t.Fatalf("err = %v", err)
	}
}

func TestCleanup(t *testing.T) {
	mk := func(ns, name string, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}}
	}
	probe := map[string]string{NameLabel: NameValue, SessionLabel: "x"}
	client := fake.NewClientset(
		mk("a", "netflow-probe-x-n1", probe),
		mk("b", "netflow-probe-y-n1", probe),
		mk("a", "web", map[string]string{"app": "web"}),
	)
	left, err := Cleanup(context.Background(), client, "a")
	if err != nil || len(left) != 1 || left[0].Name != "netflow-probe-x-n1" {
		t.Fatalf("namespace a: %v %+v", err, left)
	}
	left, err = Cleanup(context.Background(), client, "")
	if err != nil || len(left) != 1 || left[0].Namespace != "b" {
		t.Fatalf("all namespaces: %v %+v", err, left)
	}
	if _, err := client.CoreV1().Pods("a").Get(context.Background(), "web", metav1.GetOptions{}); err != nil {
		t.Errorf("cleanup deleted another pod: %v", err)
	}
}
