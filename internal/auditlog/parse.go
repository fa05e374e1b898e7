package auditlog

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// ParseLine decodes one line of a log (without its newline) into a Record.
//
// It is strict, because a verifier that reads a record differently from the
// writer would vouch for bytes it did not check: unknown and duplicate
// members are errors, as are members of the wrong type, a missing required
// member, an unknown schema version or record type, and any spelling other
// than the canonical encoding (whitespace, member order, escapes, leading
// zeros). A line ParseLine accepts re-encodes to exactly the same bytes.
// ParseLine does not check the hash; see Verify.
func ParseLine(line []byte) (*Record, error) {
	d := decoder{data: line}
	r := new(Record)
	if err := d.record(r); err != nil {
		if v, ok := leadingVersion(line); ok && (v < MinVersion || v > Version) {
			// A later schema may have members this one does not know;
			// say why the line is unreadable rather than which member.
			return nil, fmt.Errorf("%w %d (this verifier knows %d to %d)", errUnsupportedVersion, v, MinVersion, Version)
		}
		return nil, err
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	if enc := Encode(r); !bytes.Equal(enc, line) {
		i := 0
		for i < len(enc) && i < len(line) && enc[i] == line[i] {
			i++
		}
		return nil, fmt.Errorf("not in canonical encoding (first difference at byte %d)", i)
	}
	return r, nil
}

// leadingVersion reads the version of a line that starts like a record of
// any schema version: {"v":N,
func leadingVersion(line []byte) (int64, bool) {
	d := decoder{data: line}
	if !d.consume('{') || !d.consume('"') || !d.consume('v') || !d.consume('"') || !d.consume(':') {
		return 0, false
	}
	v, err := d.int(32)
	return v, err == nil && d.consume(',')
}

// member describes one member of a JSON object this package decodes.
type member[T any] struct {
	name     string
	required bool
	decode   func(d *decoder, v *T) error
}

var recordMembers = []member[Record]{
	{"v", true, func(d *decoder, r *Record) error {
		n, err := d.int(32)
		r.V = int(n)
		return err
	}},
	{"seq", true, func(d *decoder, r *Record) (err error) { r.Seq, err = d.uint(); return }},
	{"time", true, func(d *decoder, r *Record) (err error) { r.Time, err = d.time(); return }},
	{"type", true, strMember(func(r *Record) *string { return &r.Type })},
	{"decision_id", false, strMember(func(r *Record) *string { return &r.DecisionID })},
	{"call_id", false, strMember(func(r *Record) *string { return &r.CallID })},
	{"session_id", false, strMember(func(r *Record) *string { return &r.SessionID })},
	{"run_id", false, strMember(func(r *Record) *string { return &r.RunID })},
	{"tenant", false, strMember(func(r *Record) *string { return &r.Tenant })},
	{"agent", false, strMember(func(r *Record) *string { return &r.Agent })},
	{"user", false, strMember(func(r *Record) *string { return &r.User })},
	{"roles", false, func(d *decoder, r *Record) (err error) { r.Roles, err = d.strings(); return }},
	{"client_ip", false, strMember(func(r *Record) *string { return &r.ClientIP })},
	{"method", false, strMember(func(r *Record) *string { return &r.Method })},
	{"upstream", false, strMember(func(r *Record) *string { return &r.Upstream })},
	{"tool", false, strMember(func(r *Record) *string { return &r.Tool })},
	{"protocol_version", false, strMember(func(r *Record) *string { return &r.ProtocolVersion })},
	{"effect", false, strMember(func(r *Record) *string { return &r.Effect })},
	{"would_effect", false, strMember(func(r *Record) *string { return &r.WouldEffect })},
	{"code", false, strMember(func(r *Record) *string { return &r.Code })},
	{"rule_id", false, strMember(func(r *Record) *string { return &r.RuleID })},
	{"reason", false, strMember(func(r *Record) *string { return &r.Reason })},
	{"engine", false, strMember(func(r *Record) *string { return &r.Engine })},
	{"mode", false, strMember(func(r *Record) *string { return &r.Mode })},
	{"fail", false, strMember(func(r *Record) *string { return &r.Fail })},
	{"engine_error", false, strMember(func(r *Record) *string { return &r.EngineError })},
	{"rules_rev", false, strMember(func(r *Record) *string { return &r.RulesRev })},
	{"bundle_rev", false, strMember(func(r *Record) *string { return &r.BundleRev })},
	{"pack_sha", false, strMember(func(r *Record) *string { return &r.PackSHA })},
	{"response_effect", false, strMember(func(r *Record) *string { return &r.ResponseEffect })},
	{"response_rule_id", false, strMember(func(r *Record) *string { return &r.ResponseRuleID })},
	{"approval_id", false, strMember(func(r *Record) *string { return &r.ApprovalID })},
	{"status", false, strMember(func(r *Record) *string { return &r.Status })},
	{"latency_us", false, func(d *decoder, r *Record) (err error) { r.LatencyUS, err = d.int(64); return }},
	{"upstream_us", false, func(d *decoder, r *Record) (err error) { r.UpstreamUS, err = d.int(64); return }},
	{"args_preview", false, strMember(func(r *Record) *string { return &r.ArgsPreview })},
	{"result_preview", false, strMember(func(r *Record) *string { return &r.ResultPreview })},
	{"detail", false, strMember(func(r *Record) *string { return &r.Detail })},
	{"threat_score", false, func(d *decoder, r *Record) (err error) { r.ThreatScore, err = d.score(); return }},
	{"threats", false, func(d *decoder, r *Record) (err error) { r.Threats, err = d.strings(); return }},
	{"checkpoint", false, func(d *decoder, r *Record) error {
		r.Checkpoint = new(Checkpoint)
		return decodeObject(d, r.Checkpoint, checkpointMembers)
	}},
	{"prev_hash", true, strMember(func(r *Record) *string { return &r.PrevHash })},
	{"hash", true, strMember(func(r *Record) *string { return &r.Hash })},
}

var checkpointMembers = []member[Checkpoint]{
	{"of_seq", true, func(d *decoder, c *Checkpoint) (err error) { c.OfSeq, err = d.uint(); return }},
	{"of_hash", true, strMember(func(c *Checkpoint) *string { return &c.OfHash })},
	{"reason", true, strMember(func(c *Checkpoint) *string { return &c.Reason })},
	{"key_id", false, strMember(func(c *Checkpoint) *string { return &c.KeyID })},
	{"sig", false, strMember(func(c *Checkpoint) *string { return &c.Sig })},
}

func strMember[T any](field func(*T) *string) func(*decoder, *T) error {
	return func(d *decoder, v *T) (err error) {
		*field(v), err = d.string()
		return err
	}
}

// decoder reads the subset of JSON the canonical encoding produces: no
// whitespace, objects with known members, strings, integers and arrays of
// strings. Anything else is an error that names the byte offset.
type decoder struct {
	data []byte
	pos  int
}

func (d *decoder) record(r *Record) error {
	if err := decodeObject(d, r, recordMembers); err != nil {
		return err
	}
	if d.pos != len(d.data) {
		return d.errorf("unexpected data after the record")
	}
	return nil
}

// decodeObject decodes an object whose members are described by members.
// It is generic so that the record and its checkpoint share one strict loop.
func decodeObject[T any](d *decoder, v *T, members []member[T]) error {
	if !d.consume('{') {
		return d.errorf("want '{'")
	}
	var seen uint64 // bit i: members[i] was present; both tables have < 64 members
	next := 0       // where the next member is in a canonical line
	if !d.consume('}') {
		for {
			name, err := d.string()
			if err != nil {
				return err
			}
			i := memberIndex(members, name, next)
			if i < 0 {
				return d.errorf("unknown member %q", name)
			}
			if seen&(1<<i) != 0 {
				return d.errorf("duplicate member %q", name)
			}
			seen |= 1 << i
			next = i + 1
			if !d.consume(':') {
				return d.errorf("want ':' after %q", name)
			}
			if err := members[i].decode(d, v); err != nil {
				return fmt.Errorf("member %q: %w", name, err)
			}
			if d.consume(',') {
				continue
			}
			if d.consume('}') {
				break
			}
			return d.errorf("want ',' or '}'")
		}
	}
	for i, m := range members {
		if m.required && seen&(1<<i) == 0 {
			return fmt.Errorf("missing member %q", m.name)
		}
	}
	return nil
}

// memberIndex finds name in members, looking from index from first: in a
// canonical line each member follows the one before it in the table, so the
// search is one comparison per member however long the table.
func memberIndex[T any](members []member[T], name string, from int) int {
	for i := range members {
		j := (from + i) % len(members)
		if members[j].name == name {
			return j
		}
	}
	return -1
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("byte %d: %s", d.pos, fmt.Sprintf(format, args...))
}

func (d *decoder) consume(c byte) bool {
	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

// digits returns the run of an optional minus sign and decimal digits at
// the current position.
func (d *decoder) digits(signed bool) []byte {
	start := d.pos
	if signed && d.pos < len(d.data) && d.data[d.pos] == '-' {
		d.pos++
	}
	for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
		d.pos++
	}
	return d.data[start:d.pos]
}

func (d *decoder) uint() (uint64, error) {
	start := d.pos
	n, err := strconv.ParseUint(string(d.digits(false)), 10, 64)
	if err != nil {
		d.pos = start
		return 0, d.errorf("want an unsigned integer")
	}
	return n, nil
}

func (d *decoder) int(bits int) (int64, error) {
	start := d.pos
	n, err := strconv.ParseInt(string(d.digits(true)), 10, bits)
	if err != nil {
		d.pos = start
		return 0, d.errorf("want an integer of %d bits", bits)
	}
	return n, nil
}

// score reads a threat score: a plain decimal number (digits, at most one
// point; no sign or exponent). Whether it is spelled canonically is checked
// by re-encoding the record.
func (d *decoder) score() (float64, error) {
	start := d.pos
	for d.pos < len(d.data) && (d.data[d.pos] >= '0' && d.data[d.pos] <= '9' || d.data[d.pos] == '.') {
		d.pos++
	}
	x, err := strconv.ParseFloat(string(d.data[start:d.pos]), 64)
	if err != nil || start == d.pos {
		d.pos = start
		return 0, d.errorf("want a decimal number")
	}
	return x, nil
}

func (d *decoder) time() (time.Time, error) {
	s, err := d.string()
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(TimeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want a time like 2026-11-20T10:15:00.123456Z, got %q", s)
	}
	return t, nil
}

func (d *decoder) strings() ([]string, error) {
	if !d.consume('[') {
		return nil, d.errorf("want '['")
	}
	list := []string{}
	if d.consume(']') {
		return list, nil
	}
	for {
		s, err := d.string()
		if err != nil {
			return nil, err
		}
		list = append(list, s)
		if d.consume(',') {
			continue
		}
		if d.consume(']') {
			return list, nil
		}
		return nil, d.errorf("want ',' or ']'")
	}
}

var errUnterminated = errors.New("unterminated string")

// string decodes a JSON string. Raw control characters, invalid UTF-8 and
// lone surrogates are errors rather than silently replaced, so nothing the
// writer could not have written is accepted.
func (d *decoder) string() (string, error) {
	if !d.consume('"') {
		return "", d.errorf("want a string")
	}
	start := d.pos
	i := start
	for i < len(d.data) && d.data[i] != '"' && d.data[i] != '\\' && d.data[i] >= 0x20 {
		i++
	}
	if i < len(d.data) && d.data[i] == '"' {
		raw := d.data[start:i]
		if !utf8.Valid(raw) {
			return "", d.errorf("invalid UTF-8 in string")
		}
		d.pos = i + 1
		return string(raw), nil
	}
	buf := append([]byte(nil), d.data[start:i]...)
	d.pos = i
	for {
		if d.pos >= len(d.data) {
			return "", errUnterminated
		}
		c := d.data[d.pos]
		switch {
		case c == '"':
			if !utf8.Valid(d.data[start:d.pos]) {
				return "", d.errorf("invalid UTF-8 in string")
			}
			d.pos++
			return string(buf), nil
		case c < 0x20:
			return "", d.errorf("raw control character 0x%02x in string", c)
		case c != '\\':
			buf = append(buf, c)
			d.pos++
			continue
		}
		if d.pos+1 >= len(d.data) {
			return "", errUnterminated
		}
		esc := d.data[d.pos+1]
		d.pos += 2
		switch esc {
		case '"', '\\', '/':
			buf = append(buf, esc)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, err := d.hex4()
			if err != nil {
				return "", err
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if d.pos+1 < len(d.data) && d.data[d.pos] == '\\' && d.data[d.pos+1] == 'u' {
					d.pos += 2
					if r2, err = d.hex4(); err != nil {
						return "", err
					}
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return "", d.errorf("lone surrogate in string")
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", d.errorf("invalid escape '\\%c'", esc)
		}
	}
}

func (d *decoder) hex4() (rune, error) {
	if d.pos+4 > len(d.data) {
		return 0, d.errorf("short \\u escape")
	}
	var r rune
	for _, c := range d.data[d.pos : d.pos+4] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, d.errorf("invalid \\u escape")
		}
		r = r<<4 | rune(v)
	}
	d.pos += 4
	return r, nil
}
