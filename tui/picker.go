package tui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

// Preset is a named grouping offered by the group-by picker.
type Preset struct {
	Name   string
	Fields []string
}

// Presets are the groupings the picker offers first: the questions users
// ask of a cluster's traffic.
var Presets = []Preset{
	{"namespace pair", []string{"ns", "dst_ns"}},
	{"workload pair", []string{"ns", "workload_name", "dst_ns", "dst_workload_name", "dst_workload_kind"}},
	{"zone only", []string{"zone", "dst_zone"}},
	{"process only", []string{"process"}},
	{"node", []string{"node_name"}},
	{"node pair", []string{"node_name", "dst_node_name"}},
	{"destination kind", []string{"dst_workload_kind"}},
	{"domain", []string{"dst_domain"}},
}

type pickerItem struct {
	// heading is a section title; not selectable.
	heading string
	label   string
	fields  []*flow.Field // a preset or a recent grouping
	field   *flow.Field   // a single field to toggle
}

// groupPicker picks a grouping: a preset, a recent grouping, or fields
// ticked one by one in the order they should group.
type groupPicker struct {
	keys   KeyMap
	styles Styles

	items    []pickerItem
	cursor   int
	offset   int
	height   int
	selected []*flow.Field
}

func newGroupPicker(keys KeyMap, styles Styles) groupPicker {
	return groupPicker{keys: keys, styles: styles}
}

func mustFields(names []string) []*flow.Field {
	fs, err := flow.ParseFields(names)
	if err != nil {
		panic(err)
	}
	return fs
}

func fieldNames(fs []*flow.Field) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name
	}
	return strings.Join(names, ",")
}

func (p *groupPicker) open(current []*flow.Field, history [][]*flow.Field, height int) {
	p.selected = slices.Clone(current)
	p.height = max(height, 3)
	p.items = p.items[:0]
	p.items = append(p.items, pickerItem{heading: "Presets"})
	for _, pr := range Presets {
		p.items = append(p.items, pickerItem{label: pr.Name, fields: mustFields(pr.Fields)})
	}
	if len(history) > 1 {
		p.items = append(p.items, pickerItem{heading: "Recent"})
		// Newest first, and not the grouping in use.
		for i := len(history) - 2; i >= 0 && i >= len(history)-6; i-- {
			p.items = append(p.items, pickerItem{label: "recent", fields: history[i]})
		}
	}
	p.items = append(p.items, pickerItem{heading: "Fields (space ticks, in order; enter groups by the ticked fields)"})
	for _, n := range flow.GroupableFieldNames() {
		f, _ := flow.LookupField(n)
		p.items = append(p.items, pickerItem{field: f})
	}
	p.cursor, p.offset = 1, 0
	// Start on the preset in use, if any.
	for i, it := range p.items {
		if it.fields != nil && slices.Equal(it.fields, current) {
			p.cursor = i
			break
		}
	}
	p.scroll()
}

func (p *groupPicker) move(dir int) {
	for i := p.cursor + dir; i >= 0 && i < len(p.items); i += dir {
		if p.items[i].heading == "" {
			p.cursor = i
			break
		}
	}
	p.scroll()
}

func (p *groupPicker) scroll() {
	if p.cursor < p.offset+1 {
		p.offset = max(p.cursor-1, 0)
	}
	if rows := p.height - 1; p.cursor >= p.offset+rows {
		p.offset = p.cursor - rows + 1
	}
}

func (p *groupPicker) update(msg tea.KeyMsg) (editorAction, []*flow.Field) {
	it := p.items[p.cursor]
	switch {
	case key.Matches(msg, p.keys.Cancel), msg.String() == "g":
		return editorCancel, nil
	case key.Matches(msg, p.keys.Up):
		p.move(-1)
	case key.Matches(msg, p.keys.Down):
		p.move(1)
	case key.Matches(msg, p.keys.PageUp):
		for range p.height {
			p.move(-1)
		}
	case key.Matches(msg, p.keys.PageDown):
		for range p.height {
			p.move(1)
		}
	case key.Matches(msg, p.keys.Toggle):
		if it.field != nil {
			if i := slices.Index(p.selected, it.field); i >= 0 {
				p.selected = slices.Delete(p.selected, i, i+1)
			} else {
				p.selected = append(p.selected, it.field)
			}
		} else if it.fields != nil {
			p.selected = slices.Clone(it.fields)
		}
	case key.Matches(msg, p.keys.Apply):
		if it.fields != nil {
			return editorApply, it.fields
		}
		if len(p.selected) == 0 && it.field != nil {
			return editorApply, []*flow.Field{it.field}
		}
		return editorApply, slices.Clone(p.selected)
	}
	return editorNone, nil
}

func (p *groupPicker) view(width int) string {
	s := p.styles
	lines := []string{fit(s.Title.Render("Group by ")+s.Label.Render("ticked: ")+orDash(fieldNames(p.selected)), width)}
	end := min(p.offset+p.height-1, len(p.items))
	for i := p.offset; i < end; i++ {
		it := p.items[i]
		var text string
		switch {
		case it.heading != "":
			text = s.Title.Render(it.heading)
		case it.field != nil:
			box := "[ ]"
			if j := slices.Index(p.selected, it.field); j >= 0 {
				box = fmt.Sprintf("[%d]", j+1)
			}
			text = fmt.Sprintf("  %s %-18s %s", box, it.field.Name, s.Dim.Render(it.field.Description))
		default:
			text = fmt.Sprintf("  %-17s %s", it.label, s.Dim.Render(fieldNames(it.fields)))
		}
		if i == p.cursor {
			text = s.Selected.Render(fit("›"+strings.TrimPrefix(ansi.Strip(text), " "), width))
		}
		lines = append(lines, fit(text, width))
	}
	for len(lines) < p.height {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}
