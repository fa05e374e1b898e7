package jsonrpc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// salvagePrefix is how much of an oversize line is kept to recover its id.
const salvagePrefix = 4096

// ErrTooLong is returned (wrapped in a *LineTooLongError) for a line over the reader's limit.
var ErrTooLong = errors.New("line exceeds the size limit")

// ErrIncomplete is returned by Splitter.Next when no whole line is buffered: more input is needed.
var ErrIncomplete = errors.New("no complete line buffered")

// LineTooLongError reports an oversize line. The line has been consumed and discarded as it was read,
// never held whole in memory; Prefix holds its first bytes so the sender's id can be salvaged.
type LineTooLongError struct {
	Size   int // the line's length without its newline (up to the end of the stream, if it had none)
	Limit  int
	Prefix []byte
}

func (e *LineTooLongError) Error() string {
	return fmt.Sprintf("line of %d bytes exceeds the limit of %d bytes", e.Size, e.Limit)
}

func (e *LineTooLongError) Unwrap() error { return ErrTooLong }

// readChunk is how much a Splitter asks for in one read, and the buffer it keeps between lines.
const readChunk = 64 << 10

// Splitter splits a byte stream into newline-delimited frames (the MCP stdio framing) without ever
// waiting for input: the owner reads into it with ReadOnce when input is ready, then takes the whole
// lines with Next. It enforces a maximum frame size while reading: an oversize line is discarded as
// it arrives, so memory stays within the limit plus one read, and it is reported once it has ended.
type Splitter struct {
	limit int
	buf   []byte // buf[start:] is input not yet returned
	start int
	scan  int               // buf[start:scan] is known to hold no newline
	skip  *LineTooLongError // the oversize line being discarded, if any
	eof   bool              // the stream has ended
}

// NewSplitter splits frames of at most limit bytes (DefaultMaxBytes if limit is not positive).
func NewSplitter(limit int) *Splitter {
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	return &Splitter{limit: limit}
}

// ReadOnce makes one Read call on r into the splitter and returns its result. The bytes read are
// kept even when an error comes with them. io.EOF marks the end of the stream: Next then returns the
// last line even without a newline, and io.EOF after it.
func (s *Splitter) ReadOnce(r io.Reader) (int, error) {
	if s.eof {
		return 0, io.EOF
	}
	s.reserve()
	n, err := r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if err == io.EOF {
		s.eof = true
	}
	return n, err
}

// reserve makes room for one read after the unreturned input.
func (s *Splitter) reserve() {
	if s.start == len(s.buf) && cap(s.buf) > 4*readChunk {
		s.buf = nil // drop the buffer a big frame grew; the next small ones need no more than a chunk
	}
	if s.buf == nil {
		s.buf = make([]byte, 0, readChunk)
		s.start, s.scan = 0, 0
		return
	}
	if s.start > 0 { // move the unreturned input to the front
		n := copy(s.buf, s.buf[s.start:])
		s.buf, s.scan, s.start = s.buf[:n], s.scan-s.start, 0
	}
	if cap(s.buf)-len(s.buf) < readChunk {
		grown := make([]byte, len(s.buf), max(2*cap(s.buf), len(s.buf)+readChunk))
		copy(grown, s.buf)
		s.buf = grown
	}
}

// Buffered reports how many bytes have been read but neither returned nor discarded.
func (s *Splitter) Buffered() int { return len(s.buf) - s.start }

// Next returns the next non-empty line without its terminator (trailing \r are dropped too), freshly
// allocated and owned by the caller. It returns a *LineTooLongError for a line over the limit once
// that line has ended, ErrIncomplete when no whole line is buffered, and io.EOF once the stream has
// ended and everything before it has been returned.
func (s *Splitter) Next() ([]byte, error) {
	for {
		i := bytes.IndexByte(s.buf[s.scan:], '\n')
		if i < 0 {
			return s.partial()
		}
		end := s.scan + i
		line := s.buf[s.start:end]
		s.start, s.scan = end+1, end+1
		if s.skip == nil && len(line) > s.limit {
			s.skip = &LineTooLongError{Limit: s.limit}
		}
		if s.skip != nil {
			return nil, s.skipped(line)
		}
		if frame := trimFrame(line); frame != nil {
			return frame, nil
		}
	}
}

// partial handles the buffered input when it holds no newline.
func (s *Splitter) partial() ([]byte, error) {
	rest := s.buf[s.start:]
	s.scan = len(s.buf)
	if s.skip == nil && len(rest) > s.limit {
		s.skip = &LineTooLongError{Limit: s.limit} // too long already, wherever it ends: discard it as it comes
	}
	if s.skip != nil {
		s.skip.discarded(rest)
		s.start = len(s.buf)
		if s.eof {
			return nil, s.skipped(nil)
		}
		return nil, ErrIncomplete
	}
	if !s.eof {
		return nil, ErrIncomplete
	}
	s.start = len(s.buf)
	if frame := trimFrame(rest); frame != nil {
		return frame, nil
	}
	return nil, io.EOF
}

// skipped ends the discarded line, whose last bytes are tail.
func (s *Splitter) skipped(tail []byte) error {
	e := s.skip
	s.skip = nil
	e.discarded(tail)
	return e
}

// discarded counts b as part of the oversize line, keeping it while the prefix has room.
func (e *LineTooLongError) discarded(b []byte) {
	if room := salvagePrefix - len(e.Prefix); room > 0 {
		e.Prefix = append(e.Prefix, b[:min(room, len(b))]...)
	}
	e.Size += len(b)
}

// trimFrame returns a copy of line without its trailing \r, or nil if it is blank.
func trimFrame(line []byte) []byte {
	line = bytes.TrimRight(line, "\r")
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	return bytes.Clone(line)
}

// LineReader reads newline-delimited frames from a blocking reader: a Splitter fed from r.
type LineReader struct {
	r     io.Reader
	s     *Splitter
	err   error // the reader's error, returned once the lines read before it are
	empty int   // consecutive reads that returned nothing
}

// maxEmptyReads is how many reads in a row may return no data and no error before the reader is
// taken to be broken (as bufio.Reader does).
const maxEmptyReads = 100

// NewLineReader reads frames of at most limit bytes from r.
func NewLineReader(r io.Reader, limit int) *LineReader {
	return &LineReader{r: r, s: NewSplitter(limit)}
}

// Next returns the next non-empty line as Splitter.Next does, reading from r as needed. At the end
// of the stream it returns io.EOF; a final line without a newline is still returned first. A read
// error is returned after the lines read before it.
func (lr *LineReader) Next() ([]byte, error) {
	for {
		line, err := lr.s.Next()
		if err != ErrIncomplete {
			return line, err
		}
		if lr.err != nil {
			return nil, lr.err
		}
		n, err := lr.s.ReadOnce(lr.r)
		switch {
		case err != nil && err != io.EOF:
			lr.err = err
		case n > 0 || err == io.EOF:
			lr.empty = 0
		default:
			if lr.empty++; lr.empty >= maxEmptyReads {
				lr.err = io.ErrNoProgress
			}
		}
	}
}

// Buffered reports how many bytes have been read from the stream but not yet returned.
func (lr *LineReader) Buffered() int { return lr.s.Buffered() }
