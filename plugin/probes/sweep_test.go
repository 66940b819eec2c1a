package probes

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestStartSweepsFinishedPods checks that a session removes the pods that
// probes of killed sessions left behind, and nothing else.
func TestStartSweepsFinishedPods(t *testing.T) {
	old := func(ns, name, session string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{NameLabel: NameValue, SessionLabel: session}},
			Status:     corev1.PodStatus{Phase: phase},
		}
	}
	client := fake.NewClientset(
		old("ns", "idle-exit", "s0", corev1.PodSucceeded),
		old("ns", "deadline", "s0", corev1.PodFailed),
		old("ns", "other-user", "s2", corev1.PodRunning), // a live session of someone else
		old("elsewhere", "other-ns", "s0", corev1.PodSucceeded),
	)
	kubelet(t, client, func(node string, p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: ContainerName, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	})
	m := NewManager(client, Config{Namespace: "ns", Session: "s1"})
	var mu sync.Mutex
	var lines []string
	running, _, err := m.Start(context.Background(), []string{"n1"}, 5*time.Second, func(node, msg string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, node+": "+msg)
	})
	if err != nil || len(running) != 1 {
		t.Fatalf("Start: running %v, err %v", running, err)
	}
	var left []string
	for _, ns := range []string{"ns", "elsewhere"} {
		list, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range list.Items {
			left = append(left, p.Name)
		}
	}
	slices.Sort(left)
	if want := []string{PodName("s1", "n1"), "other-ns", "other-user"}; !slices.Equal(left, want) {
		t.Errorf("pods left = %v, want %v", left, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "removed 2 finished probe pod(s)") }) {
		t.Errorf("progress does not say what was removed: %q", lines)
	}
}
