package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

// FieldsOptions prints the field table.
type FieldsOptions struct {
	Output string
	genericiooptions.IOStreams
}

// NewCmdFields returns the fields command.
func NewCmdFields(streams genericiooptions.IOStreams) *cobra.Command {
	o := &FieldsOptions{IOStreams: streams, Output: "table"}
	cmd := &cobra.Command{
		Use:   "fields",
		Short: "List the fields of a flow record, for --filter and --group-by",
		Example: `  kubectl netflow fields
  kubectl netflow fields -o markdown`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", o.Output, "Output format: table, json or markdown.")
	return cmd
}

// Validate checks the flags.
func (o *FieldsOptions) Validate() error {
	switch o.Output {
	case "table", "json", "markdown":
		return nil
	}
	return fmt.Errorf("--output: unknown format %q; valid formats: table, json, markdown", o.Output)
}

// Run prints the fields.
func (o *FieldsOptions) Run() error {
	switch o.Output {
	case "json":
		type field struct {
			Name        string `json:"name"`
			Type        string `json:"type"`
			Section     string `json:"section"`
			Description string `json:"description"`
		}
		out := make([]field, len(flow.Fields))
		for i, f := range flow.Fields {
			out[i] = field{f.Name, f.Type.String(), f.Section, f.Description}
		}
		enc := json.NewEncoder(o.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "markdown":
		_, err := io.WriteString(o.Out, FieldsMarkdown())
		return err
	}
	tw := tabwriter.NewWriter(o.Out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tSECTION\tDESCRIPTION")
	for _, f := range flow.Fields {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Name, f.Type, f.Section, f.Description)
	}
	return tw.Flush()
}

// FieldsMarkdown renders the field table as the README's field reference.
func FieldsMarkdown() string {
	var b strings.Builder
	b.WriteString("| field | type | section | description |\n|---|---|---|---|\n")
	for _, f := range flow.Fields {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.Name, f.Type, f.Section, f.Description)
	}
	return b.String()
}
