package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sort"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonscan"
)

// maxDepth bounds the walk of nested values; gatehouse refuses deeper messages before they reach
// a stage, and a deeper value is replaced whole rather than walked.
const maxDepth = 128

// Value returns a redacted deep copy of a decoded JSON value (map[string]any, []any, string,
// json.Number, float64, bool, nil, as encoding/json produces; map[string]string and []string too).
// v is never modified. A member whose name is sensitive (SensitiveKey) becomes "[REDACTED]" unless
// its value is true, false or null, which carry nothing; strings go through Text; a number that is
// a card number becomes "[REDACTED_CARD]"; member names that contain a secret are redacted too.
// Other types are returned as they are.
func Value(v any) any {
	out, _ := redactValue(v, 0, true)
	return out
}

// redactValue redacts v. With copyAll it returns a deep copy; otherwise it copies only what it
// changes and reports whether anything changed.
func redactValue(v any, depth int, copyAll bool) (any, bool) {
	if depth > maxDepth {
		return Redacted, true
	}
	switch x := v.(type) {
	case string:
		r := Text(x)
		return r, r != x
	case json.Number:
		if isCard(string(x)) {
			return RedactedCard, true
		}
		return x, false
	case float64:
		if isCard(strconv.FormatFloat(x, 'f', -1, 64)) {
			return RedactedCard, true
		}
		return x, false
	case map[string]any:
		return redactMap(x, depth, copyAll)
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		return redactMap(m, depth, true)
	case []any:
		var out []any
		changed := false
		if copyAll {
			out = make([]any, len(x))
		}
		for i, e := range x {
			r, c := redactValue(e, depth+1, copyAll)
			if c && out == nil {
				out = make([]any, len(x))
				copy(out, x[:i])
			}
			if out != nil {
				out[i] = r
			}
			changed = changed || c
		}
		if out == nil {
			return x, false
		}
		return out, changed
	case []string:
		out := make([]any, len(x))
		changed := false
		for i, e := range x {
			r := Text(e)
			out[i], changed = r, changed || r != e
		}
		return out, changed
	}
	return v, false
}

func redactMap(x map[string]any, depth int, copyAll bool) (any, bool) {
	var out map[string]any
	changed := false
	if copyAll {
		out = make(map[string]any, len(x))
	}
	// Sorted, so that member names that redact to the same text are resolved the same way every
	// time.
	keys := make([]string, 0, len(x))
	for k := range x {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e := x[k]
		var r any
		c := false
		if SensitiveKey(k) && !literal(e) {
			r, c = Redacted, e != Redacted
		} else {
			r, c = redactValue(e, depth+1, copyAll)
		}
		nk := Text(k)
		if nk != k {
			c = true
			for n := 2; out != nil && out[nk] != nil || x[nk] != nil && nk != k; n++ {
				nk = Text(k) + "#" + strconv.Itoa(n)
			}
		}
		if c && out == nil {
			out = make(map[string]any, len(x))
			for _, k2 := range keys {
				if k2 == k {
					break
				}
				out[k2] = x[k2]
			}
		}
		if out != nil {
			out[nk] = r
		}
		changed = changed || c
	}
	if out == nil {
		return x, false
	}
	return out, changed
}

// literal reports whether v is true, false or null: nothing to hide.
func literal(v any) bool {
	switch v.(type) {
	case bool, nil:
		return true
	}
	return false
}

// isCard reports whether a number's text is a card number.
func isCard(s string) bool {
	if len(s) < 13 || len(s) > 19 {
		return false
	}
	return cardEnd(s, 0) == len(s)
}

// JSON redacts a JSON document (or a stream of them) and returns the redacted document. Member order
// is kept and every member is checked, duplicates included. When nothing needed redacting, raw is
// returned as it is (same bytes, same formatting); otherwise the result is compact. raw that is not
// JSON is redacted as text. raw is never modified.
func JSON(raw []byte) []byte {
	if untouched(raw) {
		return raw
	}
	out, changed, err := redactJSON(raw)
	if err != nil {
		t := Text(string(raw))
		if t == string(raw) {
			return raw
		}
		// Text can make a document JSON (a bare invalid value it replaced with a quoted marker);
		// then what JSON would redact in it is redacted too, so that redacting again changes
		// nothing.
		if out, _, err := redactJSON([]byte(t)); err == nil {
			return out
		}
		return []byte(t)
	}
	if !changed {
		return raw
	}
	return out
}

// untouched reports whether raw is one JSON document with nothing to redact, reading it without
// the decoder, as most documents are: JSON then returns raw at once. It reports false when something
// needs redacting, and when raw is not one plain document (a stream, invalid UTF-8, a lone surrogate
// escape, not JSON at all); JSON then reads it with the decoder. It applies the rules of pass.
func untouched(raw []byte) bool {
	var s jsonscan.Scanner
	s.Reset(raw, maxDepth)
	var buf [64]byte
	sensitive := false // the token before was the name of a sensitive member
	for {
		t, err := s.Next()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
		if sensitive {
			sensitive = false
			switch t.Kind {
			case 'n', 't', 'f':
				continue
			case '"':
				if string(t.Text()) == Redacted {
					continue
				}
			}
			return false // replaced by the marker
		}
		switch t.Kind {
		case '"':
			text, ok := plainText(t, buf[:0])
			if !ok {
				return false
			}
			str := string(text)
			if Text(str) != str {
				return false
			}
			sensitive = t.Name && SensitiveKey(str)
		case '0':
			if isCard(string(t.Raw)) {
				return false
			}
		}
	}
}

// plainText returns a string token's text, unescaped into dst if need be; ok is false when it is not
// valid UTF-8 (the decoder, which accepts that, decides then).
func plainText(t jsonscan.Token, dst []byte) (text []byte, ok bool) {
	if t.Flags&jsonscan.Escaped != 0 {
		text, err := jsontext.AppendUnquote(dst, t.Raw)
		return text, err == nil
	}
	return t.Text(), t.Flags&jsonscan.NonASCII == 0 || utf8.Valid(t.Text())
}

// jsonOptions accept what the redactor may be shown: it does not validate, it hides.
var jsonOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// jsonState is a pooled decoder and encoder: setting them up costs more than redacting a small
// document.
type jsonState struct {
	rd  bytes.Reader
	dec *jsontext.Decoder
	buf bytes.Buffer
	enc *jsontext.Encoder
}

var jsonPool = sync.Pool{New: func() any {
	st := &jsonState{}
	st.dec = jsontext.NewDecoder(&st.rd, jsonOptions...)
	st.enc = jsontext.NewEncoder(&st.buf, jsonOptions...)
	return st
}}

// redactJSON redacts raw token by token. A first pass only looks: most documents have nothing to
// redact, and for them the encoder never runs. The second pass writes the redacted copy.
func redactJSON(raw []byte) ([]byte, bool, error) {
	st := jsonPool.Get().(*jsonState)
	defer func() {
		if st.buf.Cap() <= 1<<20 {
			jsonPool.Put(st)
		}
	}()
	for _, write := range []bool{false, true} {
		st.rd.Reset(raw)
		st.dec.Reset(&st.rd, jsonOptions...)
		st.buf.Reset()
		st.enc.Reset(&st.buf, jsonOptions...)
		changed, err := st.pass(write)
		if err != nil {
			return nil, false, err
		}
		if !changed {
			return raw, false, nil
		}
		if write {
			return bytes.Clone(bytes.TrimSuffix(st.buf.Bytes(), []byte("\n"))), true, nil
		}
	}
	panic("unreachable")
}

// pass reads the whole document, reporting whether anything needs redacting; with write it also
// writes the redacted copy to the encoder.
func (st *jsonState) pass(write bool) (bool, error) {
	dec, enc := st.dec, st.enc
	changed, redactNext := false, false
	for {
		if redactNext {
			// The value of a sensitive member: replaced whole, unless it is a literal.
			redactNext = false
			k := dec.PeekKind()
			if k == '"' {
				// A string is replaced by the marker; one that already is the marker stays as it
				// is, so that redacting twice changes nothing.
				tok, err := dec.ReadToken()
				if err != nil {
					return false, err
				}
				if s := tok.String(); s != Redacted {
					tok, changed = jsontext.String(Redacted), true
				}
				if write {
					if err := enc.WriteToken(tok); err != nil {
						return false, err
					}
				}
				continue
			}
			if k != 'n' && k != 't' && k != 'f' && k != 0 {
				if err := dec.SkipValue(); err != nil {
					return false, err
				}
				changed = true
				if !write {
					continue
				}
				if err := enc.WriteToken(jsontext.String(Redacted)); err != nil {
					return false, err
				}
				continue
			}
		}
		// Inside an object, names come at even positions.
		k, n := dec.StackIndex(dec.StackDepth())
		isName := k == '{' && n%2 == 0
		tok, err := dec.ReadToken()
		if errors.Is(err, io.EOF) {
			return changed, nil
		}
		if err != nil {
			return false, err
		}
		switch tok.Kind() {
		case '"':
			s := tok.String()
			if r := Text(s); r != s {
				tok, changed = jsontext.String(r), true
			}
			redactNext = isName && SensitiveKey(s)
		case '0':
			if isCard(tok.String()) {
				tok, changed = jsontext.String(RedactedCard), true
			}
		}
		if write {
			if err := enc.WriteToken(tok); err != nil {
				return false, err
			}
		}
	}
}

// Preview returns what an audit record may keep of a JSON payload: JSON(raw), cut to
// auditlog.MaxFieldChars characters with "...[TRUNCATED from N chars]". Redaction comes first, so a
// cut never leaves a fragment of a secret that no longer matches its pattern.
func Preview(raw []byte) string {
	return auditlog.Truncate(string(JSON(raw)), auditlog.MaxFieldChars)
}

// Record returns a copy of r with args and result as its previews (Preview; nil leaves a preview
// empty) and its free-text members redacted and cut to auditlog.MaxFieldChars: the reason, detail and
// engine error as text. The previews are taken as bytes, as the gateway holds them, so each is copied
// once, into the record. Identifiers (ids, names of tools, agents and rules) are kept: an audit
// record must say who did what. The 10 KB limit per record is applied by the auditlog writer, which
// shortens previews first; redacting here, before it, keeps that cut from exposing a secret.
func Record(r auditlog.Record, args, result []byte) auditlog.Record {
	r.ArgsPreview = Preview(args)
	r.ResultPreview = Preview(result)
	r.Reason = auditlog.Truncate(Text(r.Reason), auditlog.MaxFieldChars)
	r.Detail = auditlog.Truncate(Text(r.Detail), auditlog.MaxFieldChars)
	r.EngineError = auditlog.Truncate(Text(r.EngineError), auditlog.MaxFieldChars)
	return r
}
