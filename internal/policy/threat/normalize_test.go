package threat

import (
	"testing"
)

func TestNormalizeViews(t *testing.T) {
	tests := []struct {
		name, in, lower, squeezed string
	}{
		{"ascii", "Run `RM -rf`\tnow", "run `rm -rf` now", "runrmrfnow"},
		{"leetspeak", "1gn0re a11 $3cr3t5", "1gn0re a11 $3cr3t5", "ignoreaiisecrets"},
		{"l reads as i", "all", "all", "aii"},
		{"fullwidth", "ＩＧＮＯＲＥ", "ignore", "ignore"},
		{"math bold", "𝐢𝐠𝐧𝐨𝐫𝐞", "ignore", "ignore"},
		{"accents", "précédentes", "precedentes", "precedentes"},
		{"zero width", "ig\u200bno\u200dre", "ignore", "ignore"},
		{"cyrillic look-alikes", "\u0456gn\u043er\u0435", "ignore", "ignore"},
		{"greek capitals", "\u0399G\u039d\u039fR\u0395", "ignore", "ignore"},
		{"tag characters decoded", "a\U000E0068\U000E0069", "ahi", "ahi"},
		{"non-ascii punctuation is space", "a—b“c”", "a b c ", "abc"},
		{"cjk kept", "忽略 指令", "忽略 指令", "忽略指令"},
		{"invalid utf-8", "a\xffb", "a b", "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lower(tt.in); got != tt.lower {
				t.Errorf("lower(%q): got %q, want %q", tt.in, got, tt.lower)
			}
			if got := squeeze(tt.in); got != tt.squeezed {
				t.Errorf("squeeze(%q): got %q, want %q", tt.in, got, tt.squeezed)
			}
		})
	}
}

func TestNormalizeOffsets(t *testing.T) {
	var n normalizer
	n.normalize("aé\u200bB")
	// a at 0, é (2 bytes) at 1 -> "e", ZWSP (3 bytes) at 3 dropped, B at 6.
	want := []int{0, 1, 6}
	if string(n.lower) != "aeb" {
		t.Fatalf("lower: got %q, want %q", n.lower, "aeb")
	}
	for i, w := range want {
		if got := n.at(i); got != w {
			t.Errorf("at(%d): got %d, want %d", i, got, w)
		}
	}
	n.normalize("ASCII only")
	if n.lowerOff != nil || n.at(3) != 3 {
		t.Errorf("pure ASCII: got offsets %v, want the identity (nil)", n.lowerOff)
	}
}

func TestNormalizeStats(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want textStats
	}{
		{"bidi override", "x\u202Ey", textStats{bidiOverrides: 1, firstBidi: 1}},
		{"bidi mark is ordinary", "x\u200Fy", textStats{}},
		{"tags", "x\U000E0061\U000E0062", textStats{tagChars: 2, firstTag: 1}},
		{"flag tags are not counted", "🏴\U000E0067\U000E0062\U000E007F", textStats{}},
		{"selectors", "x\uFE00\uFE01", textStats{smugglingSelectors: 2, firstTag: 1}},
		{"emoji selector is not", "❤\uFE0F", textStats{}},
		{"nul", "a\x00b\x00", textStats{nul: 2, firstNUL: 1}},
		{"invisible", "a\u200bb", textStats{invisible: 1}},
		{"other script", "\u0430b", textStats{otherScript: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n normalizer
			n.normalize(tt.in)
			if n.stats != tt.want {
				t.Errorf("stats(%q): got %+v, want %+v", tt.in, n.stats, tt.want)
			}
		})
	}
}

func TestWordScan(t *testing.T) {
	tests := []struct {
		in                 string
		inWord, mixed, off int
	}{
		{"pl\u0430in", 0, 1, 0},
		{"ok \u0456gnore", 0, 1, 3},
		{"привет world", 0, 0, 0},
		{"ig\u200bno\u200bre", 2, 0, 0},
		{"a \u200b b", 0, 0, 0},
	}
	for _, tt := range tests {
		inWord, _, mixed, first := wordScan(tt.in)
		if inWord != tt.inWord || mixed != tt.mixed || mixed > 0 && first != tt.off {
			t.Errorf("wordScan(%q): got %d invisible in words, %d mixed at %d; want %d, %d at %d",
				tt.in, inWord, mixed, first, tt.inWord, tt.mixed, tt.off)
		}
	}
}

// TestLowerASCIIText checks the eight-bytes-at-a-time lower-casing against the table, for every
// ASCII byte in every position of a word.
func TestLowerASCIIText(t *testing.T) {
	for c := 0; c < 128; c++ {
		for pos := 0; pos < 9; pos++ {
			b := []byte("aZ\x00\x7f ~@[`{")
			b[pos%len(b)] = byte(c)
			text := string(b) + string(b)
			lw := make([]byte, len(text))
			if !lowerASCIIText(lw, text) {
				t.Fatalf("%q reported as non-ASCII", text)
			}
			for i := 0; i < len(text); i++ {
				if lw[i] != lowerASCII[text[i]] {
					t.Fatalf("byte %#x at %d of %q: got %#x, want %#x", text[i], i, text, lw[i], lowerASCII[text[i]])
				}
			}
		}
	}
	lw := make([]byte, 16)
	if lowerASCIIText(lw, "abcdefgh\xc3\xa9ijklmn") {
		t.Error("non-ASCII text reported as ASCII")
	}
}
