package cmd

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-netflow/kubectl-netflow/internal/version"
)

// NewCmdVersion returns the version command.
func NewCmdVersion(streams genericiooptions.IOStreams) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin version, its commit and the probe image it uses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := struct {
				Version    string `json:"version"`
				Commit     string `json:"commit"`
				ProbeImage string `json:"probeImage"`
				GoVersion  string `json:"goVersion"`
				Platform   string `json:"platform"`
			}{version.Version, version.Commit, version.ProbeImage(), runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH}
			switch out {
			case "":
				fmt.Fprintf(streams.Out, "kubectl-netflow %s (commit %s, %s, %s)\nprobe image: %s\n",
					info.Version, info.Commit, info.GoVersion, info.Platform, info.ProbeImage)
				return nil
			case "json":
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			return fmt.Errorf("--output: unknown format %q; valid formats: json", out)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "Output format: empty for text, or json.")
	return cmd
}
