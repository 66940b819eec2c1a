// Package version holds the build identity of kubectl-netflow and its probe.
//
// The values are stamped at link time by the Makefile:
//
//	-X github.com/kubectl-netflow/kubectl-netflow/internal/version.Version=v0.1.0
package version

import "fmt"

// Version is the release of the plugin and the probe. Local builds are "dev".
var Version = "dev"

// Commit is the git commit the binary was built from.
var Commit = "unknown"

// ImageRepository is where the probe image is published. A release's probe
// image is ImageRepository:Version, so a plugin always asks for the probe of
// its own version.
var ImageRepository = "ghcr.io/kubectl-netflow/netflow-probe"

// ProbeImage returns the probe image reference this build uses by default.
func ProbeImage() string {
	return fmt.Sprintf("%s:%s", ImageRepository, Version)
}
