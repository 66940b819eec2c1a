//go:build e2e

package e2e

import (
	"os"
	"testing"
)

// TestMain removes the binaries the tests built once they are done.
func TestMain(m *testing.M) {
	code := m.Run()
	removeBuilds()
	os.Exit(code)
}
