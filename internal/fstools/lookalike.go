package fstools

// lookalike returns the ASCII text a rune normalises to (Unicode NFKC) or is made to be confused
// with, when that text means something in a path or a shell — a dot, a separator, '$', '`', '%'
// or ';' — and "" otherwise. Such runes are refused rather than mapped: a path that relies
// on them is either an attack on some later layer that normalises (a client, a proxy, a file system
// on another platform) or a mistake, and refusing keeps what the policy saw identical to what the
// disk sees. Letters, digits and other punctuation of every script, fullwidth ones included, are
// left alone, so that ordinary CJK file names keep working; that is also why the fullwidth tilde and
// colon (common in Japanese titles, and harmful only to a shell or to Windows) are allowed.
func lookalike(r rune) string {
	switch r {
	case 0x2024, 0xff0e, 0xfe52, 0x2e33: // one dot leader, fullwidth and small full stop, raised dot
		return "."
	case 0x2025, 0xfe30: // two dot leader and its vertical form
		return ".."
	case 0x2026, 0xfe19: // horizontal ellipsis and its vertical form
		return "..."
	case 0xff0f, 0x2215, 0x2044, 0x29f8, 0x2571, 0x27cb, 0x2f03, 0x1735, 0x0337, 0x0338:
		// fullwidth solidus, division slash, fraction slash, big solidus, box-drawing diagonal,
		// rising diagonal, Kangxi radical slash, Philippine single punctuation, combining overlays
		return "/"
	case 0xff3c, 0xfe68, 0x2216, 0x29f5, 0x29f9, 0x2572, 0x27cd, 0x20e5:
		// fullwidth and small reverse solidus, set minus, reverse solidus operator, big reverse
		// solidus, box-drawing diagonal, falling diagonal, combining reverse solidus overlay
		return `\`
	case 0xff04, 0xfe69: // fullwidth and small dollar sign
		return "$"
	case 0xff40: // fullwidth grave accent
		return "`"
	case 0xff05, 0xfe6a: // fullwidth and small percent sign
		return "%"
	case 0xff1b, 0xfe54, 0xfe14: // fullwidth, small and vertical semicolon
		return ";"
	}
	return ""
}
