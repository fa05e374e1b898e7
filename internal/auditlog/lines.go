package auditlog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxLine is the longest line the verifier and recovery read. A record is
// at most MaxRecordBytes, so a longer line is not a record, and refusing it
// bounds the memory a hostile file can make a verifier use.
const maxLine = 1 << 20

// errLineTooLong is returned by lineReader for a line over maxLine.
var errLineTooLong = errors.New("line too long")

// lineReader reads the lines of a log one at a time with a small buffer,
// growing to maxLine only for a line that needs it.
type lineReader struct {
	br   *bufio.Reader
	long []byte // holds a line longer than br's buffer
}

func newLineReader(r io.Reader) *lineReader {
	// A record fits in 16 KiB, so one read of the buffer usually returns it.
	return &lineReader{br: bufio.NewReaderSize(r, 16<<10)}
}

// next returns the next line without its newline. whole is false for a
// final line with no newline. At the end of the input it returns io.EOF.
// The line is valid until the next call.
func (lr *lineReader) next() (line []byte, whole bool, err error) {
	chunk, err := lr.br.ReadSlice('\n')
	if err == nil {
		return chunk[:len(chunk)-1], true, nil
	}
	lr.long = append(lr.long[:0], chunk...)
	for errors.Is(err, bufio.ErrBufferFull) {
		if len(lr.long) > maxLine {
			return nil, false, errLineTooLong
		}
		chunk, err = lr.br.ReadSlice('\n')
		lr.long = append(lr.long, chunk...)
	}
	switch {
	case err == nil:
		if len(lr.long) > maxLine+1 {
			return nil, false, errLineTooLong
		}
		return lr.long[:len(lr.long)-1], true, nil
	case errors.Is(err, io.EOF) && len(lr.long) > 0:
		if len(lr.long) > maxLine {
			return nil, false, errLineTooLong
		}
		return lr.long, false, nil
	}
	return nil, false, err
}

// Records calls fn for every record of the file at path, in order, and stops at the first error fn
// returns. A line that is not a record is an error naming it: read a log that verified. A last line
// without its newline is one a writer has not finished: it is left out.
func Records(path string, fn func(*Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	lr := newLineReader(f)
	for n := 1; ; n++ {
		line, whole, err := lr.next()
		switch {
		case errors.Is(err, io.EOF), err == nil && !whole:
			return nil
		case err != nil:
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		rec, err := ParseLine(line)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}
