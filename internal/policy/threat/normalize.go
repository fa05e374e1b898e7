package threat

import (
	"encoding/binary"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Normalization turns a text into the views the keyword automatons read.
//
// The lower view is built in one pass: compatibility decomposition (NFKD, so fullwidth,
// mathematical and circled letters become plain ones), combining marks dropped (é → e), zero-width,
// bidi and other invisible characters removed, Unicode tag characters decoded to the ASCII they
// smuggle, Cyrillic and Greek look-alikes mapped to the Latin letters they imitate, lower-cased,
// and non-ASCII punctuation, white space and control characters written as spaces (the automaton
// reads a run of spaces as one). ASCII punctuation is kept: shell syntax, paths and URLs are matched
// in this view. Pure-ASCII text maps byte for byte, so an offset in the view is an offset in the
// text; otherwise each byte records the offset in the original text it came from, so a finding can
// still say where it matched.
//
// The squeezed view is a byte-for-byte function of the lower view (squeezeByte): everything but
// letters and digits dropped, and the usual leetspeak read as letters (0→o, 1→i, 3→e, 4→a, 5→s,
// 7→t, @→a, $→s, and l→i so that "a11" and "all" meet). Phrases are matched there, so "i g n o r e",
// "ignore_previous-instructions", "1gn0re prev1ous" and "ignore\u200b previous" all read
// "ignorepreviousinstructions". It is never materialized: the scan loop computes it on the fly.
//
// Decomposition is applied rune by rune from the normalization tables, which keeps it free of
// allocations; since combining marks are dropped afterwards, matching sees what NFKC would give,
// folded further. Pure-ASCII text, the common case, takes a fast path of one table lookup per byte.

// lowerASCII maps an ASCII byte to its lower-view byte: letters lower-cased, white space and
// control characters to ' '.
var lowerASCII [256]byte

// squeezeKeep is 1 for the lower-view bytes the squeezed view keeps.
var squeezeKeep [256]uint8

// squeezeByte maps a lower-view byte to its squeezed byte, or 0 when it is dropped. Bytes of
// non-ASCII characters are kept: in the lower view they only ever belong to letters and digits.
var squeezeByte [256]byte

func init() {
	for c := 0; c < 128; c++ { // bytes >= 0x80 never reach the ASCII tables
		b := byte(c)
		switch {
		case b >= 'A' && b <= 'Z':
			lowerASCII[c] = b + 'a' - 'A'
		case b < 0x20 || b == 0x7f || b == ' ':
			lowerASCII[c] = ' '
		default:
			lowerASCII[c] = b
		}
	}
	for c := 0; c < 256; c++ {
		b := byte(c)
		switch {
		case b == 'l':
			squeezeByte[c] = 'i'
		case b >= 'a' && b <= 'z', b >= 0x80:
			squeezeByte[c] = b
		case b >= '0' && b <= '9':
			squeezeByte[c] = "oi2eas6t89"[b-'0']
		case b == '@':
			squeezeByte[c] = 'a'
		case b == '$':
			squeezeByte[c] = 's'
		}
		if squeezeByte[c] != 0 {
			squeezeKeep[c] = 1
		}
	}
}

// confusable maps Cyrillic and Greek letters that look like Latin ones (upper and lower case) to the
// lower-case Latin letter they imitate. It is deliberately small: the letters attackers use to
// dodge keyword filters, not the whole Unicode confusables table.
var confusable = map[rune]byte{
	// Cyrillic lower case
	'а': 'a', 'в': 'b', 'е': 'e', 'і': 'i', 'ј': 'j', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p',
	'с': 'c', 'т': 't', 'у': 'y', 'х': 'x', 'ѕ': 's', 'һ': 'h', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'ӏ': 'i',
	'ү': 'y', 'ɡ': 'g', 'ց': 'g', 'օ': 'o', 'ո': 'n', 'ս': 'u',
	// Cyrillic upper case
	'А': 'a', 'В': 'b', 'Е': 'e', 'І': 'i', 'Ј': 'j', 'К': 'k', 'М': 'm', 'Н': 'h', 'О': 'o', 'Р': 'p',
	'С': 'c', 'Т': 't', 'У': 'y', 'Х': 'x', 'Ѕ': 's', 'Һ': 'h', 'Ԁ': 'd', 'Ԛ': 'q', 'Ԝ': 'w', 'Ӏ': 'i',
	'Ү': 'y',
	// Greek lower case
	'α': 'a', 'β': 'b', 'γ': 'y', 'ε': 'e', 'η': 'n', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p',
	'τ': 't', 'υ': 'u', 'χ': 'x', 'ω': 'w', 'ϲ': 'c', 'ϳ': 'j',
	// Greek upper case
	'Α': 'a', 'Β': 'b', 'Ε': 'e', 'Ζ': 'z', 'Η': 'h', 'Ι': 'i', 'Κ': 'k', 'Μ': 'm', 'Ν': 'n', 'Ο': 'o',
	'Ρ': 'p', 'Τ': 't', 'Υ': 'y', 'Χ': 'x', 'Ϲ': 'c',
}

// invisible reports whether r renders as nothing (zero-width characters, joiners, soft hyphen, word
// joiners, invisible operators, fillers).
func invisible(r rune) bool {
	switch r {
	case 0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x200B, 0x200C, 0x200D,
		0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0x3164, 0xFEFF, 0xFFA0:
		return true
	}
	return false
}

// bidiControl reports whether r is a directional formatting character, and whether it is one of
// the embeddings, overrides and isolates (as opposed to the marks LRM, RLM, which are ordinary in
// right-to-left text). Those are how "Trojan Source" text is made to read differently from what
// it is.
func bidiControl(r rune) (override bool, ok bool) {
	switch {
	case r == 0x200E || r == 0x200F:
		return false, true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return true, true
	}
	return false, false
}

// textStats are the facts about a text that normalization removes but that are themselves signals.
// Offsets are those of the first occurrence.
type textStats struct {
	invisible          int // invisible characters (which of them sit inside words is decided later)
	bidiOverrides      int
	tagChars           int // Unicode tag characters outside an emoji flag sequence
	smugglingSelectors int // variation selectors other than the emoji ones (VS15, VS16)
	otherScript        int // Cyrillic or Greek letters
	nul                int
	firstBidi          int
	firstTag           int
	firstNUL           int
}

// normalizer holds the lower view of the text being scanned.
type normalizer struct {
	lower []byte
	// lowerOff maps each byte of lower to its offset in the original text; nil when the text was
	// pure ASCII and the mapping is the identity.
	lowerOff []int32
	offBuf   []int32
	stats    textStats
	flag     bool // inside an emoji tag sequence (after U+1F3F4)
	cache    [runeCache]classified
}

// at returns the offset in the original text of byte i of the lower view.
func (n *normalizer) at(i int) int {
	if n.lowerOff == nil {
		return i
	}
	return int(n.lowerOff[i])
}

// normalize fills the lower view from text.
func (n *normalizer) normalize(text string) {
	n.stats = textStats{}
	if cap(n.lower) < len(text) {
		n.lower = make([]byte, len(text), len(text)+len(text)/4+16)
	}
	lw := n.lower[:len(text)]
	if lowerASCIIText(lw, text) {
		n.lower, n.lowerOff = lw, nil
		if k := strings.IndexByte(text, 0); k >= 0 {
			n.stats.nul = strings.Count(text, "\x00")
			n.stats.firstNUL = k
		}
		return
	}
	// Some non-ASCII: the general path, with an offset per byte.
	n.lower, n.flag = n.lower[:0], false
	n.offBuf = n.offBuf[:0]
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			n.flag = false
			n.putASCII(c, i)
			i++
			continue
		}
		i = n.slow(text, i)
	}
	n.lowerOff = n.offBuf
}

// lowerASCIIText writes the lower view of text into lw (len(lw) == len(text)) and reports whether
// text is pure ASCII; when it is not, lw is garbage. Eight bytes are mapped at a time: upper case
// letters get 0x20 added, control characters and DEL become spaces.
func lowerASCIIText(lw []byte, text string) bool {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
		low7 = 0x7f7f7f7f7f7f7f7f
	)
	i := 0
	for ; i+8 <= len(text); i += 8 {
		x := uint64(text[i]) | uint64(text[i+1])<<8 | uint64(text[i+2])<<16 | uint64(text[i+3])<<24 |
			uint64(text[i+4])<<32 | uint64(text[i+5])<<40 | uint64(text[i+6])<<48 | uint64(text[i+7])<<56
		if x&high != 0 {
			return false
		}
		// Every byte is below 0x80, so adding up to 0x7f per byte never carries into the next.
		ge := (x + (0x80-'A')*ones) & high       // byte >= 'A'
		gt := (x + (0x80-'Z'-1)*ones) & high     // byte > 'Z'
		x |= (ge &^ gt) >> 2                     // A-Z: set 0x20
		ctl := ^(x + (0x80-0x20)*ones) & high    // byte < 0x20
		y := x ^ low7                            // DEL becomes 0
		ctl |= ^(((y & low7) + low7) | y) & high // byte == 0x7f
		mask := (ctl >> 7) * 0xff
		x = x&^mask | mask&(0x20*ones)
		binary.LittleEndian.PutUint64(lw[i:i+8], x)
	}
	for ; i < len(text); i++ {
		c := text[i]
		if c >= utf8.RuneSelf {
			return false
		}
		lw[i] = lowerASCII[c]
	}
	return true
}

func (n *normalizer) nul(at int) {
	if n.stats.nul == 0 {
		n.stats.firstNUL = at
	}
	n.stats.nul++
}

// put appends one lower-view byte read at original offset at.
func (n *normalizer) put(b byte, at int) {
	n.lower = append(n.lower, b)
	n.offBuf = append(n.offBuf, int32(at))
}

func (n *normalizer) putASCII(c byte, at int) {
	if c == 0 {
		n.nul(at)
	}
	n.put(lowerASCII[c], at)
}

// slow handles the non-ASCII character at text[i:] and returns the offset after it.
func (n *normalizer) slow(text string, i int) int {
	p := norm.NFKD.PropertiesString(text[i:])
	if d := p.Decomposition(); d != nil && p.Size() > 0 {
		for j := 0; j < len(d); {
			r, w := utf8.DecodeRune(d[j:])
			n.rune(r, i)
			j += w
		}
		return i + p.Size()
	}
	r, w := utf8.DecodeRuneInString(text[i:])
	if r == utf8.RuneError && w <= 1 {
		n.putASCII(' ', i) // invalid UTF-8 reads as a separator
		return i + 1
	}
	n.rune(r, i)
	return i + w
}

// rune appends one decomposed rune read at original offset at.
func (n *normalizer) rune(r rune, at int) {
	if r < utf8.RuneSelf {
		n.putASCII(byte(r), at)
		return
	}
	switch {
	case r >= 0xFE00 && r <= 0xFE0F, r >= 0xE0100 && r <= 0xE01EF:
		// Variation selectors (marks themselves, so tested first): VS15 and VS16 choose emoji
		// presentation; runs of the others are a known way to hide bytes in text.
		if r != 0xFE0E && r != 0xFE0F {
			if n.stats.smugglingSelectors == 0 && n.stats.tagChars == 0 {
				n.stats.firstTag = at
			}
			n.stats.smugglingSelectors++
		}
		return
	case invisible(r):
		n.stats.invisible++
		return
	case r >= 0xE0000 && r <= 0xE007F:
		// Tag characters: invisible copies of ASCII, used to smuggle instructions past a reader.
		// Decode them so the hidden text is scanned too. U+1F3F4 followed by tags is an emoji
		// subdivision flag and is left alone.
		if r == 0xE007F {
			n.flag = false
			return
		}
		if !n.flag {
			if n.stats.tagChars == 0 {
				n.stats.firstTag = at
			}
			n.stats.tagChars++
		}
		if r >= 0xE0020 && r <= 0xE007E {
			n.putASCII(byte(r-0xE0000), at)
		}
		return
	}
	if override, ok := bidiControl(r); ok {
		if override {
			if n.stats.bidiOverrides == 0 {
				n.stats.firstBidi = at
			}
			n.stats.bidiOverrides++
		}
		return
	}
	n.flag = r == 0x1F3F4
	// What remains depends on r alone: classify once and remember it in a small direct-mapped
	// cache, since natural-language text repeats the same few dozen characters.
	e := &n.cache[r&(runeCache-1)]
	if e.r != r || !e.ok {
		*e = classify(r)
	}
	if e.other {
		n.stats.otherScript++
	}
	for j := 0; j < int(e.n); j++ {
		n.put(e.b[j], at)
	}
}

// runeCache is the size of the normalizer's cache of classified runes (a power of two).
const runeCache = 256

// classified is how the lower view writes one (decomposed, visible) non-ASCII rune.
type classified struct {
	r     rune
	b     [utf8.UTFMax]byte
	n     uint8 // bytes of b written (0 for a combining mark, which is dropped)
	other bool  // a Cyrillic or Greek letter (for the homoglyph check)
	ok    bool  // the cache slot is filled
}

func classify(r rune) classified {
	c := classified{r: r, ok: true}
	if unicode.Is(unicode.Mn, r) {
		return c // a combining mark: é was decomposed to e + U+0301
	}
	if b, ok := confusable[r]; ok {
		c.b[0], c.n, c.other = b, 1, true
		return c
	}
	if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
		c.b[0], c.n = ' ', 1 // white space, and punctuation and symbols outside ASCII
		return c
	}
	c.other = unicode.In(r, unicode.Cyrillic, unicode.Greek)
	c.n = uint8(utf8.EncodeRune(c.b[:], unicode.ToLower(r)))
	return c
}

// wordScan looks at the original text for the two signals that need word boundaries, and is run
// only when normalization saw invisible characters or Cyrillic or Greek letters: invisible
// characters between two letters (a keyword split for a filter but not for a model), and words
// that mix Latin letters with Cyrillic or Greek ones. It returns the count and first offset of each.
func wordScan(text string) (inWord, firstInWord, mixed, firstMixed int) {
	prevLetter, pending, pendingAt := false, 0, 0
	latin, other, wordAt := false, false, 0
	endWord := func() {
		if latin && other {
			if mixed == 0 {
				firstMixed = wordAt
			}
			mixed++
		}
		latin, other = false, false
	}
	for i, r := range text {
		if invisible(r) {
			if pending == 0 {
				pendingAt = i
			}
			pending++
			continue
		}
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		letter := unicode.IsLetter(r)
		if !letter {
			endWord()
			prevLetter, pending = false, 0
			continue
		}
		if !prevLetter {
			endWord()
			wordAt = i
		} else if pending > 0 {
			if inWord == 0 {
				firstInWord = pendingAt
			}
			inWord += pending
		}
		pending = 0
		prevLetter = true
		switch {
		case r < utf8.RuneSelf:
			latin = true
		case unicode.In(r, unicode.Cyrillic, unicode.Greek):
			other = true
		default:
			if _, ok := confusable[r]; ok {
				other = true
			} else if unicode.In(r, unicode.Latin) {
				latin = true
			}
		}
	}
	endWord()
	return inWord, firstInWord, mixed, firstMixed
}

// squeeze returns the squeezed view of s: how a phrase pattern is compiled, so that patterns and
// text go through exactly the same mapping.
func squeeze(s string) string {
	var n normalizer
	n.normalize(s)
	out := make([]byte, 0, len(n.lower))
	for _, c := range n.lower {
		if q := squeezeByte[c]; q != 0 {
			out = append(out, q)
		}
	}
	return string(out)
}

// lower returns the lower view of s: how a syntax pattern is compiled.
func lower(s string) string {
	var n normalizer
	n.normalize(s)
	return string(n.lower)
}
