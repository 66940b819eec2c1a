package probes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Manager runs the probe pods of one session.
type Manager struct {
	client kubernetes.Interface
	cfg    Config

	mu   sync.Mutex
	pods map[string]string // node → pod name, of pods that were created
}

// NewManager returns a Manager for the probe pods described by cfg.
func NewManager(client kubernetes.Interface, cfg Config) *Manager {
	cfg.setDefaults()
	return &Manager{client: client, cfg: cfg, pods: map[string]string{}}
}

// Config returns the configuration with its defaults filled in.
func (m *Manager) Config() Config { return m.cfg }

// StartError is a probe that did not start on a node.
type StartError struct {
	Node   string
	Reason string
	// Message is the detail: the kubelet's, or the probe's own last words.
	Message string
}

func (e *StartError) Error() string {
	if e.Message == "" {
		return e.Reason
	}
	return e.Reason + ": " + e.Message
}

// DefaultStartTimeout bounds how long a probe may take to start: enough to
// pull a small image on a slow link.
const DefaultStartTimeout = 2 * time.Minute

// Start creates a probe pod on each node and waits until each runs or fails,
// at most timeout. It returns the nodes whose probe runs, and why the others
// failed. An error that would fail every node alike (RBAC, Pod Security) is
// returned as err right away, after deleting what was created.
func (m *Manager) Start(ctx context.Context, nodes []string, timeout time.Duration, progress func(node, message string)) (running []string, failed map[string]error, err error) {
	if progress == nil {
		progress = func(string, string) {}
	}
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// Watch before creating, so no status change is missed. The session
	// is new, so there is nothing older to miss: resourceVersion 0 lets the
	// API server serve the watch from its cache at once, where an unset
	// one may wait seconds for the cache to be provably fresh (etcd
	// versions without progress notifications).
	sessionPods := metav1.ListOptions{LabelSelector: SessionLabel + "=" + m.cfg.Session, ResourceVersion: "0"}
	w, err := m.client.CoreV1().Pods(m.cfg.Namespace).Watch(ctx, sessionPods)
	if err != nil {
		return nil, nil, fmt.Errorf("watching the probe pods: %w", Explain(err, "watch", "", "pods", m.cfg.Namespace))
	}
	defer w.Stop()

	// Probes of earlier sessions whose plugin was killed end by
	// themselves, but their pods stay as Completed or Failed: remove them
	// while this session's pods start. Running probes of other sessions
	// are left alone.
	swept := make(chan int, 1)
	go func() { swept <- m.sweepFinished(ctx) }()
	defer func() {
		if n := <-swept; n > 0 {
			progress("", fmt.Sprintf("removed %d finished probe pod(s) of earlier sessions", n))
		}
	}()

	failed = map[string]error{}
	waiting := map[string]string{} // pod → node
	var fatal error
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, node := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			progress(node, "creating probe pod")
			pod, err := m.client.CoreV1().Pods(m.cfg.Namespace).Create(ctx, Pod(m.cfg, node), metav1.CreateOptions{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				err = Explain(err, "create", "", "pods", m.cfg.Namespace)
				var fe *ForbiddenError
				var pe *PodSecurityError
				if errors.As(err, &fe) || errors.As(err, &pe) {
					fatal = err
				}
				failed[node] = &StartError{Node: node, Reason: "creating the probe pod", Message: err.Error()}
				return
			}
			m.mu.Lock()
			m.pods[node] = pod.Name
			m.mu.Unlock()
			waiting[pod.Name] = node
			progress(node, "pod "+pod.Name+" created, waiting for it to start")
		}()
	}
	wg.Wait()
	if fatal != nil {
		return nil, nil, fatal
	}

	// Pods may have started before the watch saw them: look once.
	for name, node := range waiting {
		if pod, err := m.client.CoreV1().Pods(m.cfg.Namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			if done, serr := podStarted(pod); done {
				m.settle(node, name, serr, waiting, failed, &running, progress)
			}
		}
	}
	last := map[string]string{}
	for len(waiting) > 0 {
		select {
		case <-ctx.Done():
			for name, node := range waiting {
				reason := "the probe did not start within " + timeout.String()
				if ctx.Err() == context.Canceled {
					reason = "canceled while the probe was starting"
				}
				failed[node] = &StartError{Node: node, Reason: reason, Message: last[name]}
				progress(node, failed[node].Error())
				delete(waiting, name)
				if err := m.deletePod(context.Background(), node); err != nil {
					progress(node, err.Error())
				}
			}
		case ev, ok := <-w.ResultChan():
			if !ok {
				// The watch ended early (a proxy's timeout): start another.
				w.Stop()
				if w, err = m.client.CoreV1().Pods(m.cfg.Namespace).Watch(ctx, sessionPods); err != nil {
					return running, failed, fmt.Errorf("watching the probe pods: %w", err)
				}
				continue
			}
			pod, isPod := ev.Object.(*corev1.Pod)
			if !isPod {
				continue
			}
			node, ok := waiting[pod.Name]
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted {
				m.settle(node, pod.Name, &StartError{Node: node, Reason: "the probe pod was deleted"}, waiting, failed, &running, progress)
				continue
			}
			if s := describe(pod); s != "" && s != last[pod.Name] {
				last[pod.Name] = s
				progress(node, s)
			}
			if done, serr := podStarted(pod); done {
				m.settle(node, pod.Name, serr, waiting, failed, &running, progress)
			}
		}
	}
	return running, failed, nil
}

func (m *Manager) settle(node, pod string, err *StartError, waiting map[string]string, failed map[string]error, running *[]string, progress func(node, message string)) {
	delete(waiting, pod)
	if err != nil {
		err.Node = node
		failed[node] = err
		progress(node, "failed: "+err.Error())
		// A pod that cannot start is of no use; leave no debris.
		if derr := m.deletePod(context.Background(), node); derr != nil {
			progress(node, derr.Error())
		}
		return
	}
	*running = append(*running, node)
	progress(node, "probe running")
}

// imagePullReasons are waiting reasons of a container whose image cannot be
// had.
var imagePullReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"ErrImageNeverPull": true, "RegistryUnavailable": true,
}

// startFailReasons are waiting reasons that do not go away by waiting.
var startFailReasons = map[string]bool{
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
	"CrashLoopBackOff": true, "PreCreateHookError": true, "PreStartHookError": true,
}

// podStarted tells whether pod is past start-up, and if it failed, why.
func podStarted(pod *corev1.Pod) (bool, *StartError) {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name != ContainerName {
			continue
		}
		switch {
		case cs.State.Running != nil:
			return true, nil
		case cs.State.Terminated != nil:
			return true, terminated(cs.State.Terminated)
		case cs.State.Waiting != nil && imagePullReasons[cs.State.Waiting.Reason]:
			return true, &StartError{
				Reason:  fmt.Sprintf("%s: cannot pull the probe image %s", cs.State.Waiting.Reason, imageOf(pod)),
				Message: cs.State.Waiting.Message + " (use --image to pick another image, --image-pull-secret for a private registry)",
			}
		case cs.State.Waiting != nil && startFailReasons[cs.State.Waiting.Reason]:
			return true, &StartError{Reason: cs.State.Waiting.Reason, Message: cs.State.Waiting.Message}
		}
	}
	if pod.Status.Phase == corev1.PodFailed {
		return true, &StartError{Reason: "the probe pod failed: " + nonEmpty(pod.Status.Reason, "Failed"), Message: pod.Status.Message}
	}
	if pod.Status.Phase == corev1.PodSucceeded {
		return true, &StartError{Reason: "the probe exited right after it started"}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return true, &StartError{Reason: "Unschedulable", Message: c.Message}
		}
	}
	return false, nil
}

// terminated turns the end of the probe's container into a reason. The
// probe writes why it stopped (a kernel without the hooks it needs, say) as
// its termination message; the kubelet falls back to the log's tail.
func terminated(t *corev1.ContainerStateTerminated) *StartError {
	msg := strings.TrimSpace(t.Message)
	if i := strings.LastIndex(msg, "\n"); i >= 0 && !strings.HasPrefix(msg[i+1:], " ") {
		// The last line of a log is what matters; keep it short.
		if strings.Contains(msg[i+1:], "error") {
			msg = msg[i+1:]
		}
	}
	msg = strings.TrimPrefix(msg, "error: ")
	return &StartError{
		Reason:  fmt.Sprintf("the probe exited (code %d, %s)", t.ExitCode, nonEmpty(t.Reason, "Error")),
		Message: msg,
	}
}

// describe says where a pod is in its start-up, for the progress lines.
func describe(pod *corev1.Pod) string {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
			return cs.State.Waiting.Reason
		}
	}
	if pod.Status.Phase == corev1.PodPending && pod.Status.StartTime != nil {
		return "starting containers"
	}
	return ""
}

func imageOf(pod *corev1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if c.Name == ContainerName {
			return c.Image
		}
	}
	return ""
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// PodName returns the probe pod of node, if it was created.
func (m *Manager) PodName(node string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name, ok := m.pods[node]
	return name, ok
}

// Why tells why the probe pod of node stopped, or "" if it still runs.
func (m *Manager) Why(ctx context.Context, node string) string {
	name, ok := m.PodName(node)
	if !ok {
		return "no probe pod"
	}
	pod, err := m.client.CoreV1().Pods(m.cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "the probe pod " + name + " was deleted"
	}
	if err != nil {
		return ""
	}
	if pod.DeletionTimestamp != nil {
		return "the probe pod " + name + " is being deleted"
	}
	if pod.Status.Phase == corev1.PodFailed && pod.Status.Reason == "DeadlineExceeded" {
		return "the probe reached its maximum duration (--max-duration)"
	}
	if done, serr := podStarted(pod); done && serr != nil {
		return serr.Error()
	}
	return ""
}

// Delete deletes every probe pod of the session. It uses a fresh context
// bounded by timeout, so it also works when the caller's context has ended
// (Ctrl-C).
func (m *Manager) Delete(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	m.mu.Lock()
	nodes := make([]string, 0, len(m.pods))
	for n := range m.pods {
		nodes = append(nodes, n)
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.deletePod(ctx, n)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Wait until the pods are gone, so that nothing of the session is
	// left when the plugin exits; the probes stop on SIGTERM within a
	// second or two.
	for ctx.Err() == nil {
		list, err := m.client.CoreV1().Pods(m.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: SessionLabel + "=" + m.cfg.Session, ResourceVersion: "0"})
		if err != nil || len(list.Items) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil
}

func (m *Manager) deletePod(ctx context.Context, node string) error {
	m.mu.Lock()
	name, ok := m.pods[node]
	m.mu.Unlock()
	if !ok {
		return nil
	}
	err := m.client.CoreV1().Pods(m.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](2)})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting probe pod %s/%s: %w (remove it with: kubectl netflow cleanup -n %s)", m.cfg.Namespace, name, err, m.cfg.Namespace)
	}
	m.mu.Lock()
	delete(m.pods, node)
	m.mu.Unlock()
	return nil
}

// Leftover is a probe pod that cleanup removed.
type Leftover struct {
	Namespace, Name, Node, Session string
	Phase                          corev1.PodPhase
	Age                            time.Duration
}

// sweepFinished deletes the probe pods of other sessions in the namespace
// that have ended, and returns how many it deleted. It is best effort: a
// failure only leaves them for `kubectl netflow cleanup`.
func (m *Manager) sweepFinished(ctx context.Context) int {
	list, err := m.client.CoreV1().Pods(m.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: Selector, ResourceVersion: "0"})
	if err != nil {
		return 0
	}
	n := 0
	for _, p := range list.Items {
		if p.Labels[SessionLabel] == m.cfg.Session || (p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed) {
			continue
		}
		if err := m.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err == nil {
			n++
		}
	}
	return n
}

// Cleanup deletes the probe pods of every session in namespace ns, or in
// every namespace when ns is empty, and returns what it deleted.
func Cleanup(ctx context.Context, client kubernetes.Interface, ns string) ([]Leftover, error) {
	list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: Selector})
	if err != nil {
		return nil, fmt.Errorf("listing probe pods: %w", Explain(err, "list", "", "pods", ns))
	}
	var out []Leftover
	var errs []error
	for _, p := range list.Items {
		err := client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](2)})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting pod %s/%s: %w", p.Namespace, p.Name, Explain(err, "delete", "", "pods", p.Namespace)))
			continue
		}
		out = append(out, Leftover{
			Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName, Session: p.Labels[SessionLabel],
			Phase: p.Status.Phase, Age: time.Since(p.CreationTimestamp.Time).Round(time.Second),
		})
	}
	return out, errors.Join(errs...)
}
