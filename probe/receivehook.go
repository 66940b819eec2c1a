package probe

import (
	"fmt"
	"strings"
)

// ReceiveHook says when the socket layer's receive hook runs: the hook that
// makes a process that only reads from a socket its owner. It runs on every
// receive of the node, which is most of the probe's cost where receives
// are many and small.
type ReceiveHook string

const (
	// ReceiveHookSampled attaches the hook for a window of every period
	// (100 ms of each second): a process that only reads from a socket
	// becomes its owner at its first read in a window, and the bytes
	// before that count as the previous owner's.
	ReceiveHookSampled ReceiveHook = "sampled"
	// ReceiveHookAlways keeps the hook attached: such a process owns the
	// socket from its first read.
	ReceiveHookAlways ReceiveHook = "always"
	// ReceiveHookOff runs nothing on receives: such a socket stays counted
	// as the process that made it (for an accepted socket, the listener's
	// maker) or sent on it last.
	ReceiveHookOff ReceiveHook = "off"
)

// ReceiveHookUsage is the help of the --receive-hook flags of the plugin and
// the probe.
const ReceiveHookUsage = "When the eBPF program runs that makes a process that only reads from a socket its owner: " +
	"sampled (100 ms of every second; such a process owns the socket from its first read in a window), " +
	"always (on every receive: exact, at a cost on nodes with many small receives) " +
	"or off (such a socket counts as the process that made it, or sent on it last)."

// ReceiveHooks lists the modes, the default first.
var ReceiveHooks = []ReceiveHook{ReceiveHookSampled, ReceiveHookAlways, ReceiveHookOff}

// ParseReceiveHook returns the mode s names; empty is the default.
func ParseReceiveHook(s string) (ReceiveHook, error) {
	if s == "" {
		return ReceiveHookSampled, nil
	}
	for _, m := range ReceiveHooks {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown receive hook mode %q: want one of %s", s, strings.Join(ReceiveHookNames(), ", "))
}

// ReceiveHookNames returns the names of the modes, the default first.
func ReceiveHookNames() []string {
	names := make([]string, len(ReceiveHooks))
	for i, m := range ReceiveHooks {
		names[i] = string(m)
	}
	return names
}
