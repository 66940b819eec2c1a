package tui

import "github.com/charmbracelet/lipgloss"

// Styles holds the lipgloss styles of the UI. Information never rides on
// color alone: spikes carry a ▲, the cursor a ›, errors a heading, so the
// UI reads the same with NO_COLOR.
type Styles struct {
	Title     lipgloss.Style
	Header    lipgloss.Style
	Label     lipgloss.Style
	Warn      lipgloss.Style
	Error     lipgloss.Style
	ColHeader lipgloss.Style
	Cell      lipgloss.Style
	Dim       lipgloss.Style
	Selected  lipgloss.Style
	Spike     lipgloss.Style
	Spark     lipgloss.Style
	Cost      lipgloss.Style
	Footer    lipgloss.Style
	Key       lipgloss.Style
	Input     lipgloss.Style
	Box       lipgloss.Style
}

// DefaultStyles returns the default styles. lipgloss drops the colors when
// NO_COLOR is set or the terminal has none; bold and reverse video remain.
func DefaultStyles() Styles {
	accent := lipgloss.AdaptiveColor{Light: "#005f87", Dark: "#5fafff"}
	dim := lipgloss.AdaptiveColor{Light: "#767676", Dark: "#8a8a8a"}
	warn := lipgloss.AdaptiveColor{Light: "#af5f00", Dark: "#ffaf00"}
	red := lipgloss.AdaptiveColor{Light: "#af0000", Dark: "#ff5f5f"}
	green := lipgloss.AdaptiveColor{Light: "#008700", Dark: "#87d787"}
	return Styles{
		Title:     lipgloss.NewStyle().Bold(true).Foreground(accent),
		Header:    lipgloss.NewStyle(),
		Label:     lipgloss.NewStyle().Foreground(dim),
		Warn:      lipgloss.NewStyle().Foreground(warn),
		Error:     lipgloss.NewStyle().Foreground(red),
		ColHeader: lipgloss.NewStyle().Bold(true),
		Cell:      lipgloss.NewStyle(),
		Dim:       lipgloss.NewStyle().Foreground(dim),
		Selected:  lipgloss.NewStyle().Reverse(true),
		Spike:     lipgloss.NewStyle().Bold(true).Foreground(red),
		Spark:     lipgloss.NewStyle().Foreground(green),
		Cost:      lipgloss.NewStyle().Foreground(warn),
		Footer:    lipgloss.NewStyle().Foreground(dim),
		Key:       lipgloss.NewStyle().Bold(true).Foreground(accent),
		Input:     lipgloss.NewStyle(),
		Box:       lipgloss.NewStyle(),
	}
}
