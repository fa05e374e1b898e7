package auditlog

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"empty", "", 5, ""},
		{"short", "abc", 5, "abc"},
		{"exactly max", "abcde", 5, "abcde"},
		{"one over", "abcdef", 5, "abcde...[TRUNCATED from 6 chars]"},
		{"counts runes not bytes", "ééééé", 5, "ééééé"},
		{"cuts on a rune boundary", "日本語テキスト", 3, "日本語...[TRUNCATED from 7 chars]"},
		{"emoji", "🚀🚀🚀", 1, "🚀...[TRUNCATED from 3 chars]"},
		{"zero", "abc", 0, "...[TRUNCATED from 3 chars]"},
		{"negative is zero", "abc", -1, "...[TRUNCATED from 3 chars]"},
		{"invalid bytes count one each", "\xff\xfe\xfd", 2, "\xff\xfe...[TRUNCATED from 3 chars]"},
		{"field limit", strings.Repeat("x", 501), MaxFieldChars, strings.Repeat("x", 500) + "...[TRUNCATED from 501 chars]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Truncate(tc.in, tc.max); got != tc.want {
				t.Errorf("Truncate(%q, %d): got %q, want %q", tc.in, tc.max, got, tc.want)
			}
		})
	}
}

func TestFit(t *testing.T) {
	controls := func(n int) string { return strings.Repeat("\x01", n) } // 6 bytes each when encoded
	tests := []struct {
		name string
		rec  Record
		// want gives, per member, the characters kept before the suffix,
		// or -1 for "unchanged".
		want map[string]int
		// cut lists members that must be cut to some length below
		// MaxFieldChars that the test does not pin.
		cut []string
	}{
		{
			name: "small record untouched",
			rec:  Record{Reason: "short", ArgsPreview: `{"a":1}`},
			want: map[string]int{"reason": -1, "args": -1},
		},
		{
			name: "every member cut to MaxFieldChars",
			rec:  Record{Reason: strings.Repeat("r", 700), Tool: strings.Repeat("t", 501), ArgsPreview: "ok"},
			want: map[string]int{"reason": 500, "tool": 500, "args": -1},
		},
		{
			name: "result preview shrinks first",
			rec:  Record{ResultPreview: controls(500), ArgsPreview: controls(500), Reason: controls(500), Detail: controls(500)},
			want: map[string]int{"args": -1, "reason": -1, "detail": -1},
			cut:  []string{"result"},
		},
		{
			name: "then the arguments preview",
			rec: Record{ResultPreview: controls(500), ArgsPreview: controls(500), Reason: controls(500),
				Detail: controls(500), EngineError: controls(500)},
			want: map[string]int{"result": 0, "reason": -1, "detail": -1, "engine_error": -1},
			cut:  []string{"args"},
		},
		{
			name: "then free text and identifiers, until it fits",
			rec: func() Record {
				var r Record
				for _, p := range r.shrinkOrder() {
					*p = controls(500)
				}
				return r
			}(),
			want: map[string]int{"result": 0, "args": 0, "detail": 0},
		},
		{
			name: "roles dropped as a last resort",
			rec: func() Record {
				var r Record
				for i := range 200 {
					r.Roles = append(r.Roles, controls(100)+strings.Repeat("x", i%3))
				}
				return r
			}(),
			want: map[string]int{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := tc.rec
			r := tc.rec
			r.Type = TypeDecision
			fit(&r)
			if size, _ := encodedSize(&r, nil); size > MaxRecordBytes {
				t.Errorf("encoded size after fit: got %d, want at most %d", size, MaxRecordBytes)
			}
			fields := map[string][2]string{
				"reason": {orig.Reason, r.Reason}, "tool": {orig.Tool, r.Tool}, "args": {orig.ArgsPreview, r.ArgsPreview},
				"result": {orig.ResultPreview, r.ResultPreview}, "detail": {orig.Detail, r.Detail},
				"engine_error": {orig.EngineError, r.EngineError},
			}
			for name, keep := range tc.want {
				in, got := fields[name][0], fields[name][1]
				want := in
				if keep >= 0 {
					want = Truncate(in, keep)
				}
				if got != want {
					t.Errorf("%s: got %d chars %q…, want %d chars %q…", name,
						utf8.RuneCountInString(got), prefix(got), utf8.RuneCountInString(want), prefix(want))
				}
			}
			for _, name := range tc.cut {
				got := fields[name][1]
				suffix := truncatedSuffix(utf8.RuneCountInString(fields[name][0]))
				kept := utf8.RuneCountInString(strings.TrimSuffix(got, suffix))
				if !strings.HasSuffix(got, suffix) || kept >= MaxFieldChars {
					t.Errorf("%s: got %d chars ending %q, want it cut below %d chars with suffix %q",
						name, kept, got[max(0, len(got)-30):], MaxFieldChars, suffix)
				}
			}
			if len(orig.Roles) > 0 && len(r.Roles) > 0 && &orig.Roles[0] == &r.Roles[0] {
				t.Errorf("fit modified the caller's roles slice in place")
			}
		})
	}
}

func prefix(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

func TestFitRolesMarker(t *testing.T) {
	var r Record
	r.Type = TypeDecision
	for range 300 {
		r.Roles = append(r.Roles, strings.Repeat("\x01", 60))
	}
	fit(&r)
	last := r.Roles[len(r.Roles)-1]
	if want := "...[TRUNCATED from 300 roles]"; last != want {
		t.Errorf("last role: got %q, want %q", last, want)
	}
	if len(r.Roles) < 2 {
		t.Errorf("kept %d roles, want the leading roles that fit to stay", len(r.Roles)-1)
	}
}

// TestQuickFitIsConservative grows a record for as long as quickFit says it
// certainly fits, and checks that it does.
func TestQuickFitIsConservative(t *testing.T) {
	for _, fill := range []string{"\x01", "a", "\xff", "€"} {
		t.Run(fmt.Sprintf("%q", fill), func(t *testing.T) {
			r := Record{Type: TypeCheckpoint, Roles: []string{"a", "b"}, LatencyUS: math.MinInt64, UpstreamUS: math.MinInt64,
				Time: goldenTime, Checkpoint: &Checkpoint{OfSeq: math.MaxUint64, OfHash: GenesisHash, Reason: CheckpointRotate,
					KeyID: "0123456789abcdef", Sig: strings.Repeat("A", 88)}}
			refs := r.shrinkOrder()
			for n := 1; ; n++ {
				for _, p := range refs {
					*p = strings.Repeat(fill, n)
				}
				if !quickFit(&r) {
					break
				}
				if size, _ := encodedSize(&r, nil); size > MaxRecordBytes {
					t.Fatalf("%d characters per member: quickFit says it fits, but it is %d bytes", n, size)
				}
			}
		})
	}
}
