package redact

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	if got := Clip("tools/call", 200); got != "tools/call" {
		t.Errorf("short: %q", got)
	}
	long := strings.Repeat("é", 150) // 300 bytes
	got := Clip(long, 201)           // cuts the 101st character in half
	if !utf8.ValidString(got) || got != strings.Repeat("é", 100)+"..." {
		t.Errorf("long: %q", got)
	}
}
