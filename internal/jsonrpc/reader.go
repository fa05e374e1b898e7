package jsonrpc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// salvagePrefix is how much of an oversize line is kept to recover its id.
const salvagePrefix = 4096

// ErrTooLong is returned (wrapped in a *LineTooLongError) for a line over the reader's limit.
var ErrTooLong = errors.New("line exceeds the size limit")

// LineTooLongError reports an oversize line. The line has been consumed and discarded as it was read,
// never held whole in memory; Prefix holds its first bytes so the sender's id can be salvaged.
type LineTooLongError struct {
	Size   int // bytes read before the line ended (or the stream did)
	Limit  int
	Prefix []byte
}

func (e *LineTooLongError) Error() string {
	return fmt.Sprintf("line of at least %d bytes exceeds the limit of %d bytes", e.Size, e.Limit)
}

func (e *LineTooLongError) Unwrap() error { return ErrTooLong }

// LineReader splits a byte stream into newline-delimited frames (the MCP stdio framing), enforcing a
// maximum frame size while reading.
type LineReader struct {
	r     *bufio.Reader
	limit int
}

// NewLineReader reads frames of at most limit bytes from r.
func NewLineReader(r io.Reader, limit int) *LineReader {
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	return &LineReader{r: bufio.NewReaderSize(r, 64<<10), limit: limit}
}

// Next returns the next non-empty line without its terminator (a trailing \r is dropped too). The
// returned slice is freshly allocated and owned by the caller. At the end of the stream it returns
// io.EOF; a final line without a newline is still returned first.
func (lr *LineReader) Next() ([]byte, error) {
	for {
		line, err := lr.readLine()
		if err != nil {
			return nil, err
		}
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		return line, nil
	}
}

// Buffered reports how many bytes have been read from the stream but not yet returned.
func (lr *LineReader) Buffered() int { return lr.r.Buffered() }

func (lr *LineReader) readLine() ([]byte, error) {
	var acc []byte
	for {
		chunk, err := lr.r.ReadSlice('\n')
		n := len(acc) + len(chunk)
		if err == nil {
			n-- // the newline itself does not count
		}
		if n > lr.limit {
			return nil, lr.discard(append(acc, chunk...), err)
		}
		switch {
		case err == nil:
			return append(acc, chunk[:len(chunk)-1]...), nil
		case errors.Is(err, bufio.ErrBufferFull):
			acc = append(acc, chunk...)
		case err == io.EOF:
			if len(acc)+len(chunk) == 0 {
				return nil, io.EOF
			}
			return append(acc, chunk...), nil
		default:
			return nil, err
		}
	}
}

// discard consumes the rest of an oversize line without keeping it.
func (lr *LineReader) discard(seen []byte, err error) error {
	tooLong := &LineTooLongError{Size: len(seen), Limit: lr.limit}
	tooLong.Prefix = append([]byte(nil), seen[:min(len(seen), salvagePrefix)]...)
	for errors.Is(err, bufio.ErrBufferFull) {
		var chunk []byte
		chunk, err = lr.r.ReadSlice('\n')
		tooLong.Size += len(chunk)
	}
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return err
	}
	return tooLong
}
