package auditlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// tailChunk is how much recovery reads at a time, going backwards from the
// end of a file. Records are at most MaxRecordBytes, but nothing relies on
// it: a longer line takes more chunks.
const tailChunk = 64 << 10

// recover finds where the chain continues after whatever wrote the log
// before, repairs a torn tail, and returns the details of the recovery
// records to write. It runs in Open, with the file locked.
//
// The last good record is the last line that is whole (ends in a newline),
// parses, and whose hash recomputes. Everything after it is a torn tail,
// typically half a batch cut by a crash: it is moved, byte for byte, to
// <path>.torn-<time>, and the file is truncated to the end of the good
// record. Nothing before the torn tail is touched.
func (w *Writer) recover() ([]string, error) {
	fi, err := w.f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	last, end, err := lastGoodRecord(w.f, size)
	if err != nil {
		return nil, fmt.Errorf("recover audit log %s: %w", w.opts.Path, err)
	}
	var details []string
	if last != nil {
		w.seq, w.lastHash = last.Seq, last.Hash
		w.firstSeq = w.headSeq(last.Seq)
	} else if err := w.continueFromSibling(&details); err != nil {
		return nil, err
	}
	if last != nil && !last.sealing() {
		details = append(details, fmt.Sprintf("previous writer did not close the log after seq %d", last.Seq))
	}
	if end < size {
		torn, err := w.moveTornTail(end, size)
		if err != nil {
			return nil, fmt.Errorf("recover audit log %s: %w", w.opts.Path, err)
		}
		after := "at the start of the log"
		if w.seq > 0 {
			after = fmt.Sprintf("after seq %d", w.seq)
		}
		details = append(details, fmt.Sprintf("moved %d bytes of torn tail %s from offset %d to %s",
			size-end, after, end, filepath.Base(torn)))
	}
	w.size = end
	return details, nil
}

// continueFromSibling continues the chain from the newest rotated file when
// the active file has no good record, as after a crash right after a
// rotation. With no rotated files the chain starts at genesis.
func (w *Writer) continueFromSibling(details *[]string) error {
	sibs, err := siblings(w.opts.Path)
	if err != nil || len(sibs) == 0 {
		return err
	}
	newest := sibs[len(sibs)-1].path
	f, err := os.Open(newest)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	last, end, err := lastGoodRecord(f, fi.Size())
	if err != nil {
		return fmt.Errorf("recover audit log from %s: %w", newest, err)
	}
	if end < fi.Size() {
		// A rotated file is evidence that is no longer ours to repair; say
		// what is wrong with it and leave it as it is.
		*details = append(*details, fmt.Sprintf("rotated file %s ends with %d bytes that are not a whole record; left in place",
			filepath.Base(newest), fi.Size()-end))
	}
	if last == nil {
		*details = append(*details, fmt.Sprintf("rotated file %s has no valid record; the chain restarts", filepath.Base(newest)))
		return nil
	}
	w.seq, w.lastHash = last.Seq, last.Hash
	if !last.sealing() {
		*details = append(*details, fmt.Sprintf("previous writer did not close the log after seq %d (in %s)", last.Seq, filepath.Base(newest)))
	}
	return nil
}

// headSeq returns the seq of the active file's first record, which names
// the file when it is rotated. If that record cannot be read the log is
// already damaged before the tail; fallback keeps names in order.
func (w *Writer) headSeq(fallback uint64) uint64 {
	r, err := readFirstRecord(io.NewSectionReader(w.f, 0, 1<<62))
	if err != nil {
		w.log.Warn("audit log: cannot read the first record of the active file", "path", w.opts.Path, "err", err)
		return fallback
	}
	return r.Seq
}

// moveTornTail copies bytes [end, size) of the active file to a new
// <path>.torn-<UTC time> file, makes it durable, and only then truncates
// the active file to end.
func (w *Writer) moveTornTail(end, size int64) (string, error) {
	name := w.opts.Path + ".torn-" + w.now().UTC().Format("20060102T150405.000000Z")
	dst, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(dst, io.NewSectionReader(w.f, end, size-end))
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(name))
	}
	if err != nil {
		return "", fmt.Errorf("move torn tail to %s: %w", name, err)
	}
	if err := w.f.Truncate(end); err != nil {
		return "", fmt.Errorf("truncate torn tail: %w", err)
	}
	if err := w.sync(w.f); err != nil {
		return "", fmt.Errorf("fsync after truncating torn tail: %w", err)
	}
	return name, nil
}

// lastGoodRecord scans f backwards from size for the last whole line that
// parses and whose hash recomputes. It returns that record and the offset
// just past its newline, or nil and 0 when there is none.
func lastGoodRecord(f io.ReaderAt, size int64) (*Record, int64, error) {
	t := tailReader{f: f, off: size, chunk: tailChunk}
	// The first piece is whatever follows the last newline: empty in a
	// healthy file, a torn line otherwise. It is never a record.
	if _, _, _, err := t.prev(); err != nil {
		return nil, 0, err
	}
	var h chainHasher
	for {
		line, start, ok, err := t.prev()
		if err != nil || !ok {
			return nil, 0, err
		}
		r, err := ParseLine(line)
		if errors.Is(err, errUnsupportedVersion) {
			// Written by a newer Gatehouse: these are records, not a torn
			// tail, and an older writer must not move them aside.
			return nil, 0, fmt.Errorf("line at offset %d: %w; refusing to append to a log written by a newer version", start, err)
		}
		if err != nil {
			continue
		}
		if computed, claimed, ok := h.lineHash(r.PrevHash, line); ok && bytes.Equal(computed, claimed) {
			return r, start + int64(len(line)) + 1, nil
		}
	}
}

// tailReader yields the lines of a file from the last to the first,
// reading backwards in chunks, so recovery costs the size of the tail and
// not of the file.
type tailReader struct {
	f     io.ReaderAt
	off   int64  // file offset of buf[0]
	buf   []byte // bytes [off, off+len(buf)) not yet returned
	chunk int
	done  bool // the line at offset 0 was returned
}

// prev returns the line before those already returned, without its
// newline, and its offset. The first call returns what follows the last
// newline (empty when the file ends with one). ok is false at the start of
// the file.
func (t *tailReader) prev() (line []byte, start int64, ok bool, err error) {
	for {
		if i := bytes.LastIndexByte(t.buf, '\n'); i >= 0 {
			line, t.buf = t.buf[i+1:], t.buf[:i]
			return line, t.off + int64(i) + 1, true, nil
		}
		if t.off == 0 {
			if t.done {
				return nil, 0, false, nil
			}
			t.done = true
			line, t.buf = t.buf, nil
			return line, 0, true, nil
		}
		n := min(int64(t.chunk), t.off)
		// A new array each time: lines already returned point into the old
		// one and stay valid.
		buf := make([]byte, int(n)+len(t.buf))
		if _, err := t.f.ReadAt(buf[:n], t.off-n); err != nil {
			return nil, 0, false, err
		}
		copy(buf[n:], t.buf)
		t.buf, t.off = buf, t.off-n
	}
}

// errNoFirstLine is returned by readFirstRecord for a file that does not
// start with a whole line.
var errNoFirstLine = errors.New("the file does not start with a whole line")

// readFirstRecord reads and parses the first line of r.
func readFirstRecord(r io.Reader) (*Record, error) {
	line, whole, err := newLineReader(r).next()
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, errLineTooLong), err == nil && !whole:
		return nil, errNoFirstLine
	case err != nil:
		return nil, err
	}
	return ParseLine(line)
}
