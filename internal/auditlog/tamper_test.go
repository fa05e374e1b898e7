package auditlog

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The tamper tests start from a log of 20 decisions with a signed
// checkpoint after every 5 and a close checkpoint, so that line n holds
// seq n:
//
//	lines 1-5 decisions, 6 checkpoint, 7-11 decisions, 12 checkpoint,
//	13-17 decisions, 18 checkpoint, 19-23 decisions, 24 checkpoint,
//	25 close checkpoint.
const tamperLines = 25

func tamperBase(t *testing.T) [][]byte {
	t.Helper()
	opts := testOptions(t)
	writeLog(t, opts, 20)
	lines := readLines(t, opts.Path)
	if len(lines) != tamperLines {
		t.Fatalf("base log: got %d lines, want %d", len(lines), tamperLines)
	}
	for i, l := range lines {
		if r := mustParse(t, l); r.Seq != uint64(i+1) {
			t.Fatalf("base log line %d: got seq %d, want %d", i+1, r.Seq, i+1)
		}
	}
	return lines
}

// rechain re-hashes lines[from:] so that the chain is consistent again,
// as an attacker without the signing key would after an edit: checkpoints
// are made to name the new hashes but keep their old signatures.
func rechain(t *testing.T, lines [][]byte, from int) [][]byte {
	t.Helper()
	out := slices.Clone(lines)
	prev := GenesisHash
	if from > 0 {
		prev = mustParse(t, out[from-1]).Hash
	}
	for i := from; i < len(out); i++ {
		r := mustParse(t, out[i])
		r.PrevHash = prev
		if r.Checkpoint != nil {
			r.Checkpoint.OfHash = prev
		}
		out[i] = Seal(r)
		prev = r.Hash
	}
	return out
}

func replaceIn(t *testing.T, line []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(line, []byte(old)) {
		t.Fatalf("line %s does not contain %q", line, old)
	}
	return bytes.Replace(line, []byte(old), []byte(new), 1)
}

func TestVerifyDetectsTampering(t *testing.T) {
	base := tamperBase(t)
	tests := []struct {
		name    string
		tamper  func(t *testing.T, lines [][]byte) [][]byte
		raw     func(data []byte) []byte // optional: tamper with the bytes of the file
		noKey   bool                     // verify without the public key
		line    int
		seq     uint64
		kind    ProblemKind
		message string
	}{
		{
			name: "edit a field value",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				l[2] = replaceIn(t, l[2], `"effect":"allow"`, `"effect":"deny"`)
				return l
			},
			line: 3, seq: 3, kind: ProblemEdited, message: "hash mismatch: the record was edited",
		},
		{
			name: "edit a number",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				l[9] = replaceIn(t, l[9], `"latency_us":`, `"latency_us":1`)
				return l
			},
			line: 10, seq: 10, kind: ProblemEdited, message: "hash mismatch",
		},
		{
			name: "insert a copied line",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				return slices.Insert(l, 4, l[1])
			},
			line: 5, seq: 2, kind: ProblemSeqLink, message: "seq link broken: seq 2 follows seq 4, want 5: a record was inserted",
		},
		{
			name: "delete a middle line",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				return slices.Delete(l, 7, 8)
			},
			line: 8, seq: 9, kind: ProblemSeqLink, message: "seq link broken: seq 9 follows seq 7, want 8: 1 record(s) missing",
		},
		{
			name: "swap two lines",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				l[8], l[9] = l[9], l[8]
				return l
			},
			line: 9, seq: 10, kind: ProblemSeqLink, message: "seq 10 follows seq 8",
		},
		{
			name: "truncate the close checkpoint",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				return l[:24]
			},
			line: 24, seq: 24, kind: ProblemUnsealed, message: "log ends at seq 24 without a closing checkpoint",
		},
		{
			name: "truncate the last 3 whole lines",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				return l[:22]
			},
			line: 22, seq: 22, kind: ProblemUnsealed, message: "log ends at seq 22 without a closing checkpoint: truncated",
		},
		{
			name: "cut the file mid-line",
			raw: func(data []byte) []byte {
				lines := bytes.SplitAfter(data, []byte("\n"))
				n := len(bytes.Join(lines[:9], nil))
				return data[:n+len(lines[9])/2]
			},
			line: 10, seq: 0, kind: ProblemTorn, message: "not a whole record: the file ends in the middle of a line",
		},
		{
			name: "edit a checkpoint signature",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				r := mustParse(t, l[5])
				sig := r.Checkpoint.Sig
				l[5] = replaceIn(t, l[5], sig, "A"+sig[1:])
				if sig[0] == 'A' {
					l[5] = replaceIn(t, l[5], "A"+sig[1:], "B"+sig[1:])
				}
				return l
			},
			line: 6, seq: 6, kind: ProblemEdited, message: "hash mismatch",
		},
		{
			name: "rewrite the chain after an edit, verified with the key",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				l[2] = replaceIn(t, l[2], `"effect":"allow"`, `"effect":"deny"`)
				return rechain(t, l, 2)
			},
			line: 6, seq: 6, kind: ProblemSignature, message: "checkpoint signature does not verify",
		},
		{
			name: "strip a signature and rewrite the chain",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				r := mustParse(t, l[11])
				r.Checkpoint.Sig, r.Checkpoint.KeyID = "", ""
				l[11] = Seal(r)
				return rechain(t, l, 11)
			},
			line: 12, seq: 12, kind: ProblemSignature, message: "checkpoint is not signed",
		},
		{
			name: "replace a record with a consistent forgery",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				r := mustParse(t, l[3])
				r.PrevHash = strings.Repeat("ab", 32)
				l[3] = Seal(r)
				return l
			},
			line: 4, seq: 4, kind: ProblemHashLink, message: "prev_hash link broken: prev_hash abab",
		},
		{
			name: "checkpoint names another record",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				r := mustParse(t, l[17])
				r.Checkpoint.OfSeq = 3
				l[17] = Seal(r)
				return rechain(t, l, 18)
			},
			noKey: true,
			line:  18, seq: 18, kind: ProblemCheckpoint, message: "checkpoint names seq 3",
		},
		{
			name: "append a copied line after close",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				return append(l, l[0])
			},
			line: 26, seq: 1, kind: ProblemSeqLink, message: "seq 1 follows seq 25",
		},
		{
			name: "blank line",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				return slices.Insert(l, 3, []byte{})
			},
			line: 4, seq: 0, kind: ProblemMalformed, message: "not a valid record (after seq 3)",
		},
		{
			name: "CRLF line ending",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				l[6] = append(slices.Clone(l[6]), '\r')
				return l
			},
			line: 7, seq: 0, kind: ProblemMalformed, message: "unexpected data after the record",
		},
		{
			name: "re-encoded with spaces",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				l[1] = replaceIn(t, l[1], `,"seq":2,`, `, "seq":2,`)
				return l
			},
			line: 2, seq: 0, kind: ProblemMalformed, message: "not a valid record",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			lines := base
			if tc.tamper != nil {
				lines = tc.tamper(t, slices.Clone(base))
			}
			writeLines(t, path, lines)
			if tc.raw != nil {
				writeRaw(t, path, tc.raw)
			}
			opts := VerifyOptions{PublicKey: testPub()}
			if tc.noKey {
				opts.PublicKey = nil
			}
			_, err := Verify([]string{path}, opts)
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("Verify: got %v, want a *Problem", err)
			}
			if p.File != path || p.Line != tc.line || p.Seq != tc.seq || p.Kind != tc.kind {
				t.Errorf("Verify: got %s:%d seq %d %s, want %s:%d seq %d %s\n(%v)",
					p.File, p.Line, p.Seq, p.Kind, path, tc.line, tc.seq, tc.kind, p)
			}
			if !strings.Contains(p.Message, tc.message) {
				t.Errorf("message: got %q, want it to contain %q", p.Message, tc.message)
			}
		})
	}
}

// TestRewriteUndetectableWithoutKey documents why checkpoints are signed:
// an attacker who edits a record and re-hashes everything after it leaves
// a chain that verifies, unless the verifier holds the public key.
func TestRewriteUndetectableWithoutKey(t *testing.T) {
	lines := slices.Clone(tamperBase(t))
	lines[2] = replaceIn(t, lines[2], `"effect":"allow"`, `"effect":"deny"`)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeLines(t, path, rechain(t, lines, 2))
	rep := verifyOK(t, []string{path}, VerifyOptions{})
	if !slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, "not verified: no public key") }) {
		t.Errorf("warnings: got %q, want one saying signatures were not verified", rep.Warnings)
	}
	if _, err := Verify([]string{path}, VerifyOptions{PublicKey: testPub()}); err == nil {
		t.Errorf("Verify with the key: got no error, want the rewrite detected")
	}
}
