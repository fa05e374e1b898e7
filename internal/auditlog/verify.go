package auditlog

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
)

// VerifyOptions configures Verify.
type VerifyOptions struct {
	// PublicKey, when set, requires every checkpoint to carry a valid
	// signature by it. Without it the chain is checked but a chain rewritten
	// from the start cannot be told from the original.
	PublicKey ed25519.PublicKey
	// AllowUnsealed accepts, with a warning, a log whose last record is not
	// a close or rotate checkpoint: a log still being written, or one whose
	// writer crashed.
	AllowUnsealed bool
}

// Report summarizes a verified log.
type Report struct {
	Files             []string // the files holding records, in chain order (empty ones are warned about)
	Records           int      // every record, checkpoints included
	Decisions         int      // decision records
	Events            int      // event records (admin changes, tool definitions)
	Checkpoints       int      // checkpoint records
	SignedCheckpoints int      // checkpoints carrying a signature (all verified when a PublicKey was given)
	FirstSeq, LastSeq uint64   // seq of the first and last record
	LastHash          string   // hash of the last record: pin it to detect later truncation
	Warnings          []string // what was not an error but an auditor should know
}

// ProblemKind says what kind of tampering or damage a Problem found.
type ProblemKind string

// Kinds of problems, stable for tools that read them.
const (
	ProblemMalformed  ProblemKind = "malformed"      // a line is not a valid record
	ProblemTorn       ProblemKind = "torn"           // the file ends in the middle of a line
	ProblemEdited     ProblemKind = "edited"         // the hash does not recompute: the record was changed
	ProblemSeqLink    ProblemKind = "seq_link"       // seq does not follow: inserted, deleted or reordered
	ProblemHashLink   ProblemKind = "prev_hash_link" // prev_hash is not the previous record's hash
	ProblemCheckpoint ProblemKind = "checkpoint"     // a checkpoint names a record other than the one it follows
	ProblemSignature  ProblemKind = "signature"      // a checkpoint is unsigned, signed by another key, or forged
	ProblemUnsealed   ProblemKind = "unsealed"       // the log ends without a close or rotate checkpoint
	ProblemEmpty      ProblemKind = "empty"          // there is no record at all
)

// Problem is the first bad record Verify found. Line counts from 1 within
// File; Seq is 0 when the line could not be read as a record.
type Problem struct {
	File    string
	Line    int
	Seq     uint64
	Kind    ProblemKind
	Message string
}

// Error formats the problem as "FILE:LINE: seq N: message", leaving out
// the parts that are not known.
func (p *Problem) Error() string {
	b := []byte(p.File)
	if p.Line > 0 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(p.Line), 10)
	}
	if p.Seq > 0 {
		b = append(b, ": seq "...)
		b = strconv.AppendUint(b, p.Seq, 10)
	}
	b = append(b, ": "...)
	b = append(b, p.Message...)
	return string(b)
}

// Verify checks the chain across the given files and returns a report, and
// a *Problem for the first bad record. Any other error is an I/O failure.
// The report is returned in both cases, counting what came before the
// problem.
//
// Files may be given in any order: they are put in chain order by the seq
// of their first record, and each file's first record must link to the
// previous file's last. Every line must parse strictly, follow the previous
// record in seq and prev_hash, and hash to its hash. A chain starting at
// seq 1 must start from GenesisHash; one starting later is accepted with a
// warning, since the files before it were not given. The last record must be
// a close or rotate checkpoint, unless opts.AllowUnsealed is set or a writer
// holds the file (see InUse): without that rule, cutting records off the
// end would go unnoticed.
//
// Verify streams: its memory does not grow with the number of records.
func Verify(paths []string, opts VerifyOptions) (*Report, error) {
	return verify(paths, opts, osSource{})
}

// logSource is where verify reads logs from: the file system, or memory in the
// fuzz test, which must run thousands of times a second.
type logSource interface {
	open(path string) (io.ReadCloser, error)
	inUse(path string) bool // a writer holds the file
}

type osSource struct{}

func (osSource) open(path string) (io.ReadCloser, error) { return os.Open(path) }

func (osSource) inUse(path string) bool {
	live, err := InUse(path)
	return err == nil && live
}

func verify(paths []string, opts VerifyOptions, src logSource) (*Report, error) {
	rep := &Report{}
	if len(paths) == 0 {
		return rep, errors.New("auditlog: no files to verify")
	}
	if opts.PublicKey != nil && len(opts.PublicKey) != ed25519.PublicKeySize {
		return rep, errors.New("auditlog: PublicKey is not an Ed25519 public key")
	}
	ordered, err := chainOrder(paths, rep, src)
	if err != nil {
		return rep, err
	}
	v := &verifier{opts: opts, rep: rep, src: src}
	if opts.PublicKey != nil {
		v.keyID = KeyID(opts.PublicKey)
	}
	for _, path := range ordered {
		rep.Files = append(rep.Files, path)
		if err := v.file(path); err != nil {
			return rep, err
		}
	}
	if err := v.finish(paths[0]); err != nil {
		return rep, err
	}
	return rep, nil
}

// chainOrder sorts the files by the seq of their first record. Empty files
// are left out with a warning; files whose first line is not a record go
// last, in the order given, so that the problem they hold is reported
// after any earlier one.
func chainOrder(paths []string, rep *Report, src logSource) ([]string, error) {
	type file struct {
		path string
		seq  uint64
	}
	var files []file
	for _, path := range paths {
		f, err := src.open(path)
		if err != nil {
			return nil, err
		}
		line, whole, err := newLineReader(f).next()
		f.Close()
		switch {
		case errors.Is(err, io.EOF):
			rep.Warnings = append(rep.Warnings, path+": empty file")
			continue
		case err != nil && !errors.Is(err, errLineTooLong):
			return nil, err
		}
		seq := uint64(math.MaxUint64)
		if err == nil && whole {
			if r, err := ParseLine(line); err == nil {
				seq = r.Seq
			}
		}
		files = append(files, file{path, seq})
	}
	slices.SortStableFunc(files, func(a, b file) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	ordered := make([]string, len(files))
	for i, f := range files {
		ordered[i] = f.path
	}
	return ordered, nil
}

// verifier carries the chain from one record to the next, and from one
// file to the next.
type verifier struct {
	opts   VerifyOptions
	keyID  string
	rep    *Report
	src    logSource
	hasher chainHasher

	have       bool // a record was seen
	lastSeq    uint64
	lastHash   string
	lastSealed bool
	lastFile   string
	lastLine   int
}

func (v *verifier) file(path string) error {
	f, err := v.src.open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	lr := newLineReader(f)
	for n := 1; ; n++ {
		line, whole, err := lr.next()
		switch {
		case err == nil && whole:
			if p := v.record(path, n, line); p != nil {
				return p
			}
		case err == nil && v.src.inUse(path):
			// A reader can see a batch half written; the writer has not
			// released any record of it yet.
			v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf(
				"%s:%d: partial line of %d bytes not checked: a writer holds the file and is writing it", path, n, len(line)))
			return nil
		case err == nil:
			return &Problem{File: path, Line: n, Kind: ProblemTorn, Message: fmt.Sprintf(
				"not a whole record: the file ends in the middle of a line (%d bytes after %s, no newline); the log was cut or a write was torn",
				len(line), v.after())}
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, errLineTooLong):
			return &Problem{File: path, Line: n, Kind: ProblemMalformed, Message: fmt.Sprintf(
				"not a record: the line is longer than %d bytes", maxLine)}
		default:
			return err
		}
	}
}

// after names the position after the last record, for messages.
func (v *verifier) after() string {
	if !v.have {
		return "the start of the log"
	}
	return "seq " + strconv.FormatUint(v.lastSeq, 10)
}

// record checks one line, numbered n in path, against the chain so far.
func (v *verifier) record(path string, n int, line []byte) *Problem {
	problem := func(seq uint64, kind ProblemKind, format string, args ...any) *Problem {
		return &Problem{File: path, Line: n, Seq: seq, Kind: kind, Message: fmt.Sprintf(format, args...)}
	}
	r, err := ParseLine(line)
	if err != nil {
		return problem(0, ProblemMalformed, "not a valid record (after %s): %v", v.after(), err)
	}
	computed, claimed, _ := v.hasher.lineHash(r.PrevHash, line)
	if !bytes.Equal(computed, claimed) {
		return problem(r.Seq, ProblemEdited, "hash mismatch: the record was edited (its bytes hash to %s, its hash member says %s)", computed, claimed)
	}
	if p := v.link(path, n, r, problem); p != nil {
		return p
	}
	switch r.Type {
	case TypeDecision:
		v.rep.Decisions++
	case TypeEvent:
		v.rep.Events++
	case TypeRecovery:
		v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf("%s:%d: seq %d: recovery: %s", path, n, r.Seq, r.Detail))
	case TypeCheckpoint:
		c := r.Checkpoint
		if c.OfSeq != r.Seq-1 || c.OfHash != r.PrevHash {
			return problem(r.Seq, ProblemCheckpoint, "checkpoint names seq %d (hash %s) but follows seq %d (hash %s)", c.OfSeq, c.OfHash, r.Seq-1, r.PrevHash)
		}
		v.rep.Checkpoints++
		if c.Sig != "" {
			v.rep.SignedCheckpoints++
		}
		if v.opts.PublicKey != nil {
			if err := verifySignature(c, v.opts.PublicKey, v.keyID); err != nil {
				return problem(r.Seq, ProblemSignature, "%v", err)
			}
		}
	}
	if !v.have {
		v.rep.FirstSeq = r.Seq
	}
	v.rep.Records++
	v.rep.LastSeq, v.rep.LastHash = r.Seq, r.Hash
	v.have, v.lastSeq, v.lastHash, v.lastSealed = true, r.Seq, r.Hash, r.sealing()
	v.lastFile, v.lastLine = path, n
	return nil
}

// link checks that r follows the previous record: seq first, because a
// wrong seq says which records are out of place, then prev_hash.
func (v *verifier) link(path string, n int, r *Record, problem func(uint64, ProblemKind, string, ...any) *Problem) *Problem {
	if !v.have {
		if r.Seq == 1 && r.PrevHash != GenesisHash {
			return problem(r.Seq, ProblemHashLink, "prev_hash link broken: the first record of a chain must have prev_hash %s, not %s", GenesisHash, r.PrevHash)
		}
		if r.Seq > 1 {
			v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf(
				"%s:%d: chain starts at seq %d: the link to earlier (rotated) files was not checked", path, n, r.Seq))
		}
		return nil
	}
	context := ""
	if n == 1 {
		context = fmt.Sprintf("the file does not continue %s, which ends at seq %d: ", v.lastFile, v.lastSeq)
	}
	want := v.lastSeq + 1
	switch {
	case r.Seq < want:
		return problem(r.Seq, ProblemSeqLink, "%sseq link broken: seq %d follows seq %d, want %d: a record was inserted, duplicated or moved here",
			context, r.Seq, v.lastSeq, want)
	case r.Seq > want:
		return problem(r.Seq, ProblemSeqLink, "%sseq link broken: seq %d follows seq %d, want %d: %d record(s) missing, deleted or moved",
			context, r.Seq, v.lastSeq, want, r.Seq-want)
	case r.PrevHash != v.lastHash:
		return problem(r.Seq, ProblemHashLink, "%sprev_hash link broken: prev_hash %s is not the hash of seq %d (%s): this record or the one before it was replaced",
			context, r.PrevHash, v.lastSeq, v.lastHash)
	}
	return nil
}

// finish applies the checks that need the whole chain: that there was one,
// and that it ends sealed.
func (v *verifier) finish(firstPath string) error {
	if !v.have {
		return &Problem{File: firstPath, Kind: ProblemEmpty, Message: "the log has no records"}
	}
	if v.opts.PublicKey == nil && v.rep.SignedCheckpoints > 0 {
		v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf(
			"%d checkpoint signature(s) were not verified: no public key was given", v.rep.SignedCheckpoints))
	}
	if unsigned := v.rep.Checkpoints - v.rep.SignedCheckpoints; unsigned > 0 {
		v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf(
			"%d checkpoint(s) are unsigned: only the hash chain protects this log, and a rewrite of the whole file would not be detected (sign checkpoints with an audit key)", unsigned))
	}
	if v.lastSealed {
		return nil
	}
	msg := fmt.Sprintf("log ends at seq %d without a closing checkpoint: truncated, or the writer did not close it", v.lastSeq)
	if v.opts.AllowUnsealed {
		v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf("%s:%d: %s", v.lastFile, v.lastLine, msg))
		return nil
	}
	if v.src.inUse(v.lastFile) {
		v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf("%s:%d: %s (a writer holds the file: it is still being written)", v.lastFile, v.lastLine, msg))
		return nil
	}
	return &Problem{File: v.lastFile, Line: v.lastLine, Seq: v.lastSeq, Kind: ProblemUnsealed, Message: msg}
}
