//go:build unix

package tui

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

// TestBinaryInTmux drives the real kubectl-netflow binary in a tmux
// terminal with --replay and reads the screen: the test nearest to a user.
func TestBinaryInTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed: apt-get install tmux")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "kubectl-netflow")
	build := exec.Command("go", "build", "-o", bin, "../cmd/kubectl-netflow")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	rec := filepath.Join(dir, "flows.ndjson")
	writeRecording(t, rec)

	session := "netflow-test-" + filepath.Base(dir)
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(tmux, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// NO_COLOR keeps the screen plain; sleep keeps the pane open after the
	// binary exits, so its exit can be read.
	shell := "NO_COLOR=1 " + bin + " top --replay " + rec + " --replay-speed 0; echo EXIT=$?; sleep 60"
	run("new-session", "-d", "-s", session, "-x", "120", "-y", "40", shell)
	t.Cleanup(func() { _ = exec.Command(tmux, "kill-session", "-t", session).Run() })

	screen := func() string { return run("capture-pane", "-p", "-t", session) }
	waitScreen := func(want string) string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			s := screen()
			if strings.Contains(s, want) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("the screen never showed %q; it shows:\n%s", want, s)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	keys := func(k ...string) { run(append([]string{"send-keys", "-t", session}, k...)...) }

	s := waitScreen("replay finished")
	for _, want := range []string{"netflow top", "payments", "SENT/10s", "sort total↓ over 10s"} {
		if !strings.Contains(s, want) {
			t.Errorf("first screen lacks %q:\n%s", want, s)
		}
	}
	keys("/")
	keys("-l", `ns == "payments`)
	waitScreen("Syntax error")
	keys("-l", `"`)
	keys("Enter")
	waitScreen(`filter ns == "payments"`)
	keys("g")
	waitScreen("Presets")
	keys("Up", "Up", "Down", "Down", "Enter")
	s = waitScreen("group zone,dst_zone")
	if !strings.Contains(s, "eu-west-1a") {
		t.Errorf("the zone grouping shows no zone:\n%s", s)
	}
	keys("t")
	waitScreen("total↑")
	keys("Enter")
	waitScreen("flows of zone=")
	keys("Escape")
	waitScreen("group zone,dst_zone")
	keys("?")
	waitScreen("netflow top: keys")
	keys("q")
	waitScreen("EXIT=0")
}

func writeRecording(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	nw := flow.NewWriter(f)
	recs := fixture()
	for i := range recs {
		if err := nw.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := nw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
