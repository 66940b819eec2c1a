package tui

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/query"
)

// startProgram runs the model as a program fed by a paced source.
func startProgram(t *testing.T) *teatest.TestModel {
	t.Helper()
	m := newTestModel(t)
	m.cfg.Now = time.Now
	ctx, cancel := context.WithCancel(context.Background())
	m.feed = newFeed()
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.feed.run(ctx, &sliceSource{records: fixture(), status: status(), pace: 5 * time.Millisecond})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return teatest.NewTestModel(t, m, teatest.WithInitialTermSize(120, 40))
}

func waitFor(t *testing.T, tm *teatest.TestModel, want string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		return bytes.Contains(b, []byte(want))
	}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
}

func typeKey(tm *teatest.TestModel, k tea.KeyType) { tm.Send(tea.KeyMsg{Type: k}) }

func final(t *testing.T, tm *teatest.TestModel) *Model {
	t.Helper()
	return tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*Model)
}

func TestProgramFilter(t *testing.T) {
	tm := startProgram(t)
	waitFor(t, tm, "shop")
	tm.Type("/")
	tm.Type(`ns == "payments" && zone != dst_zone && dst_zo`)
	typeKey(tm, tea.KeyTab)
	tm.Type(` != ""`)
	waitFor(t, tm, "valid; enter applies")
	typeKey(tm, tea.KeyEnter)
	waitFor(t, tm, "payments-api")
	tm.Type("q")
	m := final(t, tm)
	if m.filterExpr != `ns == "payments" && zone != dst_zone && dst_zone != ""` {
		t.Errorf("filter %q", m.filterExpr)
	}
	if len(m.rows) == 0 {
		t.Fatal("no rows after the filter")
	}
	for _, g := range m.rows {
		if g.Values[0] != "payments" {
			t.Errorf("row %v passed the filter", g.Values)
		}
	}
}

func TestProgramRegroupSortDrill(t *testing.T) {
	tm := startProgram(t)
	waitFor(t, tm, "shop")
	// Up to the first preset, then down to the third: zone only.
	tm.Type("g")
	waitFor(t, tm, "Presets")
	typeKey(tm, tea.KeyUp)
	typeKey(tm, tea.KeyUp)
	typeKey(tm, tea.KeyDown)
	typeKey(tm, tea.KeyDown)
	typeKey(tm, tea.KeyEnter)
	waitFor(t, tm, "group zone,dst_zone")
	tm.Type("s")
	waitFor(t, tm, "sent↓")
	tm.Type("s")
	waitFor(t, tm, "sent↑")
	typeKey(tm, tea.KeyEnter)
	waitFor(t, tm, "flows of zone=")
	typeKey(tm, tea.KeyEsc)
	tm.Type("?")
	waitFor(t, tm, "netflow top: keys")
	tm.Type("?")
	typeKey(tm, tea.KeyCtrlC)
	m := final(t, tm)
	if got := fieldNames(m.groupBy); got != "zone,dst_zone" {
		t.Errorf("grouping %s", got)
	}
	if m.sortKey != query.SortTx || !m.reverse {
		t.Errorf("sort %v reverse %v", m.sortKey, m.reverse)
	}
	if m.drill != nil {
		t.Error("esc did not leave the drill-down")
	}
}

// TestRunReturnsAfterStream checks that Run returns only once the source
// has stopped, so the caller can tear the probes down.
func TestRunReturnsAfterStream(t *testing.T) {
	stopped := make(chan struct{})
	src := &blockingSource{stopped: stopped}
	in := strings.NewReader("q")
	err := Run(context.Background(), src, Config{}, tea.WithInput(in), tea.WithOutput(io.Discard), tea.WithoutRenderer())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("Run returned while the source still streamed")
	}
}

type blockingSource struct{ stopped chan struct{} }

func (s *blockingSource) Stream(ctx context.Context, _ func(*flow.Batch) error) error {
	<-ctx.Done()
	close(s.stopped)
	return nil
}
