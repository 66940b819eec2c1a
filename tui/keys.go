package tui

import "github.com/charmbracelet/bubbles/key"

// KeyMap holds the key bindings of the UI. The help screen and docs/tui.md
// list them.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Home, End key.Binding

	Drill, Back key.Binding

	Filter, GroupBy key.Binding

	SortTx, SortRx, SortTotal, Cumulative, Window key.Binding

	NextSpike, PrevSpike key.Binding

	Pause, Help, Quit key.Binding

	// Editor and picker keys.
	Apply, Cancel, Complete, HistoryPrev, HistoryNext, Toggle key.Binding
}

// DefaultKeyMap returns the default bindings: k9s's and iftop's habits.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+b"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+f"), key.WithHelp("pgdn", "page down")),
		Home:     key.NewBinding(key.WithKeys("home"), key.WithHelp("home", "first row")),
		End:      key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("end/G", "last row")),

		Drill: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "flows of the group")),
		Back:  key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back / clear filter")),

		Filter:  key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "CEL filter")),
		GroupBy: key.NewBinding(key.WithKeys("g"), key.WithHelp("g", "group-by picker")),

		SortTx:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "by sent")),
		SortRx:     key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "by received")),
		SortTotal:  key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "by sent+received")),
		Cumulative: key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "by rate / cumulative")),
		Window:     key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "window 2s/10s/40s")),

		NextSpike: key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "next spike")),
		PrevSpike: key.NewBinding(key.WithKeys("N"), key.WithHelp("N", "previous spike")),

		Pause: key.NewBinding(key.WithKeys("p", " "), key.WithHelp("p/space", "pause / resume")),
		Help:  key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:  key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q/ctrl+c", "quit")),

		Apply:       key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply")),
		Cancel:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
		Complete:    key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "complete field")),
		HistoryPrev: key.NewBinding(key.WithKeys("up", "ctrl+p"), key.WithHelp("↑", "previous filter")),
		HistoryNext: key.NewBinding(key.WithKeys("down", "ctrl+n"), key.WithHelp("↓", "next filter")),
		Toggle:      key.NewBinding(key.WithKeys(" ", "x"), key.WithHelp("space/x", "tick / untick field")),
	}
}

// helpSection is one titled block of the help screen.
type helpSection struct {
	title    string
	bindings []key.Binding
}

func (k KeyMap) sections() []helpSection {
	return []helpSection{
		{"Table", []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End, k.Drill, k.Back}},
		{"View", []key.Binding{k.Filter, k.GroupBy, k.Window, k.NextSpike, k.PrevSpike, k.Pause, k.Help, k.Quit}},
		{"Sort (same key again: reverse)", []key.Binding{k.SortTx, k.SortRx, k.SortTotal, k.Cumulative}},
		{"Filter editor", []key.Binding{k.Apply, k.Cancel, k.Complete, k.HistoryPrev, k.HistoryNext}},
		{"Group-by picker", []key.Binding{k.Toggle, withHelp(k.Apply, "apply preset / ticked"), k.Cancel}},
	}
}

func withHelp(b key.Binding, desc string) key.Binding {
	b.SetHelp(b.Help().Key, desc)
	return b
}
