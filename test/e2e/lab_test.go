//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

func TestNodesReadyWithZones(t *testing.T) {
	e := Setup(t)
	nodes, err := e.Client.CoreV1().Nodes().List(Context(t, 10*time.Second), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing nodes: %v", err)
	}
	seen := map[string]bool{}
	for _, n := range nodes.Items {
		seen[n.Name] = true
		want, ok := NodeZones[n.Name]
		if !ok {
			t.Errorf("unexpected node %s", n.Name)
			continue
		}
		if got := n.Labels[ZoneLabel]; got != want {
			t.Errorf("node %s: zone %q, want %q", n.Name, got, want)
		}
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				ready = c.Status == corev1.ConditionTrue
			}
		}
		if !ready {
			t.Errorf("node %s is not Ready", n.Name)
		}
	}
	for name := range NodeZones {
		if !seen[name] {
			t.Errorf("node %s is missing", name)
		}
	}
}

func TestPrivilegedHostPIDPod(t *testing.T) {
	t.Parallel()
	e := Setup(t)
	ns := e.Namespace(t, "hostpid")
	for _, node := range []string{NodeA, NodeB} {
		t.Run(node, func(t *testing.T) {
			t.Parallel()
			// A hostPID pod sees the machine's processes, a plain pod only its own.
			pod := BusyboxPod("hostpid-"+node, node, `echo "pids=$(ls -d /proc/[0-9]* 2>/dev/null | wc -l)"; sleep 3600`)
			privileged := true
			pod.Spec.HostPID = true
			pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &privileged}
			e.CreatePod(t, ns, pod)
			e.WaitRunning(t, ns, pod.Name)
			logs := e.WaitLogs(t, ns, pod.Name, "pids=", 20*time.Second)
			var n int
			_, count, _ := strings.Cut(logs, "pids=")
			if _, err := fmt.Sscanf(count, "%d", &n); err != nil {
				t.Fatalf("parsing %q: %v", logs, err)
			}
			if n < 10 {
				t.Errorf("hostPID pod sees %d processes; want the machine's (>= 10)", n)
			}
		})
	}
}

func TestLogs(t *testing.T) {
	t.Parallel()
	e := Setup(t)
	ns := e.Namespace(t, "logs")
	token := "token-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	pod := BusyboxPod("logger", NodeB, "echo "+token+"; sleep 3600")
	e.CreatePod(t, ns, pod)
	e.WaitRunning(t, ns, pod.Name)
	e.WaitLogs(t, ns, pod.Name, token, 20*time.Second)
}

func TestPortForward(t *testing.T) {
	t.Parallel()
	e := Setup(t)
	ns := e.Namespace(t, "portforward")
	token := "served-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	pod := BusyboxPod("web", NodeA, "mkdir -p /www && echo "+token+" >/www/index.html && exec httpd -f -p 8080 -h /www")
	pod.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
		PeriodSeconds: 1,
	}
	e.CreatePod(t, ns, pod)
	e.WaitRunning(t, ns, pod.Name)

	transport, upgrader, err := spdy.RoundTripperFor(e.Config)
	if err != nil {
		t.Fatalf("spdy round tripper: %v", err)
	}
	u, err := url.Parse(e.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod.Name).SubResource("portforward").URL().String())
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("port-forward: %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	defer close(stop)
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("port-forward ended: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("port-forward not ready after 20s")
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("forwarded ports: %v %v", ports, err)
	}
	body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local))
	if strings.TrimSpace(body) != token {
		t.Errorf("got %q through port-forward, want %q", body, token)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	return string(b)
}

func TestPodDeletion(t *testing.T) {
	t.Parallel()
	e := Setup(t)
	ns := e.Namespace(t, "delete")
	pod := BusyboxPod("doomed", NodeB, "sleep 3600")
	e.CreatePod(t, ns, pod)
	e.WaitRunning(t, ns, pod.Name)
	if err := e.Client.CoreV1().Pods(ns).Delete(context.Background(), pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting pod: %v", err)
	}
	e.WaitGone(t, ns, pod.Name, 30*time.Second)
}

func TestActiveDeadlineSeconds(t *testing.T) {
	t.Parallel()
	e := Setup(t)
	ns := e.Namespace(t, "deadline")
	pod := BusyboxPod("deadline", NodeA, "sleep 3600")
	deadline := int64(3)
	pod.Spec.ActiveDeadlineSeconds = &deadline
	e.CreatePod(t, ns, pod)
	p := e.WaitPhase(t, ns, pod.Name, corev1.PodFailed, 60*time.Second)
	if p.Status.Reason != "DeadlineExceeded" {
		t.Errorf("pod failed with reason %q, want DeadlineExceeded", p.Status.Reason)
	}
}

// TestServiceAcrossZonesByName checks kube-proxy and CoreDNS together: a client
// in zone-a reaches a server in zone-b through its Service's DNS name.
func TestServiceAcrossZonesByName(t *testing.T) {
	t.Parallel()
	e := Setup(t)
	ns := e.Namespace(t, "service")
	token := "svc-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	server := BusyboxPod("server", NodeB, "mkdir -p /www && echo "+token+" >/www/index.html && exec httpd -f -p 8080 -h /www")
	server.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
		PeriodSeconds: 1,
	}
	e.CreatePod(t, ns, server)
	_, err := e.Client.CoreV1().Services(ns).Create(context.Background(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "server"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating service: %v", err)
	}
	e.WaitRunning(t, ns, server.Name)
	script := fmt.Sprintf(`for i in $(seq 30); do timeout 3 wget -q -O - http://web.%s.svc.cluster.local/ && exit 0; sleep 1; done; exit 1`, ns)
	client := BusyboxPod("client", NodeA, script)
	e.CreatePod(t, ns, client)
	e.WaitPhase(t, ns, client.Name, corev1.PodSucceeded, 60*time.Second)
	if logs := e.Logs(t, ns, client.Name); !strings.Contains(logs, token) {
		t.Errorf("client got %q, want %q", logs, token)
	}
}

// TestInternetLikeEgress checks that pods reach the internet-like server by
// address and by the name the cluster DNS serves for it.
func TestInternetLikeEgress(t *testing.T) {
	t.Parallel()
	e := Setup(t)
	ns := e.Namespace(t, "egress")
	for _, target := range []string{InternetIP, InternetName} {
		name := "egress-" + strings.ReplaceAll(target, ".", "-")
		pod := BusyboxPod(name, NodeB, "timeout 10 wget -q -O - http://"+target+"/")
		e.CreatePod(t, ns, pod)
		e.WaitPhase(t, ns, name, corev1.PodSucceeded, 60*time.Second)
		if logs := e.Logs(t, ns, name); !strings.Contains(logs, InternetIP) {
			t.Errorf("GET http://%s/ returned %q", target, logs)
		}
	}
}
