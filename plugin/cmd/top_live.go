package cmd

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

// liveOptions holds the flags of live collection from the cluster.
type liveOptions struct{}

func (o *TopOptions) addLiveFlags(*cobra.Command) {}

func (o *TopOptions) validateLive() error {
	return errors.New("live collection from the cluster is not available in this build; use --replay FILE")
}

func (o *TopOptions) liveSource(context.Context) (flow.Source, error) {
	return nil, errors.New("live collection from the cluster is not available in this build")
}
