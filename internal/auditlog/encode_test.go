package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var goldenTime = time.Date(2026, 11, 20, 10, 15, 0, 123456000, time.UTC)

// goldenRecords are the records whose encoding is pinned in
// testdata/<name>.golden. Their lines must never change: if one of these
// tests fails, the encoding changed and every existing log would stop
// verifying. Do not -update to make it pass; add a schema version instead.
func goldenRecords() []struct {
	name string
	rec  *Record
} {
	cet := time.FixedZone("CET", 3600)
	return []struct {
		name string
		rec  *Record
	}{
		{"full_decision", &Record{
			V: 1, Seq: 42,
			// Not UTC and below a microsecond: pins the conversion to UTC and
			// the truncation to microseconds.
			Time:            time.Date(2026, 11, 20, 11, 15, 0, 123456789, cet),
			Type:            TypeDecision,
			DecisionID:      "01JD3X9Y5Z",
			CallID:          "17",
			SessionID:       "sess-abc",
			RunID:           "run-9",
			Tenant:          "acme",
			Agent:           "agent-7",
			User:            "alice@example.com",
			Roles:           []string{"analyst", "reader"},
			ClientIP:        "10.0.0.7",
			Method:          "tools/call",
			Upstream:        "weather",
			Tool:            "weather.get",
			ProtocolVersion: "2025-11-25",
			Effect:          "deny",
			WouldEffect:     "deny",
			Code:            "policy_deny",
			RuleID:          "deny-prod-writes",
			Reason:          "blocked by rego: writes to prod need approval",
			Engine:          "rego",
			Mode:            "enforce",
			Fail:            "closed",
			EngineError:     "rego: timeout after 5ms",
			RulesRev:        "v12",
			BundleRev:       "b-2026-11-20",
			PackSHA:         "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			ResponseEffect:  "redact",
			ResponseRuleID:  "redact-secrets",
			ApprovalID:      "apr-3",
			Status:          "denied",
			LatencyUS:       87,
			UpstreamUS:      -1,
			ArgsPreview:     `{"city":"Zürich","token":"[REDACTED]"}`,
			ResultPreview:   `{"temp":21}`,
			Detail:          "note",
			PrevHash:        "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c",
		}},
		{"minimal", &Record{V: 1, Seq: 1, Time: goldenTime, Type: TypeDecision, PrevHash: GenesisHash}},
		{"checkpoint", &Record{
			V: 1, Seq: 43, Time: goldenTime, Type: TypeCheckpoint,
			Checkpoint: newCheckpoint(CheckpointClose, 42,
				"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881", testKey, KeyID(testPub())),
			PrevHash: "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
		}},
		{"checkpoint_unsigned", &Record{
			V: 1, Seq: 2, Time: goldenTime, Type: TypeCheckpoint,
			Checkpoint: &Checkpoint{OfSeq: 0, OfHash: GenesisHash, Reason: CheckpointCount},
			PrevHash:   GenesisHash,
		}},
		{"recovery", &Record{
			V: 1, Seq: 7, Time: goldenTime, Type: TypeRecovery,
			Detail:   "moved 37 bytes of torn tail after seq 6 from offset 2048 to gatehouse-audit.jsonl.torn-20261120T101500.123456Z",
			PrevHash: GenesisHash,
		}},
		{"unicode", &Record{
			V: 1, Seq: 3, Time: goldenTime, Type: TypeDecision,
			// Non-ASCII stays as is; <, >, & and U+2028 are not escaped.
			Reason:   "Zürich → 東京 🚀 <script>&amp; \u2028\u2029 \ufffd é",
			Roles:    []string{"ünïcode", ""},
			PrevHash: GenesisHash,
		}},
		{"control_chars", &Record{
			V: 1, Seq: 4, Time: goldenTime, Type: TypeDecision,
			Reason:   "nul\x00 soh\x01 bs\b ff\f nl\n cr\r tab\t us\x1f del\x7f quote\" backslash\\ slash/",
			PrevHash: GenesisHash,
		}},
		{"invalid_utf8", &Record{
			V: 1, Seq: 5, Time: goldenTime, Type: TypeDecision,
			// A lone continuation byte, a truncated sequence, an overlong
			// encoding and a surrogate encoded in UTF-8: each bad byte
			// becomes one U+FFFD.
			Reason:   "a\x80b \xe2\x82 c\xc0\xaf d\xed\xa0\x80 e",
			PrevHash: GenesisHash,
		}},
		{"truncated_preview", truncationRecord()},
		{"threats_v2", &Record{
			V: 2, Seq: 8, Time: goldenTime, Type: TypeDecision,
			Agent: "a1", Method: "tools/call", Tool: "fs.read", Effect: "require_approval", RuleID: "threat-hold",
			ThreatScore: 0.996, Threats: []string{"pi.ignore-previous", "exfil.ssh-key"},
			PrevHash: GenesisHash,
		}},
	}
}

// truncationRecord has an arguments preview over MaxFieldChars and a result
// preview over MaxRecordBytes, and goes through fit as the writer does.
func truncationRecord() *Record {
	r := &Record{
		V: 1, Seq: 6, Time: goldenTime, Type: TypeDecision,
		Tool:          "fs.write",
		ArgsPreview:   strings.Repeat("a", 450) + strings.Repeat("é", 100),
		ResultPreview: strings.Repeat("\x01", 20000),
		Reason:        strings.Repeat("€", 499),
		EngineError:   strings.Repeat("\x02", 600),
		Detail:        strings.Repeat("\x03", 600),
	}
	fit(r)
	r.Seq, r.PrevHash = 6, GenesisHash
	return r
}

func goldenPath(name string) string { return filepath.Join("testdata", name+".golden") }

func TestEncodeGolden(t *testing.T) {
	for _, tc := range goldenRecords() {
		t.Run(tc.name, func(t *testing.T) {
			got := append(Seal(tc.rec), '\n')
			if *update {
				if err := os.WriteFile(goldenPath(tc.name), got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(goldenPath(tc.name))
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encoding changed; this breaks every existing log.\ngot  %s\nwant %s", got, want)
			}
			if len(got) > MaxRecordBytes {
				t.Errorf("line is %d bytes, want at most MaxRecordBytes = %d", len(got), MaxRecordBytes)
			}
		})
	}
}

// TestGoldenParse reads every golden line back: it must parse, re-encode to
// the same bytes, and carry a hash that recomputes by the documented
// formula from the bytes as written.
func TestGoldenParse(t *testing.T) {
	for _, tc := range goldenRecords() {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(goldenPath(tc.name))
			if err != nil {
				t.Fatal(err)
			}
			line := bytes.TrimSuffix(data, []byte("\n"))
			r := mustParse(t, line)
			if got := Encode(r); !bytes.Equal(got, line) {
				t.Errorf("re-encoding: got %s, want %s", got, line)
			}
			i := bytes.LastIndex(line, []byte(`,"hash":"`))
			body := append(append([]byte(nil), line[:i]...), '}')
			sum := sha256.Sum256([]byte(r.PrevHash + "\n" + string(body)))
			if got, want := hex.EncodeToString(sum[:]), r.Hash; got != want {
				t.Errorf("hash recomputed from the line as written: got %s, want %s", got, want)
			}
		})
	}
}

func TestParseLineRoundTrip(t *testing.T) {
	for _, tc := range goldenRecords() {
		t.Run(tc.name, func(t *testing.T) {
			want := *tc.rec
			line := Seal(&want)
			got := mustParse(t, line)
			want.Time = want.Time.UTC().Truncate(time.Microsecond)
			if tc.name == "invalid_utf8" {
				want.Reason = "a\uFFFDb \uFFFD\uFFFD c\uFFFD\uFFFD d\uFFFD\uFFFD\uFFFD e"
			}
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("ParseLine(Seal(r)) mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAppendStringEscapes(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", `""`},
		{"plain", "abc", `"abc"`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"short escapes", "\n\r\t", `"\n\r\t"`},
		{"other controls as lowercase u00XX", "\x00\x08\x0c\x1b\x1f", `"\u0000\u0008\u000c\u001b\u001f"`},
		{"html not escaped", "<a href='x'>&</a>", `"<a href='x'>&</a>"`},
		{"del kept", "\x7f", "\"\x7f\""},
		{"line separators kept", "\u2028\u2029", "\"\u2028\u2029\""},
		{"non-ascii kept", "ß東🚀", `"ß東🚀"`},
		{"invalid byte replaced", "\xff", "\"\uFFFD\""},
		{"each invalid byte replaced", "\xe2\x82", "\"\uFFFD\uFFFD\""},
		{"valid replacement char kept", "\uFFFD", "\"\uFFFD\""},
		{"slash not escaped", "a/b", `"a/b"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(appendString(nil, tc.in)); got != tc.want {
				t.Errorf("appendString(%q): got %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

// TestChainHashFormula pins the chain formula against an independent
// computation, so ChainHash cannot drift from the documented one.
func TestChainHashFormula(t *testing.T) {
	body := []byte(`{"v":1,"seq":1,"time":"2026-11-20T10:15:00.123456Z","type":"decision","prev_hash":"` + GenesisHash + `"}`)
	sum := sha256.Sum256(append([]byte(GenesisHash+"\n"), body...))
	if got, want := ChainHash(GenesisHash, body), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("ChainHash: got %s, want %s", got, want)
	}
	r := &Record{V: 1, Seq: 1, Time: goldenTime, Type: TypeDecision, PrevHash: GenesisHash}
	if got, want := string(Seal(r)), string(body[:len(body)-1])+`,"hash":"`+hex.EncodeToString(sum[:])+`"}`; got != want {
		t.Errorf("Seal: got %s, want %s", got, want)
	}
}

func TestRoundScore(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0.99634, 0.996}, {0.9995, 1}, {0.5, 0.5}, {1.7, 1}, {-0.2, 0}, {math.NaN(), 0}, {math.Inf(1), 1}, {0.0004, 0},
	} {
		if got := RoundScore(tc.in); got != tc.want {
			t.Errorf("RoundScore(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	// What the writer is given unrounded is encoded rounded, and reads back as the rounded value.
	r := &Record{V: 2, Seq: 1, Time: goldenTime, Type: TypeDecision, ThreatScore: 0.99634, PrevHash: GenesisHash}
	got, err := ParseLine(Seal(r))
	if err != nil || got.ThreatScore != 0.996 {
		t.Fatalf("ParseLine: %v, %v", got, err)
	}
}
