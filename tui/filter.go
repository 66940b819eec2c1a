package tui

import (
	"errors"
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/query"
)

type editorAction int

const (
	editorNone editorAction = iota
	editorApply
	editorCancel
)

// maxErrorLines bounds the validation message under the input.
const maxErrorLines = 5

// filterEditor edits a CEL filter: it compiles on every change and shows
// cel-go's message with its caret, completes field names on Tab and walks
// the session's filters with ↑ and ↓.
type filterEditor struct {
	keys   KeyMap
	styles Styles
	input  textinput.Model
	width  int

	compiled *query.Filter
	errMsg   string

	history []string
	histPos int
	draft   string

	// Tab cycles through the fields that complete the word at the cursor.
	tabWord    string
	tabMatches []string
	tabNext    int
}

func newFilterEditor(keys KeyMap, styles Styles) filterEditor {
	in := textinput.New()
	in.Prompt = "/ "
	in.Placeholder = `e.g. ns == "shop" && dst_workload_kind == "internet"`
	in.CharLimit = 4096
	// A blinking cursor would repaint the screen twice a second for nothing.
	in.Cursor.SetMode(cursor.CursorStatic)
	// Tab and the arrows belong to completion and history.
	in.KeyMap.AcceptSuggestion = key.NewBinding(key.WithDisabled())
	in.KeyMap.NextSuggestion = key.NewBinding(key.WithDisabled())
	in.KeyMap.PrevSuggestion = key.NewBinding(key.WithDisabled())
	return filterEditor{keys: keys, styles: styles, input: in}
}

func (e *filterEditor) setWidth(w int) {
	e.width = w
	e.input.Width = max(w-len(e.input.Prompt)-1, 10)
}

func (e *filterEditor) value() string { return e.input.Value() }

// height is the number of lines the editor takes under the table.
func (e *filterEditor) height() int { return 2 + maxErrorLines }

func (e *filterEditor) open(expr string, history []string) tea.Cmd {
	e.history = history
	e.histPos = len(history)
	e.input.SetValue(expr)
	e.input.CursorEnd()
	e.resetTab()
	e.validate()
	return e.input.Focus()
}

func (e *filterEditor) validate() {
	e.compiled, e.errMsg = nil, ""
	expr := strings.TrimSpace(e.input.Value())
	if expr == "" {
		return
	}
	f, err := query.CompileFilter(expr)
	if err != nil {
		var fe *query.FilterError
		if errors.As(err, &fe) {
			e.errMsg = fe.Msg
		} else {
			e.errMsg = err.Error()
		}
		return
	}
	e.compiled = f
}

func (e *filterEditor) resetTab() { e.tabWord, e.tabMatches, e.tabNext = "", nil, 0 }

func (e *filterEditor) update(msg tea.KeyMsg) (editorAction, tea.Cmd) {
	switch {
	case key.Matches(msg, e.keys.Apply):
		if e.errMsg != "" {
			return editorNone, nil
		}
		e.input.Blur()
		return editorApply, nil
	case key.Matches(msg, e.keys.Cancel):
		e.input.Blur()
		return editorCancel, nil
	case key.Matches(msg, e.keys.Complete):
		e.complete()
		e.validate()
		return editorNone, nil
	case key.Matches(msg, e.keys.HistoryPrev):
		e.walkHistory(-1)
		return editorNone, nil
	case key.Matches(msg, e.keys.HistoryNext):
		e.walkHistory(1)
		return editorNone, nil
	}
	e.resetTab()
	before := e.input.Value()
	var cmd tea.Cmd
	e.input, cmd = e.input.Update(msg)
	if e.input.Value() != before {
		e.validate()
	}
	return editorNone, cmd
}

func (e *filterEditor) walkHistory(dir int) {
	if len(e.history) == 0 {
		return
	}
	if e.histPos == len(e.history) {
		e.draft = e.input.Value()
	}
	e.histPos = min(max(e.histPos+dir, 0), len(e.history))
	if e.histPos == len(e.history) {
		e.input.SetValue(e.draft)
	} else {
		e.input.SetValue(e.history[e.histPos])
	}
	e.input.CursorEnd()
	e.validate()
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// complete completes the field name before the cursor: to the longest common
// prefix of the fields that match, then, on the next Tabs, through each of
// them in turn.
func (e *filterEditor) complete() {
	v := e.input.Value()
	pos := min(e.input.Position(), len(v))
	start := pos
	for start > 0 && isIdent(v[start-1]) {
		start--
	}
	word := v[start:pos]
	if e.tabMatches == nil || word != e.tabWord {
		e.tabMatches = nil
		for _, n := range flow.FieldNames() {
			if strings.HasPrefix(n, word) {
				e.tabMatches = append(e.tabMatches, n)
			}
		}
		e.tabNext = 0
		if len(e.tabMatches) == 0 {
			e.resetTab()
			return
		}
		if lcp := commonPrefix(e.tabMatches); len(lcp) > len(word) {
			e.replace(start, pos, lcp)
			if len(e.tabMatches) == 1 {
				e.resetTab()
				return
			}
			e.tabWord = lcp
			return
		}
	}
	if len(e.tabMatches) == 0 {
		return
	}
	next := e.tabMatches[e.tabNext%len(e.tabMatches)]
	e.tabNext++
	e.replace(start, pos, next)
	e.tabWord = next
}

func (e *filterEditor) replace(start, end int, s string) {
	v := e.input.Value()
	e.input.SetValue(v[:start] + s + v[end:])
	e.input.SetCursor(start + len(s))
}

func commonPrefix(ss []string) string {
	p := ss[0]
	for _, s := range ss[1:] {
		for !strings.HasPrefix(s, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}

func (e *filterEditor) view() string {
	s := e.styles
	lines := []string{fit(e.input.View(), e.width)}
	switch {
	case e.errMsg != "":
		msg := strings.Split(strings.TrimRight(e.errMsg, "\n"), "\n")
		if len(msg) > maxErrorLines {
			msg = append(msg[:maxErrorLines-1], "…")
		}
		for _, l := range msg {
			lines = append(lines, fit(s.Error.Render(l), e.width))
		}
	case strings.TrimSpace(e.input.Value()) == "":
		lines = append(lines, fit(s.Dim.Render("empty: every flow; enter applies"), e.width))
	default:
		lines = append(lines, fit(s.Dim.Render("✓ valid; enter applies"), e.width))
	}
	if len(e.tabMatches) > 1 {
		lines = append(lines, fit(s.Label.Render("tab: ")+strings.Join(e.tabMatches, " "), e.width))
	}
	for len(lines) < e.height() {
		lines = append(lines, "")
	}
	return strings.Join(lines[:e.height()], "\n")
}
