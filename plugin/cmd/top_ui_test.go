package cmd

import (
	"fmt"
	"slices"
	"testing"
)

func TestNoticeWriter(t *testing.T) {
	ch := make(chan string, 2)
	w := &noticeWriter{ch: ch}
	// Lines arrive in pieces; blank lines are dropped; a full channel
	// drops lines instead of blocking the source.
	for _, s := range []string{"lab-a: pulling", " image\n\nlab-b: probe running\n", "lab-a: streaming\n"} {
		if n, err := fmt.Fprint(w, s); err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	close(ch)
	var got []string
	for l := range ch {
		got = append(got, l)
	}
	if want := []string{"lab-a: pulling image", "lab-b: probe running"}; !slices.Equal(got, want) {
		t.Fatalf("lines = %q, want %q", got, want)
	}
}
