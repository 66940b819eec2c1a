//go:build e2e

// Package e2e holds the end-to-end tests that run against the lab cluster that
// `make lab-up` starts (see lab/README.md). `make e2e` runs them; without a lab
// they skip. The helpers here are shared by every e2e test.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Facts about the lab cluster that tests rely on; lab/scripts/common.sh sets them.
const (
	// NodeA and NodeB are the lab's two nodes, each with its own kubelet.
	NodeA = "lab-a"
	NodeB = "lab-b"
	// ZoneLabel is the node label that carries each node's zone.
	ZoneLabel = "topology.kubernetes.io/zone"
	// BusyboxImage is the lab's traffic image; pods use it with PullNever.
	BusyboxImage = "netflow-lab/busybox:latest"
	// InternetIP is the internet-like HTTP server, outside every private range.
	InternetIP = "203.0.113.10"
	// InternetName resolves to InternetIP through the lab's cluster DNS.
	InternetName = "downloads.example.com"
)

// NodeZones maps each lab node to its zone.
var NodeZones = map[string]string{NodeA: "zone-a", NodeB: "zone-b"}

// KubeconfigPath returns the lab's admin kubeconfig: $NETFLOW_LAB_KUBECONFIG, or
// the file lab-up writes into its state folder.
func KubeconfigPath() string {
	if p := os.Getenv("NETFLOW_LAB_KUBECONFIG"); p != "" {
		return p
	}
	state := os.Getenv("NETFLOW_LAB_STATE")
	if state == "" {
		state = "/var/lib/netflow-lab"
	}
	return filepath.Join(state, "kubeconfig")
}

// Env is a connection to the lab cluster.
type Env struct {
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
}

// Setup connects to the lab, or skips the test with the reason when no lab is up.
func Setup(t testing.TB) *Env {
	t.Helper()
	path := KubeconfigPath()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no lab cluster: %v (start one with `make lab-up`, or set NETFLOW_LAB_KUBECONFIG)", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("loading lab kubeconfig %s: %v", path, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("creating clientset: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		t.Skipf("no lab cluster: API server of %s not ready: %v (start one with `make lab-up`)", path, err)
	}
	return &Env{Kubeconfig: path, Config: cfg, Client: client}
}

// Context returns a context that ends with the test or after d.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Namespace creates a namespace for the test, deleted when the test ends.
func (e *Env) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	ns, err := e.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-" + prefix + "-", Labels: map[string]string{"netflow-lab/e2e": "true"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	// The controller-manager creates the default ServiceAccount a moment later;
	// pods are rejected until it is there.
	ctx := Context(t, 30*time.Second)
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := e.Client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("waiting for the default ServiceAccount of %s: %v", ns.Name, err)
	}
	t.Cleanup(func() {
		_ = e.Client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

// BusyboxPod returns a pod running the lab's busybox image with command
// `sh -c script`, pinned to node (when not empty), never restarted.
func BusyboxPod(name, node, script string) *corev1.Pod {
	grace := int64(1)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name:            "main",
				Image:           BusyboxImage,
				ImagePullPolicy: corev1.PullNever,
				Command:         []string{"sh", "-c", script},
			}},
		},
	}
}

// CreatePod creates pod in ns and fails the test on error.
func (e *Env) CreatePod(t testing.TB, ns string, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	p, err := e.Client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", ns, pod.Name, err)
	}
	return p
}

// WaitForPod polls the pod until cond holds, failing the test after timeout.
func (e *Env) WaitForPod(t testing.TB, ns, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	ctx := Context(t, timeout)
	var last *corev1.Pod
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		p, err := e.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		return cond(p), nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s: not %s after %s; last status: %s", ns, name, what, timeout, describe(last))
	}
	return last
}

// WaitRunning waits until the pod is Running and ready.
func (e *Env) WaitRunning(t testing.TB, ns, name string) *corev1.Pod {
	t.Helper()
	return e.WaitForPod(t, ns, name, 90*time.Second, "running", func(p *corev1.Pod) bool {
		if p.Status.Phase != corev1.PodRunning {
			return false
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	})
}

// WaitPhase waits until the pod reaches phase.
func (e *Env) WaitPhase(t testing.TB, ns, name string, phase corev1.PodPhase, timeout time.Duration) *corev1.Pod {
	t.Helper()
	return e.WaitForPod(t, ns, name, timeout, string(phase), func(p *corev1.Pod) bool { return p.Status.Phase == phase })
}

// WaitGone waits until the pod no longer exists.
func (e *Env) WaitGone(t testing.TB, ns, name string, timeout time.Duration) {
	t.Helper()
	ctx := Context(t, timeout)
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := e.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s still exists after %s", ns, name, timeout)
	}
}

// Logs returns the logs of the pod's first container.
func (e *Env) Logs(t testing.TB, ns, name string) string {
	t.Helper()
	rc, err := e.Client.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).Stream(Context(t, 20*time.Second))
	if err != nil {
		t.Fatalf("logs of %s/%s: %v", ns, name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading logs of %s/%s: %v", ns, name, err)
	}
	return string(b)
}

// WaitLogs waits until the pod's logs contain want and returns them.
func (e *Env) WaitLogs(t testing.TB, ns, name, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		logs := e.Logs(t, ns, name)
		if strings.Contains(logs, want) {
			return logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs of %s/%s do not contain %q after %s:\n%s", ns, name, want, timeout, logs)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func describe(p *corev1.Pod) string {
	if p == nil {
		return "never seen"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s reason=%q node=%q", p.Status.Phase, p.Status.Reason, p.Spec.NodeName)
	for _, c := range p.Status.ContainerStatuses {
		switch {
		case c.State.Waiting != nil:
			fmt.Fprintf(&b, " %s=waiting(%s: %s)", c.Name, c.State.Waiting.Reason, c.State.Waiting.Message)
		case c.State.Terminated != nil:
			fmt.Fprintf(&b, " %s=terminated(%s, exit %d)", c.Name, c.State.Terminated.Reason, c.State.Terminated.ExitCode)
		case c.State.Running != nil:
			fmt.Fprintf(&b, " %s=running", c.Name)
		}
	}
	return b.String()
}

var plugin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// removeBuilds removes what PluginBinary built, once the tests are done.
func removeBuilds() {
	if plugin.dir != "" {
		os.RemoveAll(plugin.dir)
	}
}

// RepoRoot returns the repository's top folder.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the e2e sources")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// PluginBinary builds kubectl-netflow from this tree once per test binary, with
// the Makefile's version flags, so it defaults to the probe image lab-up imported.
func PluginBinary(t testing.TB) string {
	t.Helper()
	root := RepoRoot(t)
	plugin.once.Do(func() {
		dir, err := os.MkdirTemp("", "netflow-e2e-")
		if err != nil {
			plugin.err = err
			return
		}
		plugin.dir = dir
		cmd := exec.Command("make", "--no-print-directory", "build", "BIN="+dir)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			plugin.err = fmt.Errorf("make build: %w\n%s", err, out)
			return
		}
		plugin.path = filepath.Join(dir, "kubectl-netflow")
	})
	if plugin.err != nil {
		t.Fatalf("building the plugin: %v", plugin.err)
	}
	return plugin.path
}

// RunPlugin runs the kubectl-netflow binary against the lab and returns its
// stdout and stderr.
func (e *Env) RunPlugin(ctx context.Context, t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, PluginBinary(t), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.Kubeconfig)
	var o, eb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &eb
	err = cmd.Run()
	return o.String(), eb.String(), err
}
