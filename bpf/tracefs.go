//go:build linux

package bpf

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// TracefsDir is where the classic tracepoints (the fallback hook set, the
// accept hooks) find tracefs.
const TracefsDir = "/sys/kernel/tracing"

// MountTracefs mounts tracefs on TracefsDir unless it is there already, and
// returns the function that undoes what it did (nothing when it mounted
// nothing). Call it before Load: the eBPF library looks for tracefs once
// per process. The probe's pod mounts it in its own mount namespace, which
// ends with the pod.
func MountTracefs() (unmount func() error, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(TracefsDir, &st); err == nil && st.Type == unix.TRACEFS_MAGIC {
		return func() error { return nil }, nil
	} else if err != nil && !errors.Is(err, unix.ENOENT) {
		return nil, fmt.Errorf("looking at %s: %w", TracefsDir, err)
	}
	if err := unix.Mount("tracefs", TracefsDir, "tracefs", 0, ""); err != nil {
		return nil, fmt.Errorf("mounting tracefs on %s: %w", TracefsDir, err)
	}
	return func() error { return unix.Unmount(TracefsDir, 0) }, nil
}
