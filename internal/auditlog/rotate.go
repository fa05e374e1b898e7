package auditlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// seqDigits is the minimum width of the seq in a rotated file's name. Zero
// padding makes lexical order chain order for the first 10^12 records;
// Verify orders files by their content, so nothing breaks beyond that.
const seqDigits = 12

// rotatedName returns the name a file of the log at path gets when rotated
// away: <stem>-<firstSeq, zero-padded><ext>, in the same directory.
func rotatedName(path string, firstSeq uint64) string {
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s-%0*d%s", strings.TrimSuffix(path, ext), seqDigits, firstSeq, ext)
}

// rotatedSibling is a rotated file of a log and the seq its name carries.
type rotatedSibling struct {
	path     string
	firstSeq uint64
}

// siblings lists the rotated files of the log at path, in chain order.
func siblings(path string) ([]rotatedSibling, error) {
	dir := filepath.Dir(path)
	ext := filepath.Ext(path)
	prefix := strings.TrimSuffix(filepath.Base(path), ext) + "-"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var list []rotatedSibling
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		digits, ok := strings.CutSuffix(name, ext)
		if !ok || len(digits) < seqDigits || strings.Trim(digits, "0123456789") != "" {
			continue
		}
		seq, err := strconv.ParseUint(digits, 10, 64)
		if err != nil {
			continue
		}
		list = append(list, rotatedSibling{filepath.Join(dir, e.Name()), seq})
	}
	slices.SortFunc(list, func(a, b rotatedSibling) int {
		switch {
		case a.firstSeq < b.firstSeq:
			return -1
		case a.firstSeq > b.firstSeq:
			return 1
		}
		return strings.Compare(a.path, b.path)
	})
	return list, nil
}

// rotate seals the active file with a rotate checkpoint, renames it to its
// rotated name and continues in a fresh active file. The chain does not
// notice: the next record's prev_hash is the rotate checkpoint's hash.
//
// The old file stays open, and so locked, until the new one is created and
// locked, so no other writer can slip in between.
func (w *Writer) rotate() error {
	buf := w.appendCheckpoint(w.buf[:0], CheckpointRotate)
	if err := w.writeAndSync(buf); err != nil {
		return err
	}
	path := w.opts.Path
	target := rotatedName(path, w.firstSeq)
	if _, err := os.Lstat(target); err == nil {
		return fmt.Errorf("rotate: %s already exists; refusing to overwrite it", target)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rotate: %w", err)
	}
	if err := os.Rename(path, target); err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	f, err := openActive(path, os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return fmt.Errorf("rotate: %w", err)
	}
	old := w.f
	w.f, w.size, w.firstSeq = f, 0, 0
	old.Close()
	w.rotations.Add(1)
	w.log.Info("audit log rotated", "path", path, "rotated_to", target, "next_seq", w.seq+1)
	return nil
}
