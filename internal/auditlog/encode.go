package auditlog

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// AppendBody appends the canonical encoding of r without its hash member to
// dst: the bytes that ChainHash hashes. The encoding is:
//
//   - one JSON object, no whitespace, members in the order of the Record
//     fields (checkpoint members in the order of the Checkpoint fields);
//   - v, seq, time, type and prev_hash always; every other member only when
//     its value is not empty or zero (checkpoint of_seq, of_hash and reason
//     always, when there is a checkpoint);
//   - integers in decimal, times in TimeLayout in UTC, the threat score as
//     the shortest decimal of RoundScore (0.996, 1, 0.5);
//   - strings escaped as described at appendString.
//
// This encoding must never change: every hash in every log depends on it.
func AppendBody(dst []byte, r *Record) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, int64(r.V), 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, r.Seq, 10)
	dst = append(dst, `,"time":"`...)
	dst = r.Time.UTC().AppendFormat(dst, TimeLayout)
	dst = append(dst, `","type":`...)
	dst = appendString(dst, r.Type)

	dst = appendOptString(dst, `,"decision_id":`, r.DecisionID)
	dst = appendOptString(dst, `,"call_id":`, r.CallID)
	dst = appendOptString(dst, `,"session_id":`, r.SessionID)
	dst = appendOptString(dst, `,"run_id":`, r.RunID)
	dst = appendOptString(dst, `,"tenant":`, r.Tenant)
	dst = appendOptString(dst, `,"agent":`, r.Agent)
	dst = appendOptString(dst, `,"user":`, r.User)
	dst = appendOptStrings(dst, `,"roles":[`, r.Roles)
	dst = appendOptString(dst, `,"client_ip":`, r.ClientIP)
	dst = appendOptString(dst, `,"method":`, r.Method)
	dst = appendOptString(dst, `,"upstream":`, r.Upstream)
	dst = appendOptString(dst, `,"tool":`, r.Tool)
	dst = appendOptString(dst, `,"protocol_version":`, r.ProtocolVersion)
	dst = appendOptString(dst, `,"effect":`, r.Effect)
	dst = appendOptString(dst, `,"would_effect":`, r.WouldEffect)
	dst = appendOptString(dst, `,"code":`, r.Code)
	dst = appendOptString(dst, `,"rule_id":`, r.RuleID)
	dst = appendOptString(dst, `,"reason":`, r.Reason)
	dst = appendOptString(dst, `,"engine":`, r.Engine)
	dst = appendOptString(dst, `,"mode":`, r.Mode)
	dst = appendOptString(dst, `,"fail":`, r.Fail)
	dst = appendOptString(dst, `,"engine_error":`, r.EngineError)
	dst = appendOptString(dst, `,"rules_rev":`, r.RulesRev)
	dst = appendOptString(dst, `,"bundle_rev":`, r.BundleRev)
	dst = appendOptString(dst, `,"pack_sha":`, r.PackSHA)
	dst = appendOptString(dst, `,"response_effect":`, r.ResponseEffect)
	dst = appendOptString(dst, `,"response_rule_id":`, r.ResponseRuleID)
	dst = appendOptString(dst, `,"approval_id":`, r.ApprovalID)
	dst = appendOptString(dst, `,"status":`, r.Status)
	if r.LatencyUS != 0 {
		dst = append(dst, `,"latency_us":`...)
		dst = strconv.AppendInt(dst, r.LatencyUS, 10)
	}
	if r.UpstreamUS != 0 {
		dst = append(dst, `,"upstream_us":`...)
		dst = strconv.AppendInt(dst, r.UpstreamUS, 10)
	}
	dst = appendOptString(dst, `,"args_preview":`, r.ArgsPreview)
	dst = appendOptString(dst, `,"result_preview":`, r.ResultPreview)
	dst = appendOptString(dst, `,"detail":`, r.Detail)
	if score := RoundScore(r.ThreatScore); score != 0 {
		dst = append(dst, `,"threat_score":`...)
		dst = strconv.AppendFloat(dst, score, 'f', -1, 64)
	}
	dst = appendOptStrings(dst, `,"threats":[`, r.Threats)
	if c := r.Checkpoint; c != nil {
		dst = append(dst, `,"checkpoint":{"of_seq":`...)
		dst = strconv.AppendUint(dst, c.OfSeq, 10)
		dst = append(dst, `,"of_hash":`...)
		dst = appendString(dst, c.OfHash)
		dst = append(dst, `,"reason":`...)
		dst = appendString(dst, c.Reason)
		dst = appendOptString(dst, `,"key_id":`, c.KeyID)
		dst = appendOptString(dst, `,"sig":`, c.Sig)
		dst = append(dst, '}')
	}
	dst = append(dst, `,"prev_hash":`...)
	dst = appendString(dst, r.PrevHash)
	return append(dst, '}')
}

// Encode returns the line for r as it is written to the log, without the
// trailing newline: AppendBody with the hash member r.Hash inserted before
// the closing brace. It does not compute the hash; see Seal.
func Encode(r *Record) []byte {
	return appendLine(make([]byte, 0, 512), r)
}

// appendLine appends the full line of r (no newline) to dst.
func appendLine(dst []byte, r *Record) []byte {
	dst = AppendBody(dst, r)
	return appendHashMember(dst[:len(dst)-1], r.Hash)
}

// appendHashMember closes a body whose final "}" was removed with the hash
// member and the brace.
func appendHashMember(dst []byte, hash string) []byte {
	dst = append(dst, `,"hash":`...)
	dst = appendString(dst, hash)
	return append(dst, '}')
}

func appendOptString(dst []byte, member, s string) []byte {
	if s == "" {
		return dst
	}
	dst = append(dst, member...)
	return appendString(dst, s)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped the one canonical way:
// `"` and `\` as `\"` and `\\`; control characters below U+0020 as `\n`,
// `\r`, `\t`, or else `\u00XX` with lowercase hex; everything else as is,
// including `<`, `>`, `&`, U+007F, U+2028 and U+2029 and all valid non-ASCII
// UTF-8. Each byte that is not part of valid UTF-8 is replaced with U+FFFD
// (written as its UTF-8 bytes), so every line is valid UTF-8.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending and needs no escaping
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendOptStrings appends member (which ends in "[") and the strings of ss
// as a JSON array, or nothing when ss is empty.
func appendOptStrings(dst []byte, member string, ss []string) []byte {
	if len(ss) == 0 {
		return dst
	}
	dst = append(dst, member...)
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

// RoundScore rounds a threat score to the 3 decimals a record keeps, and
// clamps it to [0, 1] (NaN is 0): the encoding has one spelling per score.
func RoundScore(x float64) float64 {
	switch {
	case !(x > 0): // NaN too
		return 0
	case x > 1:
		return 1
	}
	return math.Round(x*1000) / 1000
}
