package tui

import (
	"context"
	"errors"
	"fmt"
	"sync"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

// Run shows the UI until the user quits or ctx ends, with the records src
// streams. It returns only after src.Stream has returned, so the caller can
// tear down what feeds the source (the probes) right away. A source that
// failed is reported as the error, after the screen is restored.
func Run(ctx context.Context, src flow.Source, cfg Config, opts ...tea.ProgramOption) error {
	m, err := New(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.feed = newFeed()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.feed.run(ctx, src)
	}()

	opts = append([]tea.ProgramOption{tea.WithAltScreen(), tea.WithContext(ctx)}, opts...)
	_, err = tea.NewProgram(m, opts...).Run()
	cancel()
	wg.Wait()
	switch {
	case errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil:
		// The caller's context ended (SIGTERM): a clean stop.
	case err != nil:
		return fmt.Errorf("running the terminal UI: %w", err)
	}
	if m.err != nil {
		return fmt.Errorf("streaming flows: %w", m.err)
	}
	return nil
}
