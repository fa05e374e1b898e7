package auditlog

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Limits on what one record may hold (SPEC §8.6). The gateway uses the same
// numbers for the previews it builds, so a preview is cut once, in one way.
const (
	// MaxFieldChars is the most characters (runes) a string member keeps
	// before Truncate cuts it.
	MaxFieldChars = 500
	// MaxRecordBytes is the most bytes one line of the log may take,
	// including its newline. Larger records have their previews shortened.
	MaxRecordBytes = 10 * 1024
)

// Truncate returns s unchanged when it has at most max characters (runes;
// each byte of invalid UTF-8 counts as one). Otherwise it returns the first
// max characters, cut on a character boundary, followed by
// "...[TRUNCATED from N chars]" where N is the length of s in characters, so
// a reader knows both that and how much was cut. A negative max is 0.
func Truncate(s string, max int) string {
	if max < 0 {
		max = 0
	}
	if len(s) <= max { // at most len(s) runes
		return s
	}
	n := 0
	cut := -1
	for i := range s {
		if n == max {
			cut = i
		}
		n++
	}
	if cut < 0 {
		return s
	}
	return s[:cut] + truncatedSuffix(n)
}

func truncatedSuffix(n int) string {
	return "...[TRUNCATED from " + strconv.Itoa(n) + " chars]"
}

// fit applies the limits to a record about to be written: every string
// member is cut to MaxFieldChars, and if the line would still exceed
// MaxRecordBytes, members are cut further in shrinkOrder (the result
// preview first, then the arguments preview) until it fits. As a last
// resort roles are dropped from the end. The size is measured with the
// widest possible seq, so the writer can assign any seq afterwards.
func fit(r *Record) {
	refs := r.shrinkOrder()
	var orig [shrinkable]string
	for i, p := range refs {
		orig[i] = *p
		*p = Truncate(*p, MaxFieldChars)
	}
	if len(r.Roles) > 0 {
		roles := make([]string, len(r.Roles))
		for i, role := range r.Roles {
			roles[i] = Truncate(role, MaxFieldChars)
		}
		r.Roles = roles
	}
	var scratch []byte
	fits := func() bool {
		var n int
		n, scratch = encodedSize(r, scratch)
		return n <= MaxRecordBytes
	}
	if quickFit(r) || fits() {
		return
	}
	for i, p := range refs {
		if shrinkField(p, orig[i], fits) {
			return
		}
	}
	shrinkRoles(r, fits)
}

// shrinkOrder lists the string members in the order fit shortens them:
// previews and free text first, identifiers last, because previews are the
// part of a record an auditor can best do without.
func (r *Record) shrinkOrder() [shrinkable]*string {
	return [...]*string{
		&r.ResultPreview, &r.ArgsPreview, &r.Detail, &r.EngineError, &r.Reason,
		&r.Status, &r.ApprovalID, &r.ResponseRuleID, &r.ResponseEffect,
		&r.PackSHA, &r.BundleRev, &r.RulesRev, &r.Fail, &r.Mode, &r.Engine,
		&r.RuleID, &r.Code, &r.WouldEffect, &r.Effect, &r.ProtocolVersion,
		&r.Tool, &r.Upstream, &r.Method, &r.ClientIP, &r.User, &r.Agent,
		&r.Tenant, &r.RunID, &r.SessionID, &r.CallID, &r.DecisionID,
	}
}

// shrinkable is the number of string members fit may cut: all of them but
// type, prev_hash and hash, which the writer sets, and the checkpoint's,
// which only the writer writes.
const shrinkable = 31

// encodedSize is the size of r's line plus newline, with the widest seq.
func encodedSize(r *Record, scratch []byte) (int, []byte) {
	seq, prev := r.Seq, r.PrevHash
	r.Seq, r.PrevHash = math.MaxUint64, GenesisHash
	scratch = AppendBody(scratch[:0], r)
	r.Seq, r.PrevHash = seq, prev
	return len(scratch) + hashMemberLen + 1, scratch
}

// quickFit reports, without encoding, whether r certainly fits: no byte of
// a string encodes to more than six bytes (`\u00XX`), and everything else in
// a record is bounded. It keeps fit cheap for the usual small record.
func quickFit(r *Record) bool {
	const fixed = 1024 // member names, numbers, time, hashes, checkpoint
	n := fixed
	for _, p := range r.shrinkOrder() {
		n += 6*len(*p) + 2
	}
	for _, role := range r.Roles {
		n += 6*len(role) + 3
	}
	return n <= MaxRecordBytes
}

// shrinkField cuts *p, whose original value is orig, to the most characters
// that let the record fit, and reports whether it fits. When no cut fits,
// it leaves *p at its shortest form and reports false, for the next member
// to take its turn.
func shrinkField(p *string, orig string, fits func() bool) bool {
	n := utf8.RuneCountInString(orig)
	hi := min(n, MaxFieldChars) - 1 // the current value, n or MaxFieldChars characters, does not fit
	if hi < 0 {
		return false
	}
	cur := *p
	// Largest k in [0, hi] such that Truncate(orig, k) fits; the size grows
	// with k because the suffix is the same for every k below n.
	lo, best := 0, -1
	for lo <= hi {
		k := lo + (hi-lo)/2
		*p = Truncate(orig, k)
		if fits() {
			best, lo = k, k+1
		} else {
			hi = k - 1
		}
	}
	if best >= 0 {
		*p = Truncate(orig, best)
		return true
	}
	// Even the bare suffix is too much for the record; keep whichever of the
	// suffix and the current value is shorter.
	if short := Truncate(orig, 0); len(short) < len(cur) {
		*p = short
	} else {
		*p = cur
	}
	return false
}

// shrinkRoles keeps the most leading roles that fit and replaces the rest
// with one marker role saying how many there were.
func shrinkRoles(r *Record, fits func() bool) {
	all := r.Roles
	marker := "...[TRUNCATED from " + strconv.Itoa(len(all)) + " roles]"
	lo, hi, best := 0, len(all)-1, 0
	for lo <= hi {
		k := lo + (hi-lo)/2
		r.Roles = append(all[:k:k], marker)
		if fits() {
			best, lo = k, k+1
		} else {
			hi = k - 1
		}
	}
	r.Roles = append(all[:best:best], marker)
}
