package tui

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/flowtest"
	"github.com/kubectl-netflow/kubectl-netflow/flow/query"
	"github.com/kubectl-netflow/kubectl-netflow/plugin/cost"
	"github.com/kubectl-netflow/kubectl-netflow/tui/store"
)

type storeGroup = store.Group

// Golden files live in testdata/<test>/<case>.golden; `go test ./tui -update`
// rewrites them (the flag belongs to charmbracelet/x/exp/golden).

var fixedNow = time.Date(2026, 11, 25, 12, 1, 0, 0, time.UTC)

// fixture is 45 s of traffic of 60 flows, one cross-zone flow, and one
// flow of the shop namespace that jumps 40-fold in the last two seconds.
func fixture() []flow.Record {
	flows := flowtest.Flows(60, 1)
	xz := flows[0]
	xz.NS, xz.WorkloadName, xz.Zone = "payments", "payments-api", "eu-west-1a"
	xz.DstNS, xz.DstWorkloadName, xz.DstWorkloadKind, xz.DstZone = "shop", "shop-db", "StatefulSet", "eu-west-1b"
	flows = append(flows, xz)
	recs := flowtest.Records(flows, 45, 2)
	last := flowtest.Start.Add(43 * time.Second)
	for i := range recs {
		r := &recs[i]
		if r.NS == "shop" && r.Process == "nginx" && !r.TS.Before(last) {
			r.TxBytes *= 40
		}
	}
	return recs
}

func status() *flow.Status {
	return &flow.Status{
		Source: "testdata/flows.ndjson.gz", Live: true, Started: fixedNow,
		NodesAsked:     []string{"node-0", "node-1", "node-2"},
		NodesStreaming: []string{"node-0", "node-1"},
		NodesFailed:    map[string]string{"node-2": "probe OOMKilled"},
		LostFlows:      3,
	}
}

func newTestModel(t testing.TB) *Model {
	t.Helper()
	m, err := New(Config{Context: "kind-lab", Price: cost.Default().PerByte, Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func send(m *Model, msgs ...tea.Msg) {
	for _, msg := range msgs {
		m.Update(msg)
	}
}

func keys(s string) []tea.Msg {
	var out []tea.Msg
	for _, r := range s {
		out = append(out, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
	return out
}

func keyOf(t tea.KeyType) tea.Msg { return tea.KeyMsg{Type: t} }

func TestGolden(t *testing.T) {
	screens := []struct {
		name string
		keys []tea.Msg
	}{
		{"table", nil},
		{"filter_error", append(keys("/"), keys(`ns == "shop" && dst_wrk`)...)},
		{"filter_complete", append(keys("/"), append(keys("dst_w"), keyOf(tea.KeyTab))...)},
		{"group_picker", keys("g")},
		{"regrouped", append(keys("g"), keyOf(tea.KeyDown), keyOf(tea.KeyDown), keyOf(tea.KeyEnter))},
		{"drilldown", append(keys("n"), keyOf(tea.KeyEnter))},
		{"help", keys("?")},
	}
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		for _, sc := range screens {
			t.Run(fmt.Sprintf("%s_%dx%d", sc.name, size[0], size[1]), func(t *testing.T) {
				m := newTestModel(t)
				send(m, tea.WindowSizeMsg{Width: size[0], Height: size[1]})
				send(m, batchMsg{records: fixture(), status: status()})
				send(m, sc.keys...)
				view := ansi.Strip(m.View())
				checkFrame(t, view, size[0], size[1])
				golden.RequireEqual(t, []byte(view))
			})
		}
	}
}

// checkFrame asserts that a view fills the terminal and no line overflows.
func checkFrame(t *testing.T, view string, w, h int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) != h {
		t.Errorf("view has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i+1, n, w, l)
		}
	}
}

// TestHeaderNamesNodesNotReading: a node whose probe streams but cannot
// read the kernel's flows is named in the header with the probe's error.
func TestHeaderNamesNodesNotReading(t *testing.T) {
	m := newTestModel(t)
	st := status()
	st.NodesNotReading = map[string]string{"node-1": "switching flow maps: boom"}
	send(m, tea.WindowSizeMsg{Width: 200, Height: 40}, batchMsg{records: fixture(), status: st})
	view := ansi.Strip(m.View())
	if !strings.Contains(view, "not reading: node-1 (switching flow maps: boom)") {
		t.Errorf("header does not name the node that is not reading:\n%s", strings.SplitN(view, "\n", 3)[0])
	}
}

func TestResize(t *testing.T) {
	m := newTestModel(t)
	send(m, batchMsg{records: fixture(), status: status()})
	for _, size := range [][2]int{{80, 24}, {200, 60}, {40, 10}, {120, 40}} {
		send(m, tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		for _, k := range []string{"", "/", "g", "?"} {
			send(m, keys(k)...)
			checkFrame(t, ansi.Strip(m.View()), size[0], size[1])
			send(m, keyOf(tea.KeyEsc))
		}
	}
}

func TestSortReverses(t *testing.T) {
	m := newTestModel(t)
	send(m, batchMsg{records: fixture()})
	tests := []struct {
		key     string
		sortKey query.SortKey
		reverse bool
	}{
		{"s", query.SortTx, false},
		{"s", query.SortTx, true},
		{"r", query.SortRx, false},
		{"t", query.SortTotal, false},
		{"t", query.SortTotal, true},
	}
	for _, tt := range tests {
		send(m, keys(tt.key)...)
		if m.sortKey != tt.sortKey || m.reverse != tt.reverse {
			t.Fatalf("after %q: sort %v reverse %v, want %v %v", tt.key, m.sortKey, m.reverse, tt.sortKey, tt.reverse)
		}
		for i := 1; i < len(m.rows); i++ {
			a, b := m.sortValue(m.rows[i-1]), m.sortValue(m.rows[i])
			if (!tt.reverse && a < b) || (tt.reverse && a > b) {
				t.Fatalf("after %q: row %d (%v) out of order with row %d (%v)", tt.key, i-1, a, i, b)
			}
		}
	}
}

func TestStableOrder(t *testing.T) {
	a := &fakeGroup{"a", 100}
	b := &fakeGroup{"b", 95}
	c := &fakeGroup{"c", 10}
	prev := groupsOf(a, b, c)
	// b edges past a by 5%: within the hysteresis, the order stays.
	b.v = 105
	got := orderRows(prev, groupsOf(c, b, a), values(a, b, c), false, false)
	if keysOf(got) != "a,b,c" {
		t.Errorf("small change reordered rows: %s", keysOf(got))
	}
	// c jumps far ahead: it moves to the top.
	c.v = 500
	got = orderRows(got, groupsOf(a, b, c), values(a, b, c), false, false)
	if keysOf(got) != "c,a,b" {
		t.Errorf("a real change did not reorder: %s", keysOf(got))
	}
}

func TestFilterFlow(t *testing.T) {
	m := newTestModel(t)
	send(m, batchMsg{records: fixture()})
	send(m, keys("/")...)
	send(m, keys(`ns == "shop`)...)
	if m.editor.errMsg == "" {
		t.Fatal("an unterminated string validates")
	}
	send(m, keyOf(tea.KeyEnter)) // refused while invalid
	if m.mode != modeFilter {
		t.Fatal("enter applied an invalid filter")
	}
	send(m, keys(`"`)...)
	send(m, keyOf(tea.KeyEnter))
	if m.mode != modeTable || m.filterExpr != `ns == "shop"` {
		t.Fatalf("mode %v filter %q", m.mode, m.filterExpr)
	}
	for _, g := range m.rows {
		if g.Values[0] != "shop" {
			t.Fatalf("row %v passed the filter", g.Values)
		}
	}
	// Esc clears; / and ↑ bring it back from the history.
	send(m, keyOf(tea.KeyEsc))
	if m.filterExpr != "" {
		t.Fatal("esc did not clear the filter")
	}
	send(m, keys("/")...)
	send(m, keyOf(tea.KeyUp), keyOf(tea.KeyEnter))
	if m.filterExpr != `ns == "shop"` {
		t.Fatalf("history gave %q", m.filterExpr)
	}
}

func TestTabCompletes(t *testing.T) {
	tests := []struct {
		typed string
		tabs  int
		want  string
	}{
		{"proc", 1, "process"},
		{"ns == 'a' && dst_workload_k", 1, "ns == 'a' && dst_workload_kind"},
		{"dst_w", 1, "dst_workload_"},
		{"dst_w", 2, "dst_workload_name"},
		{"dst_w", 3, "dst_workload_kind"},
	}
	for _, tt := range tests {
		t.Run(tt.typed, func(t *testing.T) {
			m := newTestModel(t)
			send(m, keys("/")...)
			send(m, keys(tt.typed)...)
			for range tt.tabs {
				send(m, keyOf(tea.KeyTab))
			}
			if got := m.editor.value(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

type fakeGroup struct {
	key string
	v   float64
}

func groupsOf(fs ...*fakeGroup) []*storeGroup {
	out := make([]*storeGroup, len(fs))
	for i, f := range fs {
		out[i] = &storeGroup{Key: f.key}
	}
	return out
}

func values(fs ...*fakeGroup) func(*storeGroup) float64 {
	return func(g *storeGroup) float64 {
		for _, f := range fs {
			if f.key == g.Key {
				return f.v
			}
		}
		return 0
	}
}

func keysOf(gs []*storeGroup) string {
	var ks []string
	for _, g := range gs {
		ks = append(ks, g.Key)
	}
	return strings.Join(ks, ",")
}

// sliceSource streams records one interval per batch, then ends.
type sliceSource struct {
	records []flow.Record
	status  *flow.Status
	pace    time.Duration
}

func (s *sliceSource) Stream(ctx context.Context, fn func(*flow.Batch) error) error {
	rs := s.records
	first := true
	for len(rs) > 0 {
		n := 1
		for n < len(rs) && rs[n].TS.Equal(rs[0].TS) {
			n++
		}
		b := &flow.Batch{Records: rs[:n]}
		if first {
			b.Status, first = s.status, false
		}
		if err := fn(b); err != nil {
			return err
		}
		rs = rs[n:]
		if s.pace > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(s.pace):
			}
		}
	}
	return nil
}

// TestNotices checks that the source's progress lines show in the footer,
// not over the screen, and leave after a while.
func TestNotices(t *testing.T) {
	now := fixedNow
	ch := make(chan string, 1)
	m, err := New(Config{Notices: ch, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	m.SetSize(100, 12)
	ch <- "lab-a: streaming (kernel 6.18, hooks cgroup_skb+tp_btf)"
	send(m, m.nextNotice())
	last := func() string {
		lines := strings.Split(ansi.Strip(m.View()), "\n")
		return lines[len(lines)-1]
	}
	if got := last(); !strings.Contains(got, "lab-a: streaming (kernel 6.18") {
		t.Fatalf("footer = %q, want the notice", got)
	}
	now = now.Add(noticeTTL + time.Second)
	if got := last(); strings.Contains(got, "lab-a") || !strings.Contains(got, "? help") {
		t.Fatalf("footer = %q, want the key hints back after %s", got, noticeTTL)
	}
	close(ch)
	if msg := m.nextNotice(); msg != nil {
		t.Fatalf("a closed notice channel gave %v", msg)
	}
}
