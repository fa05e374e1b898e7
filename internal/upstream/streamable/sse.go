package streamable

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Event is one Server-Sent Event.
type Event struct {
	ID    string
	Name  string // the event field; "" means "message"
	Data  []byte
	Retry int // milliseconds; 0 when absent
}

// ErrEventTooLarge is returned for an event whose data exceeds the reader's limit.
var ErrEventTooLarge = errors.New("SSE event exceeds the size limit")

// EventReader parses a text/event-stream body. It enforces a limit on each event's data while
// reading, so a hostile server cannot make the gateway buffer an unbounded event.
type EventReader struct {
	r     *bufio.Reader
	limit int
}

// NewEventReader reads events of at most limit bytes of data from r.
func NewEventReader(r io.Reader, limit int) *EventReader {
	return &EventReader{r: bufio.NewReaderSize(r, 4<<10), limit: limit} // longer lines are read in chunks
}

// Next returns the next event with data (events without data, such as a priming event carrying only
// an id, are returned too, with empty Data, so the caller can track Last-Event-ID). It returns io.EOF
// at the end of the stream.
func (er *EventReader) Next() (*Event, error) {
	ev := &Event{}
	var data bytes.Buffer
	seen := false
	for {
		line, err := er.readLine()
		if err != nil {
			if err == io.EOF && seen {
				return er.finish(ev, &data)
			}
			return nil, err
		}
		if len(line) == 0 {
			if !seen {
				continue
			}
			return er.finish(ev, &data)
		}
		if line[0] == ':' {
			continue // a comment: keep-alive
		}
		seen = true
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			if data.Len()+len(value)+1 > er.limit {
				return nil, ErrEventTooLarge
			}
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.Write(value)
		case "id":
			if !bytes.ContainsRune(value, 0) {
				ev.ID = string(value)
			}
		case "event":
			ev.Name = string(value)
		case "retry":
			if n, err := strconv.Atoi(string(value)); err == nil && n >= 0 {
				ev.Retry = n
			}
		}
	}
}

func (er *EventReader) finish(ev *Event, data *bytes.Buffer) (*Event, error) {
	ev.Data = append([]byte(nil), data.Bytes()...)
	return ev, nil
}

// readLine reads one line without its terminator (\n, \r\n or \r), bounded by the limit.
func (er *EventReader) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := er.r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > er.limit+64 {
			return nil, ErrEventTooLarge
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF && len(line) > 0 {
			break
		}
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, nil
}

// WriteEvent writes one event to w in text/event-stream framing. Data must not contain newlines
// (JSON-RPC frames never do); an id of "" is omitted.
func WriteEvent(w io.Writer, id string, data []byte) error {
	var b bytes.Buffer
	if id != "" {
		fmt.Fprintf(&b, "id: %s\n", id)
	}
	b.WriteString("event: message\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	_, err := w.Write(b.Bytes())
	return err
}
