package threat

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// maxValueDepth bounds the walk of nested values; the codec already refuses deeper messages.
const maxValueDepth = 128

// span is a half-open byte range.
type span struct{ start, end int }

// pathSeg is one step of the JSON path of the string being scanned, kept unformatted until a
// finding needs it.
type pathSeg struct {
	key    string
	index  int
	member bool // an object member (key) rather than an array element (index)
}

// scan is the state of one ScanValue, ScanText or ScanTool call. It is pooled.
type scan struct {
	s    *Scanner
	n    normalizer
	tool bool

	root      string
	path      []pathSeg
	inKey     bool // the string being scanned is the last member's name
	keyBuf    []string
	remaining int

	// ScanJSON's tokens, the open objects and arrays while tokenizing, and the members of the
	// objects being walked.
	toks    []jtok
	open    []int32
	members []jmember

	findings []policy.Finding
	ruleKept [numRules]bool // some finding of the rule is in findings
	seen     [numRules]bool // the rule was reported for the current string

	// Decoding layers of the text being scanned: names ("base64", "url") and the offset in the
	// top-level string of the outermost encoded span.
	layers   []string
	layerOff int
	depth    int
	budget   int
	cands    [][]candidate // per depth

	// Scratch for one pass over the views.
	pairA       [numPairs]span // the last A phrase of each pair: {squeezed length, lower-view end}
	downloadEnd int
	travEnd     int
	urls        []span
	secrets     []int
}

// candidate is a span of the original text that may be encoded.
type candidate struct {
	span
	kind uint8 // candBase64Std, candBase64URL, candPercent
}

// value walks v.
func (sc *scan) value(root string, v any, depth int) {
	sc.root = root
	sc.path = sc.path[:0]
	sc.inKey = false
	sc.walk(v, depth)
}

func (sc *scan) walk(v any, depth int) {
	if depth > maxValueDepth || sc.remaining <= 0 {
		return
	}
	switch x := v.(type) {
	case string:
		sc.text(x)
	case map[string]any:
		start := len(sc.keyBuf)
		for k := range x {
			sc.keyBuf = append(sc.keyBuf, k)
		}
		sort.Strings(sc.keyBuf[start:])
		end := len(sc.keyBuf)
		for i := start; i < end; i++ {
			k := sc.keyBuf[i]
			sc.path = append(sc.path, pathSeg{key: k, member: true})
			sc.inKey = true
			sc.text(k)
			sc.inKey = false
			sc.walk(x[k], depth+1)
			sc.path = sc.path[:len(sc.path)-1]
		}
		sc.keyBuf = sc.keyBuf[:start]
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		sc.walk(m, depth)
	case []any:
		for i, e := range x {
			sc.path = append(sc.path, pathSeg{index: i})
			sc.walk(e, depth+1)
			sc.path = sc.path[:len(sc.path)-1]
		}
	case []string:
		for i, e := range x {
			sc.path = append(sc.path, pathSeg{index: i})
			sc.text(e)
			sc.path = sc.path[:len(sc.path)-1]
		}
	case json.Number, bool, nil, float64, int, int64:
		// Numbers and literals carry no text.
	}
}

// text scans one top-level string of the value.
func (sc *scan) text(t string) {
	if len(t) > sc.remaining {
		t = t[:sc.remaining]
	}
	sc.remaining -= len(t)
	sc.seen = [numRules]bool{}
	sc.layers = sc.layers[:0]
	sc.depth = 0
	sc.budget = max(4096, 2*len(t))
	sc.scanLayer(t)
}

// scanLayer scans t, which is the top-level string (depth 0) or a decoded span of it.
func (sc *scan) scanLayer(t string) {
	if len(t) == 0 {
		return
	}
	cp := sc.s.cp
	n := &sc.n
	n.normalize(t)
	sc.statFindings(t)

	sc.downloadEnd, sc.travEnd = -1, -1
	sc.urls, sc.secrets = sc.urls[:0], sc.secrets[:0]
	for i := range sc.pairA {
		sc.pairA[i] = span{-1, -1}
	}
	// One pass over the lower view drives both automatons: the lower one on every byte, the
	// squeezed one on the bytes squeezeByte keeps (the others leave its state unchanged). Matches
	// are located afterwards by walking back from where they end.
	la, sa := cp.lower, cp.squeeze
	lw := n.lower
	ls, ss := uint32(0), uint32(0)
	for i := 0; i < len(lw); i++ {
		// The hot loop: two table steps per byte and no calls, so the states stay in registers. It
		// stops at a byte where either automaton reaches a state with an output.
		ldelta, lclass, lfirst := la.delta, &la.class, la.firstOut
		sdelta, sclass, sfirst := sa.delta, &sa.class, sa.firstOut
		for ; i < len(lw); i++ {
			c := lw[i]
			ls = ldelta[ls+uint32(lclass[c])]
			ss = sdelta[ss+uint32(sclass[c])]
			if ls >= lfirst || ss >= sfirst {
				break
			}
		}
		if i == len(lw) {
			break
		}
		if ls >= la.firstOut {
			for _, id := range la.matches(ls) {
				sc.onLower(int(id), i+1)
			}
		}
		if ss >= sa.firstOut && squeezeKeep[lw[i]] == 1 {
			for _, id := range sa.matches(ss) {
				sc.onSqueeze(int(id), i+1)
			}
		}
	}
	sc.secretsInURLs()

	if sc.depth < sc.s.maxDepth {
		sc.decodeLayers(t)
	}
}

// statFindings reports what normalization removed but counted.
func (sc *scan) statFindings(t string) {
	st := &sc.n.stats
	if st.invisible >= 2 || st.otherScript > 0 {
		inWord, firstInWord, mixed, firstMixed := wordScan(t)
		if inWord >= 2 {
			sc.add(rPIInvisible, firstInWord)
		}
		if mixed > 0 {
			sc.add(rPIHomoglyph, firstMixed)
		}
	}
	if st.bidiOverrides > 0 {
		sc.add(rPIBidi, st.firstBidi)
	}
	if st.tagChars >= 4 || st.smugglingSelectors >= 4 {
		sc.add(rPIHiddenPayload, st.firstTag)
	}
	if st.nul > 0 {
		sc.add(rPTNullByte, st.firstNUL)
	}
}

// back returns the lower-view index at which the last k squeezed bytes before index end begin
// (the squeezed view keeps only some lower-view bytes).
func (sc *scan) back(end, k int) int {
	lw := sc.n.lower
	j := end
	for k > 0 && j > 0 {
		j--
		k -= int(squeezeKeep[lw[j]])
	}
	return j
}

// squeezedBetween counts the squeezed bytes in lower[from:to], giving up past limit.
func (sc *scan) squeezedBetween(from, to, limit int) int {
	n := 0
	for j := from; j < to && n <= limit; j++ {
		n += int(squeezeKeep[sc.n.lower[j]])
	}
	return n
}

// onSqueeze handles a phrase match ending at lower-view index end.
func (sc *scan) onSqueeze(id, end int) {
	cp := sc.s.cp
	p := &cp.sqP[id]
	if p.rule >= 0 {
		sc.add(p.rule, sc.n.at(sc.back(end, len(p.text))))
		return
	}
	start := sc.back(end, len(p.text))
	pr := &pairs[p.pair]
	if !p.b {
		// The first half of a pair is often an ordinary word (send, show, all): remember where it
		// ended and how long it was, and look further only when the second half follows.
		sc.pairA[p.pair] = span{len(p.text), end}
		return
	}
	a := sc.pairA[p.pair]
	if a.end < 0 || a.end > start || sc.squeezedBetween(a.end, start, pr.gap) > pr.gap {
		return
	}
	aStart := sc.back(a.end, a.start)
	if pr.negatable && sc.negated(aStart) {
		return
	}
	sc.add(pr.rule, sc.n.at(aStart))
}

// negations are squeezed words that turn an instruction into advice when they come right before it.
var negations = []string{"not", "never", "dont", "ever", "avoid", "avoiding", "prevent", "preventing", "refuseto", "nor"}

// negated reports whether the squeezed bytes before lower-view index start end with a negation.
func (sc *scan) negated(start int) bool {
	var buf [12]byte
	n, lw := 0, sc.n.lower
	for j := start - 1; j >= 0 && n < len(buf); j-- {
		if q := squeezeByte[lw[j]]; q != 0 {
			n++
			buf[len(buf)-n] = q
		}
	}
	tail := buf[len(buf)-n:]
	for _, w := range negations {
		if len(tail) >= len(w) && string(tail[len(tail)-len(w):]) == w {
			return true
		}
	}
	return false
}

// add records a finding of rule at offset off of the current string (or of the outermost encoded
// span, inside a decoded layer). A rule is reported once per string.
func (sc *scan) add(rule, off int) {
	if sc.s.disabled[rule] || sc.seen[rule] {
		return
	}
	sc.seen[rule] = true
	if len(sc.findings) >= sc.s.maxFindings && sc.ruleKept[rule] {
		return
	}
	sc.ruleKept[rule] = true
	if sc.depth > 0 {
		off = sc.layerOff
	}
	r := &ruleTable[rule]
	cat := r.Category
	if sc.tool {
		cat = r.ToolCategory
	} else if cat == ToolPoisoning {
		cat = PromptInjection // the same instructions in an argument or result are injection
	}
	sc.findings = append(sc.findings, policy.Finding{
		Rule:     r.ID,
		Category: cat,
		Weight:   sc.s.weights[rule],
		Where:    sc.where(off),
	})
}

// where formats the location of a finding: the JSON path, "#key" when the match is in an object
// member's name, the byte offset, and the decoding layers.
func (sc *scan) where(off int) string {
	var b strings.Builder
	b.WriteString(sc.root)
	for _, seg := range sc.path {
		if !seg.member {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(seg.index))
			b.WriteByte(']')
			continue
		}
		if plainKey(seg.key) {
			b.WriteByte('.')
			b.WriteString(seg.key)
		} else {
			b.WriteByte('[')
			b.WriteString(strconv.Quote(seg.key))
			b.WriteByte(']')
		}
	}
	if sc.inKey {
		b.WriteString("#key")
	}
	b.WriteByte('@')
	b.WriteString(strconv.Itoa(off))
	if len(sc.layers) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(sc.layers, ">"))
		b.WriteByte(')')
	}
	return b.String()
}

// plainKey reports whether a member name can be written after a dot.
func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// threat returns the findings and their score.
func (sc *scan) threat() policy.Threat {
	if len(sc.findings) == 0 {
		return policy.Threat{Findings: []policy.Finding{}}
	}
	out := make([]policy.Finding, len(sc.findings))
	copy(out, sc.findings)
	return policy.Threat{Score: Score(out), Findings: out}
}
