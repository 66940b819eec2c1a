//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-netflow/kubectl-netflow/plugin/probes"
)

// TestProbePortInUse takes the port of a session's probes on lab-a's
// loopback: the probe there exits, and the node's failure says so.
func TestProbePortInUse(t *testing.T) {
	e := Setup(t)
	ns := e.Namespace(t, "probes")
	port := probes.MinPort + rand.IntN(probes.MaxPort-probes.MinPort+1)
	// httpd without -f forks once it listens.
	squatter := BusyboxPod("squatter", NodeA, fmt.Sprintf("httpd -p 127.0.0.1:%d -h /tmp && echo listening && exec sleep 600", port))
	squatter.Spec.HostNetwork = true
	e.CreatePod(t, ns, squatter)
	e.WaitPhase(t, ns, "squatter", corev1.PodRunning, 90*time.Second)
	e.WaitLogs(t, ns, "squatter", "listening", 90*time.Second)

	mgr := probes.NewManager(e.Client, probes.Config{Namespace: ns, Port: port, IdleTimeout: 30 * time.Second})
	t.Cleanup(func() {
		if err := mgr.Delete(30 * time.Second); err != nil {
			t.Error(err)
		}
	})
	ctx := Context(t, 2*time.Minute)
	running, failed, err := mgr.Start(ctx, []string{NodeA}, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The kubelet may see the probe run before it exits: then the node's
	// failure is what Why reports once it did.
	why := ""
	if ferr := failed[NodeA]; ferr != nil {
		why = ferr.Error()
	} else if len(running) == 1 {
		for why == "" && ctx.Err() == nil {
			why = mgr.Why(ctx, NodeA)
			time.Sleep(250 * time.Millisecond)
		}
	}
	want := fmt.Sprintf("127.0.0.1:%d is in use on this node", port)
	if !strings.Contains(why, want) {
		t.Errorf("failure of %s: %q, want %q", NodeA, why, want)
	}
	t.Logf("failure of %s: %s", NodeA, why)
}
