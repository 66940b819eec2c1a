// Command docs regenerates the field reference in README.md from the field
// table, between the fields:begin and fields:end markers.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/kubectl-netflow/kubectl-netflow/plugin/cmd"
)

func main() {
	if err := run("README.md"); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	const begin, end = "<!-- fields:begin -->\n", "<!-- fields:end -->"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s lacks the fields:begin and fields:end markers", path)
	}
	s = s[:i+len(begin)] + cmd.FieldsMarkdown() + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}
