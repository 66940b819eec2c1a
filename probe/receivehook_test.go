package probe

import (
	"strings"
	"testing"
)

func TestParseReceiveHook(t *testing.T) {
	for in, want := range map[string]ReceiveHook{"": ReceiveHookSampled, "sampled": ReceiveHookSampled, "always": ReceiveHookAlways, "off": ReceiveHookOff} {
		got, err := ParseReceiveHook(in)
		if err != nil || got != want {
			t.Errorf("ParseReceiveHook(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := ParseReceiveHook("never")
	if err == nil || !strings.Contains(err.Error(), `"never"`) || !strings.Contains(err.Error(), "sampled, always, off") {
		t.Errorf("ParseReceiveHook(never): %v, want an error naming the value and the modes", err)
	}
}
