// Package tui is the live terminal UI of `kubectl netflow top`: a table of
// grouped flows with rates over iftop's windows, sparklines and spikes, a CEL
// filter editor, a group-by picker and a drill-down into the flows of a
// group. It follows the bubbles conventions: New, KeyMap, Styles, SetSize;
// the source streams through a Cmd that re-arms itself, and nothing touches
// the model outside Update.
package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/query"
	"github.com/kubectl-netflow/kubectl-netflow/tui/store"
)

// Config is what the UI starts with.
type Config struct {
	// Context names where flows come from (a kube context); the source's
	// status names it when empty.
	Context string
	// Filter is the initial filter expression; it must compile.
	Filter string
	// GroupBy is the initial grouping; DefaultGroupBy when empty.
	GroupBy []*flow.Field
	// Sort is the initial sort key.
	Sort query.SortKey
	// Price prices a flow's bytes for the cost column; nil hides it.
	Price store.PriceFunc
	// Refresh is how often the table is recomputed; 250 ms when zero.
	Refresh time.Duration
	// Now is the wall clock; time.Now when nil. Tests pin it.
	Now func() time.Time
	// Notices carries the source's progress lines (probes starting,
	// streams lost and back); the latest shows in the footer for a while.
	// Nil when the source has none.
	Notices <-chan string
}

// noticeTTL is how long a notice stays in the footer.
const noticeTTL = 8 * time.Second

type mode int

const (
	modeTable mode = iota
	modeFilter
	modeGroup
	modeHelp
)

// Hysteresis keeps rows in place until one really overtakes another: a row
// moves above its neighbour only when its sort value exceeds the
// neighbour's by this fraction (and by at least one byte).
const Hysteresis = 0.15

// drill is the state of a drill-down into one group.
type drill struct {
	key    string
	values []string
	// columns are the flow fields that tell the members apart.
	columns []*flow.Field
	// saved table position, restored on the way back.
	cursorKey string
	offset    int
}

// Model is the top-level model of the UI.
type Model struct {
	cfg    Config
	keys   KeyMap
	styles Styles

	width, height int

	store  *store.Store
	feed   *feed
	status flow.Status
	ended  bool
	err    error

	mode   mode
	drill  *drill
	paused bool

	sortKey    query.SortKey
	reverse    bool
	cumulative bool
	window     int // index into store.Windows
	sortDirty  bool

	rows      []*store.Group
	groups    []*store.Group // the last refresh of the top-level table
	cursor    int
	cursorKey string
	offset    int

	filterExpr  string
	filter      *query.Filter
	filterHist  []string
	groupBy     []*flow.Field
	groupHist   [][]*flow.Field
	editor      filterEditor
	picker      groupPicker
	message     string
	notice      string
	noticeAt    time.Time
	started     time.Time
	lastRecords int64
	lastTick    time.Time
	recRate     float64
	dataSec     int64
	activeFlows int
	dataWall    time.Time
}

// New returns a Model for cfg. The model reads the source given to Run.
func New(cfg Config) (*Model, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 250 * time.Millisecond
	}
	if len(cfg.GroupBy) == 0 {
		fs, err := flow.ParseFields(query.DefaultGroupBy)
		if err != nil {
			return nil, err
		}
		cfg.GroupBy = fs
	}
	m := &Model{
		cfg:     cfg,
		keys:    DefaultKeyMap(),
		styles:  DefaultStyles(),
		store:   store.New(cfg.Price),
		sortKey: cfg.Sort,
		window:  1,
		groupBy: cfg.GroupBy,
		started: cfg.Now(),
		width:   80,
		height:  24,
	}
	if strings.TrimSpace(cfg.Filter) != "" {
		f, err := query.CompileFilter(cfg.Filter)
		if err != nil {
			return nil, err
		}
		m.filter, m.filterExpr = f, cfg.Filter
		m.filterHist = []string{cfg.Filter}
	}
	m.groupHist = [][]*flow.Field{cfg.GroupBy}
	m.editor = newFilterEditor(m.keys, m.styles)
	m.picker = newGroupPicker(m.keys, m.styles)
	m.store.SetQuery(store.Query{Filter: m.filter, GroupBy: m.groupBy})
	return m, nil
}

// SetStyles replaces the styles.
func (m *Model) SetStyles(s Styles) {
	m.styles = s
	m.editor.styles = s
	m.picker.styles = s
}

// SetKeyMap replaces the key bindings.
func (m *Model) SetKeyMap(k KeyMap) {
	m.keys = k
	m.editor.keys = k
	m.picker.keys = k
}

// SetSize sets the terminal size.
func (m *Model) SetSize(width, height int) {
	m.width, m.height = max(width, 20), max(height, 8)
	m.editor.setWidth(m.width)
	m.picker.height = max(m.height-headerLines-1, 3)
	m.picker.scroll()
	m.clampCursor()
}

type tickMsg time.Time

func (m *Model) tick() tea.Cmd {
	return tea.Tick(m.cfg.Refresh, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// Init starts the refresh tick and, when a source streams, its feed.
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.tick()}
	if m.feed != nil {
		cmds = append(cmds, m.feed.next)
	}
	if m.cfg.Notices != nil {
		cmds = append(cmds, m.nextNotice)
	}
	return tea.Batch(cmds...)
}

// noticeMsg is a progress line of the source.
type noticeMsg string

// nextNotice waits for the source's next progress line.
func (m *Model) nextNotice() tea.Msg {
	n, ok := <-m.cfg.Notices
	if !ok {
		return nil
	}
	return noticeMsg(n)
}

// Update handles a message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.SetSize(msg.Width, msg.Height)
		return m, nil
	case batchMsg:
		return m, m.ingest(msg)
	case noticeMsg:
		m.notice, m.noticeAt = string(msg), m.cfg.Now()
		return m, m.nextNotice
	case tickMsg:
		m.onTick(time.Time(msg))
		return m, m.tick()
	case tea.KeyMsg:
		return m, m.onKey(msg)
	}
	return m, nil
}

func (m *Model) ingest(msg batchMsg) tea.Cmd {
	m.store.Ingest(msg.records)
	if msg.status != nil {
		m.status = *msg.status
		if !m.status.Started.IsZero() && m.status.Started.Before(m.started) {
			m.started = m.status.Started
		}
	}
	if now := m.store.Now().Unix(); now != m.dataSec {
		m.dataSec, m.dataWall = now, m.cfg.Now()
	}
	if msg.done {
		m.ended, m.err = true, msg.err
	}
	if len(m.rows) == 0 && !m.paused {
		m.refresh()
	}
	if msg.done || m.feed == nil {
		return nil
	}
	return m.feed.next
}

func (m *Model) onTick(t time.Time) {
	now := m.cfg.Now()
	if !m.lastTick.IsZero() {
		if dt := now.Sub(m.lastTick).Seconds(); dt > 0 {
			r := float64(m.store.Records()-m.lastRecords) / dt
			m.recRate = 0.7*m.recRate + 0.3*r
		}
	}
	m.lastTick, m.lastRecords = now, m.store.Records()
	// A live source that goes quiet still lets time pass, so rates fall.
	if m.status.Live && !m.ended && !m.dataWall.IsZero() {
		if gap := now.Sub(m.dataWall); gap > 2*time.Second {
			m.store.Advance(m.dataSec + int64(gap/time.Second) - 1)
		}
	}
	_ = t
	if !m.paused {
		m.refresh()
	}
}

// refresh recomputes the groups (or the drill-down's flows) and orders the
// rows, keeping the cursor on the same row.
func (m *Model) refresh() {
	m.groups = m.store.Refresh()
	m.activeFlows = m.store.ActiveFlows()
	var rows []*store.Group
	if m.drill != nil {
		rows = m.drillRows()
	} else {
		rows = slices.Clone(m.groups)
	}
	m.rows = orderRows(m.rows, rows, m.sortValue, m.reverse, m.sortDirty)
	m.sortDirty = false
	m.clampCursor()
}

func (m *Model) drillRows() []*store.Group {
	var g *store.Group
	for _, x := range m.groups {
		if x.Key == m.drill.key {
			g = x
			break
		}
	}
	if g == nil {
		return nil
	}
	members := g.Members()
	if m.drill.columns == nil {
		m.drill.columns = distinguishing(members, m.groupBy)
	}
	rows := make([]*store.Group, len(members))
	for i, f := range members {
		rows[i] = m.store.FlowGroup(f, m.drill.columns)
	}
	return rows
}

// drillPriority orders the fields a drill-down shows: who, then where to,
// then the rest in table order.
var drillPriority = []string{"pod_name", "process", "dst_pod_name", "dst_domain", "dst_addr", "dst_port", "protocol", "pid", "port", "addr"}

// distinguishing returns the identity fields whose values differ among the
// flows, most telling first, leaving out the group-by fields (the header
// shows them) and the container id (the pod tells as much).
func distinguishing(flows []*store.Flow, groupBy []*flow.Field) []*flow.Field {
	var out []*flow.Field
	for i := range flow.Fields {
		fd := &flow.Fields[i]
		if fd.Varies() || slices.Contains(groupBy, fd) || fd.Name == "container_id" {
			continue
		}
		for _, f := range flows[min(1, len(flows)):] {
			if fd.Format(&f.Record) != fd.Format(&flows[0].Record) {
				out = append(out, fd)
				break
			}
		}
	}
	if len(out) == 0 {
		// A group of one flow: show where it goes.
		for _, n := range []string{"pod_name", "process", "dst_addr", "dst_port"} {
			if fd, _ := flow.LookupField(n); !slices.Contains(groupBy, fd) {
				out = append(out, fd)
			}
		}
	}
	rank := func(f *flow.Field) int {
		if i := slices.Index(drillPriority, f.Name); i >= 0 {
			return i
		}
		return len(drillPriority) + f.Index
	}
	slices.SortStableFunc(out, func(a, b *flow.Field) int { return rank(a) - rank(b) })
	return out
}

// sortValue is what rows are ordered by: the rate over the window, or the
// cumulative bytes, in the sort key's direction.
func (m *Model) sortValue(g *store.Group) float64 {
	if m.cumulative {
		switch m.sortKey {
		case query.SortTx:
			return float64(g.TxBytes)
		case query.SortRx:
			return float64(g.RxBytes)
		default:
			return float64(g.TxBytes + g.RxBytes)
		}
	}
	tx, rx := g.Rate(store.Windows[m.window])
	switch m.sortKey {
	case query.SortTx:
		return tx
	case query.SortRx:
		return rx
	default:
		return tx + rx
	}
}

// orderRows orders rows by value, largest first unless reverse. Unless
// resort is set, rows keep their previous relative order and a row moves up
// past another only when it beats it by the hysteresis margin, so the table
// does not shuffle while rates wobble.
func orderRows(prev, rows []*store.Group, value func(*store.Group) float64, reverse, resort bool) []*store.Group {
	vals := make(map[*store.Group]float64, len(rows))
	for _, g := range rows {
		vals[g] = value(g)
	}
	exact := func(a, b *store.Group) int {
		c := cmp.Compare(vals[b], vals[a])
		if reverse {
			c = -c
		}
		if c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	}
	if resort || len(prev) == 0 {
		slices.SortFunc(rows, exact)
		return rows
	}
	pos := make(map[string]int, len(prev))
	for i, g := range prev {
		pos[g.Key] = i
	}
	var known, fresh []*store.Group
	for _, g := range rows {
		if _, ok := pos[g.Key]; ok {
			known = append(known, g)
		} else {
			fresh = append(fresh, g)
		}
	}
	slices.SortFunc(known, func(a, b *store.Group) int { return pos[a.Key] - pos[b.Key] })
	slices.SortFunc(fresh, exact)
	out := slices.Concat(known, fresh)
	beats := func(a, b *store.Group) bool {
		va, vb := vals[a], vals[b]
		if reverse {
			return va*(1+Hysteresis)+1 < vb
		}
		return va > vb*(1+Hysteresis)+1
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && beats(out[j], out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// bodyHeight is the number of table rows that fit.
func (m *Model) bodyHeight() int {
	h := m.height - headerLines - 2 // column header and footer
	if m.mode == modeFilter {
		h -= m.editor.height()
	}
	return max(h, 1)
}

func (m *Model) clampCursor() {
	if i := m.indexOf(m.cursorKey); i >= 0 {
		m.cursor = i
	}
	m.cursor = min(max(m.cursor, 0), max(len(m.rows)-1, 0))
	if len(m.rows) > 0 {
		m.cursorKey = m.rows[m.cursor].Key
	}
	h := m.bodyHeight()
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+h {
		m.offset = m.cursor - h + 1
	}
	m.offset = min(m.offset, max(len(m.rows)-h, 0))
	m.offset = max(m.offset, 0)
}

func (m *Model) indexOf(k string) int {
	if k == "" {
		return -1
	}
	for i, g := range m.rows {
		if g.Key == k {
			return i
		}
	}
	return -1
}

func (m *Model) moveTo(i int) {
	if len(m.rows) == 0 {
		return
	}
	m.cursor = min(max(i, 0), len(m.rows)-1)
	m.cursorKey = m.rows[m.cursor].Key
	m.clampCursor()
}

func (m *Model) onKey(msg tea.KeyMsg) tea.Cmd {
	if msg.String() == "ctrl+c" {
		return tea.Quit
	}
	switch m.mode {
	case modeFilter:
		return m.onFilterKey(msg)
	case modeGroup:
		return m.onGroupKey(msg)
	case modeHelp:
		switch {
		case key.Matches(msg, m.keys.Quit) && msg.String() == "q":
			return tea.Quit
		case key.Matches(msg, m.keys.Help), key.Matches(msg, m.keys.Back):
			m.mode = modeTable
		}
		return nil
	}
	m.message = ""
	k := m.keys
	switch {
	case key.Matches(msg, k.Quit):
		return tea.Quit
	case key.Matches(msg, k.Help):
		m.mode = modeHelp
	case key.Matches(msg, k.Up):
		m.moveTo(m.cursor - 1)
	case key.Matches(msg, k.Down):
		m.moveTo(m.cursor + 1)
	case key.Matches(msg, k.PageUp):
		m.moveTo(m.cursor - m.bodyHeight())
	case key.Matches(msg, k.PageDown):
		m.moveTo(m.cursor + m.bodyHeight())
	case key.Matches(msg, k.Home):
		m.moveTo(0)
	case key.Matches(msg, k.End):
		m.moveTo(len(m.rows) - 1)
	case key.Matches(msg, k.Drill):
		m.enterDrill()
	case key.Matches(msg, k.Back):
		m.back()
	case key.Matches(msg, k.Filter):
		m.mode = modeFilter
		m.clampCursor()
		return m.editor.open(m.filterExpr, m.filterHist)
	case key.Matches(msg, k.GroupBy):
		m.mode = modeGroup
		m.picker.open(m.groupBy, m.groupHist, m.height-headerLines-1)
	case key.Matches(msg, k.SortTx):
		m.setSort(query.SortTx)
	case key.Matches(msg, k.SortRx):
		m.setSort(query.SortRx)
	case key.Matches(msg, k.SortTotal):
		m.setSort(query.SortTotal)
	case key.Matches(msg, k.Cumulative):
		m.cumulative = !m.cumulative
		m.resort()
	case key.Matches(msg, k.Window):
		m.window = (m.window + 1) % len(store.Windows)
		if !m.cumulative {
			m.resort()
		}
	case key.Matches(msg, k.NextSpike):
		m.jumpSpike(1)
	case key.Matches(msg, k.PrevSpike):
		m.jumpSpike(-1)
	case key.Matches(msg, k.Pause):
		m.paused = !m.paused
		if !m.paused {
			m.refresh()
		}
	}
	return nil
}

// setSort sorts by key; the same key again reverses the order (k9s).
func (m *Model) setSort(k query.SortKey) {
	if m.sortKey == k {
		m.reverse = !m.reverse
	} else {
		m.sortKey, m.reverse = k, false
	}
	m.resort()
}

// resort orders the rows now, from scratch, even when paused.
func (m *Model) resort() {
	m.rows = orderRows(nil, m.rows, m.sortValue, m.reverse, true)
	m.clampCursor()
}

func (m *Model) jumpSpike(dir int) {
	n := len(m.rows)
	for step := 1; step <= n; step++ {
		i := ((m.cursor+dir*step)%n + n) % n
		if m.rows[i].Spike {
			m.moveTo(i)
			return
		}
	}
	m.message = "no spike right now"
}

func (m *Model) enterDrill() {
	if m.drill != nil || len(m.rows) == 0 {
		return
	}
	g := m.rows[m.cursor]
	m.drill = &drill{key: g.Key, values: slices.Clone(g.Values), cursorKey: m.cursorKey, offset: m.offset}
	m.rows, m.cursor, m.offset, m.cursorKey = nil, 0, 0, ""
	m.sortDirty = true
	m.refresh()
}

func (m *Model) back() {
	switch {
	case m.drill != nil:
		d := m.drill
		m.drill = nil
		m.rows = nil
		m.cursorKey, m.offset = d.cursorKey, d.offset
		m.sortDirty = true
		m.refresh()
	case m.filter != nil:
		m.applyFilter("", nil)
		m.message = "filter cleared (/ then ↑ brings it back)"
	}
}

func (m *Model) onFilterKey(msg tea.KeyMsg) tea.Cmd {
	act, cmd := m.editor.update(msg)
	switch act {
	case editorApply:
		m.applyFilter(m.editor.value(), m.editor.compiled)
		m.mode = modeTable
	case editorCancel:
		m.mode = modeTable
	}
	m.clampCursor()
	return cmd
}

func (m *Model) applyFilter(expr string, f *query.Filter) {
	expr = strings.TrimSpace(expr)
	if expr != "" {
		m.filterHist = remember(m.filterHist, expr)
	}
	m.filterExpr, m.filter = expr, f
	m.requery()
}

func remember(hist []string, s string) []string {
	hist = slices.DeleteFunc(hist, func(h string) bool { return h == s })
	hist = append(hist, s)
	if len(hist) > 50 {
		hist = hist[1:]
	}
	return hist
}

func (m *Model) onGroupKey(msg tea.KeyMsg) tea.Cmd {
	act, fields := m.picker.update(msg)
	switch act {
	case editorApply:
		m.mode = modeTable
		m.applyGroupBy(fields)
	case editorCancel:
		m.mode = modeTable
	}
	return nil
}

func (m *Model) applyGroupBy(fields []*flow.Field) {
	if len(fields) == 0 {
		m.message = "pick at least one field"
		return
	}
	m.groupBy = fields
	m.groupHist = slices.DeleteFunc(m.groupHist, func(h []*flow.Field) bool { return slices.Equal(h, fields) })
	m.groupHist = append(m.groupHist, fields)
	if len(m.groupHist) > 20 {
		m.groupHist = m.groupHist[1:]
	}
	m.requery()
}

// requery applies the filter and grouping to everything seen so far.
func (m *Model) requery() {
	m.store.SetQuery(store.Query{Filter: m.filter, GroupBy: m.groupBy})
	m.drill = nil
	m.rows, m.cursor, m.offset, m.cursorKey = nil, 0, 0, ""
	m.sortDirty = true
	m.refresh()
	if n, err := m.store.FilterErrors(); n > 0 {
		m.message = fmt.Sprintf("the filter failed on %d flows: %v", n, err)
	}
}
