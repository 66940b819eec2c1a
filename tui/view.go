package tui

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/query"
	"github.com/kubectl-netflow/kubectl-netflow/tui/store"
)

// headerLines is the height of the header.
const headerLines = 3

// View renders the screen.
func (m *Model) View() string {
	if m.mode == modeHelp {
		return m.helpView()
	}
	var b strings.Builder
	b.WriteString(m.headerView())
	b.WriteByte('\n')
	if m.mode == modeGroup {
		b.WriteString(m.picker.view(m.width))
	} else {
		b.WriteString(m.tableView())
		if m.mode == modeFilter {
			b.WriteByte('\n')
			b.WriteString(m.editor.view())
		}
	}
	b.WriteByte('\n')
	b.WriteString(m.footerView())
	return m.clip(b.String())
}

// clip keeps a view inside the terminal: lines cut at the width, and on a
// terminal too short for everything, the top of the view and the footer.
func (m *Model) clip(view string) string {
	lines := strings.Split(view, "\n")
	if len(lines) > m.height {
		lines = append(lines[:m.height-1], lines[len(lines)-1])
	}
	for i, l := range lines {
		if ansi.StringWidth(l) > m.width {
			lines[i] = ansi.Truncate(l, m.width, "…")
		}
	}
	return strings.Join(lines, "\n")
}

// fit pads or truncates s (which may hold ANSI styles) to exactly w cells.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := ansi.StringWidth(s)
	if sw > w {
		return ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-sw)
}

func fitRight(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := ansi.StringWidth(s)
	if sw > w {
		return ansi.Truncate(s, w, "…")
	}
	return strings.Repeat(" ", w-sw) + s
}

// joinLine joins parts with a separator and cuts the line at width.
func (m *Model) joinLine(parts []string) string {
	return fit(strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), m.styles.Dim.Render(" · ")), m.width)
}

func (m *Model) headerView() string {
	s := m.styles
	st := &m.status

	// Line 1: where, how healthy, since when.
	src := m.cfg.Context
	if src == "" {
		src = st.Source
	}
	state := "replay"
	if st.Live {
		state = "live"
	}
	switch {
	case m.err != nil:
		state = s.Error.Render("stream failed")
	case m.ended && st.Live:
		state = s.Warn.Render("stream ended")
	case m.ended:
		state = "replay finished"
	}
	if m.paused {
		state += " " + s.Warn.Render("PAUSED")
	}
	line1 := []string{s.Title.Render("netflow top") + " " + src, state,
		s.Label.Render("elapsed ") + formatElapsed(m.cfg.Now().Sub(m.started))}
	if len(st.NodesAsked) > 0 {
		nodes := fmt.Sprintf("nodes %d/%d streaming", len(st.NodesStreaming), len(st.NodesAsked))
		if len(st.NodesStreaming) < len(st.NodesAsked) {
			nodes = s.Warn.Render(nodes)
		}
		line1 = append(line1, nodes)
		if len(st.NodesFailed) > 0 {
			line1 = append(line1, s.Error.Render("lost: "+nodeReasons(st.NodesFailed)))
		}
		if len(st.NodesNotReading) > 0 {
			line1 = append(line1, s.Error.Render("not reading: "+nodeReasons(st.NodesNotReading)))
		}
	}
	if st.SharedKernel {
		line1 = append(line1, s.Dim.Render("shared kernel: each flow counted once"))
	}

	// Line 2: volume, losses, clock, totals.
	active := m.activeFlows
	line2 := []string{
		fmt.Sprintf("%s flows (%s active)", count(m.store.Len()), count(active)),
		fmt.Sprintf("%s rec/s", count(int(math.Round(m.recRate)))),
	}
	drops := st.LostFlows + st.RingDrops
	dropText := fmt.Sprintf("drops %s", count(int(drops)))
	if drops > 0 {
		dropText = s.Warn.Render(fmt.Sprintf("drops %s (lost %d, ring %d)", count(int(drops)), st.LostFlows, st.RingDrops))
	}
	line2 = append(line2, dropText)
	if first, last := m.store.Span(); !st.Live && !first.IsZero() {
		line2 = append(line2, s.Label.Render("at ")+last.UTC().Format("15:04:05")+s.Label.Render(" of ")+
			first.UTC().Format("15:04:05")+"–"+last.UTC().Format("15:04:05 UTC"))
	}
	if m.cfg.Price != nil {
		var total float64
		for _, g := range m.groups {
			total += g.Cost
		}
		line2 = append(line2, s.Label.Render("est. cost ")+s.Cost.Render(formatCost(total)))
	}

	// Line 3: what the table shows.
	filter := s.Dim.Render("none")
	if m.filterExpr != "" {
		filter = m.filterExpr
	}
	names := make([]string, len(m.groupBy))
	for i, f := range m.groupBy {
		names[i] = f.Name
	}
	line3 := []string{
		s.Label.Render("sort ") + m.sortLabel(),
		s.Label.Render("filter ") + filter,
		s.Label.Render("group ") + strings.Join(names, ","),
	}
	if m.drill != nil {
		var kv []string
		for i, f := range m.groupBy {
			kv = append(kv, f.Name+"="+orDash(m.drill.values[i]))
		}
		line3 = []string{s.Label.Render("sort ") + m.sortLabel(), s.Title.Render("flows of ") + strings.Join(kv, " ")}
	}
	return m.joinLine(line1) + "\n" + m.joinLine(line2) + "\n" + m.joinLine(line3)
}

func (m *Model) sortLabel() string {
	arrow := "↓"
	if m.reverse {
		arrow = "↑"
	}
	what := map[query.SortKey]string{query.SortTx: "sent", query.SortRx: "received", query.SortTotal: "total"}[m.sortKey]
	if m.cumulative {
		return what + arrow + " cumulative"
	}
	return fmt.Sprintf("%s%s over %ds", what, arrow, store.Windows[m.window])
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func formatElapsed(d time.Duration) string {
	d = d.Truncate(time.Second)
	if d < 0 {
		d = 0
	}
	h, mnt, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, mnt, sec)
	}
	return fmt.Sprintf("%dm%02ds", mnt, sec)
}

// count formats n with thousands separators.
func count(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func formatCost(c float64) string {
	switch {
	case c == 0:
		return "$0"
	case c < 0.0001:
		return "<$0.0001"
	case c < 0.01:
		return fmt.Sprintf("$%.4f", c)
	case c < 100:
		return fmt.Sprintf("$%.2f", c)
	default:
		return fmt.Sprintf("$%.0f", c)
	}
}

// column is one column of the table.
type column struct {
	title string
	width int
	right bool
	// key marks a group-by column, which shrinks to fit.
	key  bool
	cell func(g *store.Group) string
}

const sparkMin, sparkMax = 8, store.RingLen

// columns lays out the table for the terminal width: the key columns, the
// rates and the total always; then, as width allows, the sparkline, the
// cost, the sent and received totals and the number of flows. Key columns
// take what their widest value needs and shrink evenly when space is short.
func (m *Model) columns(rows []*store.Group) []column {
	win := store.Windows[m.window]
	fields := m.groupBy
	if m.drill != nil {
		// As many of the telling fields as fit at a readable width.
		fields = m.drill.columns[:min(len(m.drill.columns), max(1, (m.width-36)/14))]
	}
	var keys []column
	for i, f := range fields {
		w := 0
		for _, g := range rows {
			w = max(w, len(g.Values[i]))
		}
		title := columnTitle(f.Name)
		w = max(w, len(title))
		keys = append(keys, column{title: title, width: min(w, 40), key: true, cell: func(g *store.Group) string { return orDash(g.Values[i]) }})
	}
	rate := func(tx bool) func(g *store.Group) string {
		return func(g *store.Group) string {
			t, r := g.Rate(win)
			if tx {
				return flow.FormatRate(t)
			}
			return flow.FormatRate(r)
		}
	}
	fixed := []column{
		{title: fmt.Sprintf("SENT/%ds", win), width: 10, right: true, cell: rate(true)},
		{title: fmt.Sprintf("RECV/%ds", win), width: 10, right: true, cell: rate(false)},
		{title: "TOTAL", width: 9, right: true, cell: func(g *store.Group) string { return flow.FormatBytes(float64(g.TxBytes + g.RxBytes)) }},
	}
	// The sparkline and the cost come before the key columns' full width;
	// the sent and received totals and the flow count after it.
	optional := []column{
		{title: "LAST 40s", width: sparkMin},
		{title: "EST COST", width: 8, right: true, cell: func(g *store.Group) string {
			if g.Cost == 0 {
				return ""
			}
			return formatCost(g.Cost)
		}},
		{title: "SENT", width: 9, right: true, cell: func(g *store.Group) string { return flow.FormatBytes(float64(g.TxBytes)) }},
		{title: "RECV", width: 9, right: true, cell: func(g *store.Group) string { return flow.FormatBytes(float64(g.RxBytes)) }},
		{title: "FLOWS", width: 6, right: true, cell: func(g *store.Group) string { return count(g.Flows) }},
	}
	if m.cfg.Price == nil {
		optional = slices.Delete(optional, 1, 2)
	}
	if m.drill != nil {
		optional = optional[:len(optional)-1]
	}

	const gap = 1
	avail := m.width - 2 // the cursor and spike marks
	used := 0
	for _, c := range fixed {
		used += c.width + gap
	}
	keyMin, keyFull := 0, 0
	for _, c := range keys {
		keyMin += min(c.width, 10) + gap
		keyFull += c.width + gap
	}
	var extra []column
	for _, c := range optional {
		need := keyFull
		if c.title == "LAST 40s" || c.title == "EST COST" {
			need = keyMin
		}
		if used+c.width+gap+need <= avail {
			extra = append(extra, c)
			used += c.width + gap
		}
	}
	// Share what is left among the key columns (water filling), then let
	// the sparkline grow.
	left := avail - used - gap*len(keys)
	want := 0
	for _, c := range keys {
		want += c.width
	}
	if want > left {
		widths := make([]int, len(keys))
		for i, c := range keys {
			widths[i] = c.width
		}
		capW := waterFill(widths, left)
		for i := range keys {
			keys[i].width = max(min(keys[i].width, capW), 1)
		}
		left = 0
	} else {
		left -= want
	}
	var out []column
	out = append(out, keys...)
	out = append(out, fixed...)
	for _, c := range extra {
		if c.cell == nil {
			c.width = min(sparkMin+left, sparkMax)
			c.title = fmt.Sprintf("LAST %ds", c.width)
			left -= c.width - sparkMin
			w := c.width
			c.cell = func(g *store.Group) string { return sparkline(g.Series(w)) }
		}
		out = append(out, c)
	}
	return out
}

// columnTitle is the heading of a field's column: WORKLOAD for
// workload_name, DST KIND for dst_workload_kind.
func columnTitle(name string) string {
	name = strings.TrimSuffix(name, "_name")
	name = strings.Replace(name, "workload_kind", "kind", 1)
	return strings.ToUpper(strings.ReplaceAll(name, "_", " "))
}

// waterFill returns the largest cap such that the widths, each cut at cap,
// add up to at most total.
func waterFill(widths []int, total int) int {
	lo, hi := 1, 1
	for _, w := range widths {
		hi = max(hi, w)
	}
	for lo < hi {
		mid := (lo + hi + 1) / 2
		sum := 0
		for _, w := range widths {
			sum += min(w, mid)
		}
		if sum <= total {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

var sparkRunes = []rune(" ▁▂▃▄▅▆▇█")

// sparkline draws the series scaled to its own peak: the shape of a row's
// traffic, not its size (the rate columns give that).
func sparkline(series []float64) string {
	peak := 0.0
	for _, v := range series {
		peak = max(peak, v)
	}
	r := make([]rune, len(series))
	for i, v := range series {
		switch {
		case v <= 0 || peak == 0:
			r[i] = ' '
		default:
			r[i] = sparkRunes[1+min(int(v/peak*8), 7)]
		}
	}
	return string(r)
}

func (m *Model) tableView() string {
	s := m.styles
	h := m.bodyHeight()
	end := min(m.offset+h, len(m.rows))
	visible := m.rows[m.offset:end]
	cols := m.columns(visible)

	var b strings.Builder
	b.WriteString("  ")
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(' ')
		}
		if c.right {
			b.WriteString(s.ColHeader.Render(fitRight(c.title, c.width)))
		} else {
			b.WriteString(s.ColHeader.Render(fit(c.title, c.width)))
		}
	}
	b.WriteByte('\n')

	lines := 0
	for i, g := range visible {
		idx := m.offset + i
		var line strings.Builder
		mark := "  "
		switch {
		case idx == m.cursor && g.Spike:
			mark = "›▲"
		case idx == m.cursor:
			mark = "› "
		case g.Spike:
			mark = " ▲"
		}
		line.WriteString(mark)
		for j, c := range cols {
			if j > 0 {
				line.WriteByte(' ')
			}
			v := c.cell(g)
			if c.right {
				line.WriteString(fitRight(v, c.width))
			} else {
				line.WriteString(fit(v, c.width))
			}
		}
		text := fit(line.String(), m.width)
		if idx == m.cursor {
			text = s.Selected.Render(text)
		} else if g.Spike {
			text = s.Spike.Render(text[:len(mark)]) + text[len(mark):]
		} else if g.Active == 0 {
			text = s.Dim.Render(text)
		}
		b.WriteString(text)
		b.WriteByte('\n')
		lines++
	}
	if len(m.rows) == 0 {
		msg := "waiting for flows…"
		switch {
		case m.err != nil:
			msg = "no flows: the stream failed"
		case m.store.Len() > 0 && m.drill != nil:
			msg = "the group has no flows any more; esc goes back"
		case m.store.Len() > 0:
			msg = "no flow matches the filter; / edits it, esc clears it"
		case m.ended:
			msg = "the source had no flows"
		}
		b.WriteString(fit("  "+s.Dim.Render(msg), m.width))
		b.WriteByte('\n')
		lines++
	}
	for ; lines < h; lines++ {
		b.WriteByte('\n')
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func (m *Model) footerView() string {
	s := m.styles
	var left string
	switch {
	case m.err != nil:
		left = s.Error.Render("error: " + firstLine(m.err.Error()))
	case m.message != "":
		left = s.Warn.Render(m.message)
	case m.notice != "" && m.cfg.Now().Sub(m.noticeAt) < noticeTTL:
		left = s.Dim.Render(m.notice)
	}
	pos := ""
	if len(m.rows) > 0 {
		pos = fmt.Sprintf("%d/%d", m.cursor+1, len(m.rows))
	}
	var help []string
	switch m.mode {
	case modeFilter:
		help = []string{"enter apply", "esc cancel", "tab complete", "↑↓ history"}
	case modeGroup:
		help = []string{"enter apply", "space toggle field", "esc cancel"}
	default:
		if m.drill != nil {
			help = []string{"esc back", "s/r/t sort", "w window", "? help", "q quit"}
		} else {
			help = []string{"? help", "/ filter", "g group", "s/r/t sort", "w window", "enter flows", "n spike", "p pause", "q quit"}
		}
	}
	right := pos
	w := m.width - ansi.StringWidth(right) - 1
	if left == "" {
		var items []string
		used := 0
		for _, h := range help {
			if used+len(h)+2 > w {
				break
			}
			used += len(h) + 2
			k, d, _ := strings.Cut(h, " ")
			items = append(items, s.Key.Render(k)+" "+s.Footer.Render(d))
		}
		left = strings.Join(items, "  ")
	}
	return fit(left, w) + " " + right
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func (m *Model) helpView() string {
	s := m.styles
	var blocks [][]string
	for _, sec := range m.keys.sections() {
		lines := []string{s.Title.Render(sec.title)}
		for _, b := range sec.bindings {
			h := b.Help()
			lines = append(lines, s.Key.Render(fit(h.Key, 9))+" "+h.Desc)
		}
		blocks = append(blocks, lines)
	}
	blocks = append(blocks, []string{
		s.Title.Render("Reading the table"),
		"SENT/RECV: mean rate over the window",
		"TOTAL, SENT, RECV: since the start,",
		"  ended connections included",
		"LAST Ns: bytes/s, each row to its own scale",
		"▲ spike: last 2 s ≥ 4× the row's baseline",
		"EST COST: cross-zone and internet bytes",
		"dim rows: no traffic in the last 40 s",
	})
	// Pack the blocks into as many columns as the width allows, each as
	// tall as the screen; blocks that do not fit are left out (docs/tui.md
	// has everything).
	avail := m.height - 1
	var cols [][]string
	var cur []string
	for _, b := range blocks {
		if len(b) > avail {
			b = b[:avail]
		}
		if len(cur) > 0 && len(cur)+1+len(b) > avail {
			cols = append(cols, cur)
			cur = nil
		}
		if len(cur) > 0 {
			cur = append(cur, "")
		}
		cur = append(cur, b...)
	}
	cols = append(cols, cur)
	var rendered []string
	width := 0
	for _, c := range cols {
		w := 0
		for _, l := range c {
			w = max(w, ansi.StringWidth(l))
		}
		if width > 0 && width+3+w > m.width {
			break
		}
		if width > 0 {
			rendered = append(rendered, "   ")
			width += 3
		}
		rendered = append(rendered, lipgloss.NewStyle().Width(w).Render(strings.Join(c, "\n")))
		width += w
	}
	body := lipgloss.JoinHorizontal(lipgloss.Top, rendered...)
	out := []string{fit(s.Title.Render("netflow top: keys")+s.Dim.Render("  (? or esc closes; docs/tui.md has more)"), m.width)}
	for _, l := range strings.Split(body, "\n") {
		out = append(out, fit(l, m.width))
	}
	for len(out) < m.height {
		out = append(out, "")
	}
	return m.clip(strings.Join(out, "\n"))
}

// nodeReasons lists nodes with their reasons, "a (why), b (why)", by name.
func nodeReasons(m map[string]string) string {
	names := make([]string, 0, len(m))
	for n, why := range m {
		names = append(names, n+" ("+why+")")
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
