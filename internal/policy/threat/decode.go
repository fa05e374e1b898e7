package threat

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"
)

// Decoding: spans of the original text that look base64- or percent-encoded are decoded and the
// result scanned as another layer, so "aWdub3JlIHByZXZpb3Vz..." and "..%2f..%2fetc%2fpasswd" are
// read for what they say. The work is bounded three ways: only spans of a plausible length are
// tried (base64 from minBase64 to maxSpan characters, and only when the first bytes decode to
// text), at most maxCandidates spans per layer, and the bytes decoded per top-level string are
// capped by a budget of twice its length (at least 4 KiB). Depth is Config.MaxDecodeDepth.

const (
	minBase64     = 16
	maxSpan       = 64 << 10
	maxCandidates = 32
)

const (
	candBase64Std uint8 = iota
	candBase64URL
	candPercent
)

// decodeLayers finds the encoded spans of t and scans what they decode to.
func (sc *scan) decodeLayers(t string) {
	for len(sc.cands) <= sc.depth {
		sc.cands = append(sc.cands, nil)
	}
	cands := findCandidates(t, sc.cands[sc.depth][:0])
	sc.cands[sc.depth] = cands
	for _, c := range cands {
		if sc.budget <= 0 {
			return
		}
		var decoded string
		var name string
		switch c.kind {
		case candPercent:
			decoded, name = percentDecode(t[c.start:c.end]), "url"
		default:
			decoded, name = base64Decode(t[c.start:c.end], c.kind == candBase64URL), "base64"
		}
		if decoded == "" {
			continue
		}
		if len(decoded) > sc.budget {
			decoded = decoded[:sc.budget]
		}
		sc.budget -= len(decoded)
		if sc.depth == 0 {
			sc.layerOff = c.start
		}
		sc.layers = append(sc.layers, name)
		sc.depth++
		sc.scanLayer(decoded)
		sc.depth--
		sc.layers = sc.layers[:len(sc.layers)-1]
	}
}

// Byte classes for finding candidates in one pass.
const (
	ccAlnum = 1 << iota // letter or digit: in both base64 alphabets
	ccStd               // + or /
	ccURL               // - or _
	ccUpper
	ccLower
)

var candClass [256]uint8

func init() {
	for c := 'A'; c <= 'Z'; c++ {
		candClass[c] = ccAlnum | ccUpper
	}
	for c := 'a'; c <= 'z'; c++ {
		candClass[c] = ccAlnum | ccLower
	}
	for c := '0'; c <= '9'; c++ {
		candClass[c] = ccAlnum
	}
	candClass['+'], candClass['/'] = ccStd, ccStd
	candClass['-'], candClass['_'] = ccURL, ccURL
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// tokenEnd reports whether c separates tokens for percent-decoding.
func tokenEnd(c byte) bool {
	return c <= ' ' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`'
}

// findCandidates appends the spans of t worth decoding to out: runs of a base64 alphabet (mixed
// case, because base64 of text almost always is and words and identifiers mostly are not;
// optionally '='-padded) and whitespace-delimited tokens containing a %XX escape.
//
// A base64 candidate is at least minBase64 bytes long, so the search probes one byte in minBase64:
// when t[i+minBase64-1] is not in the alphabet, no candidate starts in t[i:i+minBase64] and the
// search jumps past it. Prose is crossed mostly in strides.
func findCandidates(t string, out []candidate) []candidate {
	for i := 0; i+minBase64 <= len(t) && len(out) < maxCandidates; {
		j := i + minBase64 - 1
		if candClass[t[j]] == 0 {
			i = j + 1
			continue
		}
		s := j
		for s > i && candClass[t[s-1]] != 0 {
			s--
		}
		e := j + 1
		acc := uint8(0)
		for k := s; k < e; k++ {
			acc |= candClass[t[k]]
		}
		for e < len(t) && candClass[t[e]] != 0 {
			acc |= candClass[t[e]]
			e++
		}
		end := e
		for end < len(t) && end-e < 2 && t[end] == '=' {
			end++
		}
		if n := e - s; n >= minBase64 && n <= maxSpan && acc&(ccUpper|ccLower) == ccUpper|ccLower && acc&(ccStd|ccURL) != ccStd|ccURL {
			kind := candBase64Std
			if acc&ccURL != 0 {
				kind = candBase64URL
			}
			out = append(out, candidate{span{s, end}, kind})
		}
		i = e + 1
	}
	// Percent-encoded tokens, found by their '%'.
	for i := 0; i < len(t) && len(out) < maxCandidates; {
		k := strings.IndexByte(t[i:], '%')
		if k < 0 {
			break
		}
		p := i + k
		if p+2 >= len(t) || !isHex(t[p+1]) || !isHex(t[p+2]) {
			i = p + 1
			continue
		}
		l, r := p, p+1
		for l > 0 && !tokenEnd(t[l-1]) && p-l < maxSpan {
			l--
		}
		for r < len(t) && !tokenEnd(t[r]) && r-p < maxSpan {
			r++
		}
		out = append(out, candidate{span{l, r}, candPercent})
		i = r
	}
	return out
}

// base64Decode decodes s (padding optional) if what it decodes to reads as text, else returns "".
func base64Decode(s string, url bool) string {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	if len(s)%4 == 1 {
		s = s[:len(s)-1]
	}
	enc := base64.RawStdEncoding
	if url {
		enc = base64.RawURLEncoding
	}
	// Look at a prefix first: binary (images, compressed data, random keys) is refused after
	// decoding a few bytes, not the whole span.
	probe := s
	if len(probe) > 32 {
		probe = probe[:32]
	}
	var pb [24]byte
	n, err := enc.Decode(pb[:], []byte(probe))
	if err != nil || !textual(pb[:n], len(probe) < len(s)) {
		return ""
	}
	out := make([]byte, enc.DecodedLen(len(s)))
	n, err = enc.Decode(out, []byte(s))
	if err != nil || !textual(out[:n], false) {
		return ""
	}
	return string(out[:n])
}

// textual reports whether b reads as text: valid UTF-8 (a rune cut at the end is allowed when
// partial) with few control bytes.
func textual(b []byte, partial bool) bool {
	if len(b) == 0 {
		return false
	}
	bad := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\n' && c != '\r' && c != '\t' || c == 0x7f {
				bad++
			}
			i++
			continue
		}
		r, w := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && w == 1 {
			if partial && len(b)-i < utf8.UTFMax {
				break
			}
			return false
		}
		i += w
	}
	return bad*16 <= len(b)
}

// percentDecode decodes %XX escapes in s; "" when there are none or the result is not text.
func percentDecode(s string) string {
	out := make([]byte, 0, len(s))
	changed := false
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			changed = true
			continue
		}
		out = append(out, s[i])
	}
	if !changed {
		return ""
	}
	return string(out)
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
