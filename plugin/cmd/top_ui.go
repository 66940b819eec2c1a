package cmd

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

// uiOptions holds the flags of the terminal UI.
type uiOptions struct{}

func (o *TopOptions) addUIFlags(*cobra.Command) {}

func (o *TopOptions) validateUI() error { return nil }

// interactive reports whether top opens the terminal UI.
func (o *TopOptions) interactive() bool { return false }

func (o *TopOptions) runUI(context.Context, flow.Source) error {
	return errors.New("the terminal UI is not available in this build")
}
