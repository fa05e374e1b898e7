package auditlog

import (
	"strings"
	"testing"
)

func TestParseLineRejects(t *testing.T) {
	valid := string(Seal(&Record{V: 1, Seq: 1, Time: goldenTime, Type: TypeDecision, Tool: "fs.read", PrevHash: GenesisHash}))
	head := `{"v":1,"seq":1,"time":"2026-11-20T10:15:00.123456Z","type":"decision"`
	head2 := strings.Replace(head, `"v":1`, `"v":2`, 1)
	tail := `,"prev_hash":"` + GenesisHash + `","hash":"` + GenesisHash + `"}`
	tests := []struct {
		name, line, want string
	}{
		{"empty", "", "want '{'"},
		{"not an object", "[]", "want '{'"},
		{"unknown member", head + `,"extra":"x"` + tail, `unknown member "extra"`},
		{"member name differs in case", head + `,"Tool":"x"` + tail, `unknown member "Tool"`},
		{"duplicate member", head + `,"tool":"a","tool":"b"` + tail, `duplicate member "tool"`},
		{"duplicate required member", `{"v":1,"v":1}`, `duplicate member "v"`},
		{"missing hash", head + `,"prev_hash":"` + GenesisHash + `"}`, `missing member "hash"`},
		{"missing time", `{"v":1,"seq":1,"type":"decision"` + tail, `missing member "time"`},
		{"unknown version", strings.Replace(valid, `"v":1`, `"v":3`, 1), "unsupported schema version 3"},
		{"unknown version with new members", `{"v":3,"seq":1,"novel":1}`, "unsupported schema version 3"},
		{"threat members in a version 1 record", head + `,"threat_score":0.5` + tail, "members of schema version 2, not 1"},
		{"threat score above 1", head2 + `,"threat_score":1.5` + tail, "not between 0 and 1"},
		{"threat score with a sign", head2 + `,"threat_score":-0.5` + tail, "want a decimal number"},
		{"threat score with an exponent", head2 + `,"threat_score":5e-1` + tail, "want ',' or '}'"},
		{"threat score with a trailing zero", head2 + `,"threat_score":0.50` + tail, "not in canonical encoding"},
		{"threat score with four decimals", head2 + `,"threat_score":0.1234` + tail, "not in canonical encoding"},
		{"threat score zero", head2 + `,"threat_score":0` + tail, "not in canonical encoding"},
		{"threat score as a string", head2 + `,"threat_score":"0.5"` + tail, "want a decimal number"},
		{"threats not strings", head2 + `,"threats":[1]` + tail, "want a string"},
		{"unknown type", strings.Replace(valid, `"decision"`, `"note"`, 1), `unknown record type "note"`},
		{"seq zero", strings.Replace(valid, `"seq":1`, `"seq":0`, 1), "seq 0 is not valid"},
		{"negative seq", strings.Replace(valid, `"seq":1`, `"seq":-1`, 1), "want an unsigned integer"},
		{"seq overflow", strings.Replace(valid, `"seq":1`, `"seq":18446744073709551616`, 1), "want an unsigned integer"},
		{"fractional number", strings.Replace(valid, `"seq":1`, `"seq":1.0`, 1), "want ',' or '}'"},
		{"leading zero", strings.Replace(valid, `"seq":1`, `"seq":01`, 1), "not in canonical encoding"},
		{"string for number", strings.Replace(valid, `"seq":1`, `"seq":"1"`, 1), "want an unsigned integer"},
		{"null value", head + `,"tool":null` + tail, "want a string"},
		{"whitespace", strings.Replace(valid, `"v":1,`, `"v": 1,`, 1), "want an integer"},
		{"trailing newline", valid + "\n", "unexpected data after the record"},
		{"trailing data", valid + "x", "unexpected data after the record"},
		{"member order", `{"seq":1,"v":1` + valid[len(`{"v":1,"seq":1`):], "not in canonical encoding"},
		{"escaped slash", strings.Replace(valid, `fs.read`, `fs\/read`, 1), "not in canonical encoding"},
		{"unicode escape of a letter", strings.Replace(valid, `fs.read`, `fs\u002eread`, 1), "not in canonical encoding"},
		{"uppercase hex escape", head + `,"tool":"\u001B"` + tail, "not in canonical encoding"},
		{"raw control character", head + ",\"tool\":\"a\tb\"" + tail, "raw control character 0x09"},
		{"invalid utf-8", head + ",\"tool\":\"a\xffb\"" + tail, "invalid UTF-8"},
		{"lone surrogate escape", head + `,"tool":"\ud800"` + tail, "lone surrogate"},
		{"bad escape", head + `,"tool":"\x41"` + tail, `invalid escape`},
		{"unterminated string", head + `,"tool":"abc`, "unterminated string"},
		{"empty roles", head + `,"roles":[]` + tail, "not in canonical encoding"},
		{"zero latency written", head + `,"latency_us":0` + tail, "not in canonical encoding"},
		{"time without micros", strings.Replace(valid, `.123456Z`, `Z`, 1), "want a time like"},
		{"time with offset", strings.Replace(valid, `.123456Z`, `.123456+01:00`, 1), "want a time like"},
		{"short hash", strings.Replace(valid, `"prev_hash":"0`, `"prev_hash":"`, 1), "prev_hash is not 64 lowercase hex"},
		{"uppercase hash", strings.Replace(valid, `"prev_hash":"0000000000`, `"prev_hash":"AAAAAAAAAA`, 1), "prev_hash is not 64 lowercase hex"},
		{"checkpoint on a decision", head + `,"checkpoint":{"of_seq":1,"of_hash":"` + GenesisHash + `","reason":"count"}` + tail, "must not have a checkpoint"},
		{"checkpoint record without checkpoint", strings.Replace(valid, `"decision"`, `"checkpoint"`, 1), "must have a checkpoint member"},
		{"unknown checkpoint member", strings.Replace(head, "decision", "checkpoint", 1) + `,"checkpoint":{"of_seq":1,"of_hash":"` + GenesisHash + `","reason":"count","extra":1}` + tail, `unknown member "extra"`},
		{"checkpoint missing reason", strings.Replace(head, "decision", "checkpoint", 1) + `,"checkpoint":{"of_seq":1,"of_hash":"` + GenesisHash + `"}` + tail, `missing member "reason"`},
		{"unknown checkpoint reason", strings.Replace(head, "decision", "checkpoint", 1) + `,"checkpoint":{"of_seq":1,"of_hash":"` + GenesisHash + `","reason":"whim"}` + tail, `unknown checkpoint reason "whim"`},
		{"version out of int32", strings.Replace(valid, `"v":1`, `"v":99999999999`, 1), "want an integer of 32 bits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseLine([]byte(tc.line))
			if err == nil {
				t.Fatalf("ParseLine(%s): got %+v, want an error containing %q", tc.line, r, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseLine(%s): got error %q, want one containing %q", tc.line, err, tc.want)
			}
		})
	}
	if _, err := ParseLine([]byte(valid)); err != nil {
		t.Errorf("ParseLine of the valid base line: got %v, want no error", err)
	}
}
