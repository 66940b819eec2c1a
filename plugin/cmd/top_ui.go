package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kubectl-netflow/kubectl-netflow/plugin/cost"
	"github.com/kubectl-netflow/kubectl-netflow/tui"
)

// uiOptions holds the flags of the terminal UI and of the cost estimate.
type uiOptions struct {
	priceCrossZone float64
	priceInternet  float64
	priceFile      string

	// changed reports whether a flag was given on the command line: -o
	// makes the machine outputs win over the UI even on a terminal, and an
	// explicit --price-* flag wins over the price file.
	changed   func(name string) bool
	outputSet bool
	prices    cost.Prices
}

func (o *TopOptions) addUIFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Float64Var(&o.ui.priceCrossZone, "price-cross-zone", cost.DefaultCrossZone,
		"Price in $/GiB of traffic crossing availability zones, charged on each side (default: AWS list price). Feeds EST COST and est_cost.")
	f.Float64Var(&o.ui.priceInternet, "price-internet", cost.DefaultInternet,
		"Price in $/GiB of traffic sent to the internet (default: AWS first-tier list price).")
	f.StringVar(&o.ui.priceFile, "price-file", "",
		"YAML or JSON price table (keys crossZone, internet in $/GiB); --price-* flags given explicitly override it.")
	o.ui.changed = f.Changed
}

func (o *TopOptions) validateUI() error {
	p := cost.Prices{CrossZone: o.ui.priceCrossZone, Internet: o.ui.priceInternet}
	if o.ui.priceFile != "" {
		var err error
		if p, err = cost.Load(o.ui.priceFile, cost.Default()); err != nil {
			return fmt.Errorf("--price-file: %w", err)
		}
		if o.ui.changed != nil && o.ui.changed("price-cross-zone") {
			p.CrossZone = o.ui.priceCrossZone
		}
		if o.ui.changed != nil && o.ui.changed("price-internet") {
			p.Internet = o.ui.priceInternet
		}
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("--price-cross-zone, --price-internet: %w", err)
	}
	if o.ui.changed != nil && o.ui.changed("output") {
		o.ui.outputSet = true
	}
	o.ui.prices = p
	o.cost = p.ForGroups(o.groupBy)
	return nil
}

// interactive reports whether top opens the terminal UI: stdout is a
// terminal, -o was not given and no --duration asks for a one-shot result.
func (o *TopOptions) interactive() bool {
	if o.ui.outputSet || o.Duration > 0 {
		return false
	}
	f, ok := o.Out.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (o *TopOptions) runUI(ctx context.Context) error {
	// Progress lines would scribble over the screen: they go to the UI's
	// footer instead.
	notices := make(chan string, 64)
	src, err := o.source(ctx, &noticeWriter{ch: notices})
	if err != nil {
		return err
	}
	cfg := tui.Config{
		Filter:  o.Filter,
		GroupBy: o.groupBy,
		Sort:    o.sortKey,
		Price:   o.ui.prices.PerByte,
		Notices: notices,
	}
	if o.Replay == "" && o.configFlags != nil && o.configFlags.Context != nil && *o.configFlags.Context != "" {
		cfg.Context = *o.configFlags.Context
	}
	opts := []tea.ProgramOption{tea.WithOutput(o.Out)}
	if in, ok := o.In.(*os.File); ok && o.Replay != "-" && term.IsTerminal(int(in.Fd())) {
		opts = append(opts, tea.WithInput(in))
	} else {
		// stdin carries the recording (--replay -) or is not a terminal:
		// read keys from the controlling terminal.
		opts = append(opts, tea.WithInputTTY())
	}
	err = tui.Run(ctx, src, cfg, opts...)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// noticeWriter hands each line written to it to the UI. A UI that falls
// behind loses lines rather than stalling the source.
type noticeWriter struct {
	mu      sync.Mutex
	partial []byte
	ch      chan<- string
}

func (w *noticeWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		if line := strings.TrimSpace(string(w.partial[:i])); line != "" {
			select {
			case w.ch <- line:
			default:
			}
		}
		w.partial = w.partial[i+1:]
	}
}
