package streamable

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Resumption of legacy streams (MCP 2025-11-25 "Resumability and Redelivery"; SPEC §2.1).
//
// Every SSE event gatehouse writes on a legacy session's streams — a GET stream of server-initiated
// messages, or a POST answer that became a stream — carries an id of the form
//
//	<tag>-<stream>-<seq>
//
// tag is 8 lowercase hex digits minted at random for the session (an id of another session, or of
// a gatehouse that restarted, is recognized as foreign), stream is the session's number for the
// stream (1, 2, …; every GET and every streamed POST answer opens one) and seq counts the stream's
// events from 1 (0 is the priming event a 2025-11-25 stream starts with). Ids are therefore unique
// within the session and name the stream they belong to, as the specification asks. Clients treat
// them as opaque.
//
// The session keeps the events it wrote in a replay buffer, bounded per session by count, bytes and
// age (ReplayEvents, ReplayBytes, ReplayAge), oldest evicted first. A GET with Last-Event-ID replays
// the retained events after that id on the stream it names and never those of another stream, then
// continues that stream: live for a GET stream, until the final response for a POST answer. The
// buffer belongs to the session: it is looked up only through the session's own id, bound to the
// caller and engagement that opened it, and dropped when the session ends.

// Default bounds of a session's replay buffer.
const (
	DefaultReplayEvents = 256
	DefaultReplayBytes  = 1 << 20
	DefaultReplayAge    = 2 * time.Minute
	// DefaultReplayTotalBytes bounds all sessions' buffers together.
	DefaultReplayTotalBytes = 64 << 20
)

// errMalformedEventID refuses a Last-Event-ID that gatehouse could not have written.
var errMalformedEventID = errors.New("malformed Last-Event-ID")

// replayBounds bound a session's replay buffer.
type replayBounds struct {
	events int
	bytes  int
	age    time.Duration
	// total counts the bytes every session retains; totalBytes bounds it (nil total: no bound).
	total      *atomic.Int64
	totalBytes int64
}

// eventLog is a session's resumable streams and the events retained for replay. Its zero value is
// ready and costs no allocation: a session that never streams never allocates any of it.
type eventLog struct {
	mu      sync.Mutex
	tag     string // minted with the first stream
	last    uint32 // the number of the last stream opened
	gen     uint64 // the last generation handed out (see stream.producer)
	streams map[uint32]*stream
	events  []event // every stream's retained events, oldest first
	bytes   int
	total   *atomic.Int64 // the handler's count of every session's retained bytes
	ended   bool          // the session ended: nothing is recorded any more
}

// event is one retained event.
type event struct {
	stream, seq uint32
	at          int64 // unix nanoseconds
	frame       []byte
}

// stream is one resumable stream of a session.
type stream struct {
	n   uint32
	get bool   // a GET stream (server-initiated messages), else a POST answer
	seq uint32 // the last seq assigned
	// lost is the highest seq evicted before it could be replayed.
	lost uint32
	kept int // events retained
	// done: a POST answer's request ended (its final response, if any, is the last event).
	done bool
	// live: something may still add events (a request in flight, a GET handler serving the stream).
	// A stream neither live nor retaining events is forgotten.
	live bool
	// producer is the generation of the answer whose events the stream records, owner that of the
	// response that delivers them. A POST answer keeps producing after a resumption takes over its
	// delivery; a resumed GET stream is produced and delivered by the GET that resumed it.
	producer, owner uint64
	// cancel ends what produces the stream: a request that outlived its client (when the session
	// ends), or the Listen of a GET stream (on takeover, and when the session ends).
	cancel context.CancelFunc
	// wake is closed when an event is recorded or the stream ends; made only for a waiting resumer.
	wake chan struct{}
}

// open starts a new stream produced and delivered by a new generation.
func (l *eventLog) open(get bool, cancel context.CancelFunc) (*stream, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tag == "" {
		var b [4]byte
		rand.Read(b[:])
		l.tag = hex.EncodeToString(b[:])
	}
	if l.streams == nil {
		l.streams = map[uint32]*stream{}
	}
	l.last++
	l.gen++
	st := &stream{n: l.last, get: get, live: !l.ended, producer: l.gen, owner: l.gen, cancel: cancel}
	if !l.ended {
		l.streams[st.n] = st
	}
	return st, l.gen
}

// endOtherGets ends every GET stream of the session served by an older GET than st's: a session
// has one GET stream at a time, so that a client cannot open streams (and, behind them, upstream
// streams) without bound. The newest wins, as when a client reconnects before the old connection
// is seen to be gone; two GETs arriving together cannot end each other.
func (l *eventLog) endOtherGets(st *stream) {
	l.mu.Lock()
	var ends []context.CancelFunc
	for _, o := range l.streams {
		if o != st && o.get && o.producer != 0 && o.producer < st.producer && o.cancel != nil {
			ends = append(ends, o.cancel)
		}
	}
	l.mu.Unlock()
	for _, end := range ends {
		end()
	}
}

// primeID is the id of st's priming event.
func (l *eventLog) primeID(st *stream) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.id(st, 0)
}

// id returns the event id of seq on st.
func (l *eventLog) id(st *stream, seq uint32) string {
	return l.tag + "-" + strconv.FormatUint(uint64(st.n), 10) + "-" + strconv.FormatUint(uint64(seq), 10)
}

// parseEventID splits an id written by gatehouse. Anything else is malformed.
func parseEventID(id string) (tag string, n, seq uint32, err error) {
	parts := strings.Split(id, "-")
	if len(parts) != 3 || len(parts[0]) != 8 || strings.ToLower(parts[0]) != parts[0] {
		return "", 0, 0, errMalformedEventID
	}
	if _, err := hex.DecodeString(parts[0]); err != nil {
		return "", 0, 0, errMalformedEventID
	}
	var nums [2]uint32
	for i, p := range parts[1:] {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil || strconv.FormatUint(v, 10) != p {
			return "", 0, 0, errMalformedEventID
		}
		nums[i] = uint32(v)
	}
	if nums[0] == 0 {
		return "", 0, 0, errMalformedEventID
	}
	return parts[0], nums[0], nums[1], nil
}

// lookup finds the stream a Last-Event-ID names. A well-formed id that is not this session's — of
// another session, of a gatehouse that restarted, of a stream forgotten since, or ahead of the
// stream — names nothing (nil, nil): the client gets a new stream.
func (l *eventLog) lookup(id string) (*stream, uint32, error) {
	tag, n, seq, err := parseEventID(id)
	if err != nil {
		return nil, 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.streams[n]
	if tag != l.tag || st == nil || seq > st.seq {
		return nil, 0, nil
	}
	return st, seq, nil
}

// record adds frame to st when gen produces it, and reports its id and whether gen delivers it.
// final ends a POST answer. Recording evicts the oldest events beyond the bounds.
func (l *eventLog) record(st *stream, gen uint64, frame []byte, final bool, b replayBounds) (id string, recorded, deliver bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return "", false, st.owner == gen // the session ended: what is still written goes without id
	}
	if st.producer != gen {
		return "", false, st.owner == gen
	}
	st.seq++
	id = l.id(st, st.seq)
	now := time.Now()
	l.events = append(l.events, event{stream: st.n, seq: st.seq, at: now.UnixNano(), frame: frame})
	l.bytes += len(frame)
	if l.total = b.total; l.total != nil {
		l.total.Add(int64(len(frame)))
	}
	st.kept++
	if final {
		st.done, st.live, st.cancel = true, false, nil
	}
	st.wakeLocked()
	l.evictLocked(now, b)
	return id, true, st.owner == gen
}

// orphan records that a POST answer's client went away holding an id: its request, which goes on
// for a resumption, ends with the session.
func (l *eventLog) orphan(st *stream, cancel context.CancelFunc) {
	l.mu.Lock()
	ended := l.ended
	if !ended && !st.done {
		st.cancel = cancel
	}
	l.mu.Unlock()
	if ended {
		cancel()
	}
}

// finish ends a POST answer whose request ended without a final response.
func (l *eventLog) finish(st *stream, gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st.producer != gen || st.done {
		return
	}
	st.done, st.live, st.cancel = true, false, nil
	st.wakeLocked()
	l.forgetLocked(st)
}

// attach makes a new generation the deliverer of st (and, for a GET stream, its producer) and
// returns the retained events after seq. It returns the cancel of the producer it took over from,
// for the caller to call: a GET stream is never produced twice.
func (l *eventLog) attach(st *stream, seq uint32, cancel context.CancelFunc) (gen uint64, evs []event, lost bool, previous context.CancelFunc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	gen = l.gen
	st.owner = gen
	if !l.ended && l.streams[st.n] == nil { // forgotten since it was looked up
		if l.streams == nil {
			l.streams = map[uint32]*stream{}
		}
		l.streams[st.n] = st
	}
	if st.get {
		previous = st.cancel
		st.producer, st.live, st.cancel = gen, !l.ended, cancel
		st.wakeLocked()
	}
	evs, lost = l.afterLocked(st, seq)
	return gen, evs, lost, previous
}

// since returns st's retained events after seq for gen, whether the stream is done, and a channel
// closed when there is more. ok is false when gen no longer delivers st (another resumption took
// it over, or the session ended).
func (l *eventLog) since(st *stream, gen uint64, seq uint32) (evs []event, done bool, wake <-chan struct{}, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended || st.owner != gen {
		return nil, false, nil, false
	}
	evs, _ = l.afterLocked(st, seq)
	if len(evs) == 0 && !st.done {
		if st.wake == nil {
			st.wake = make(chan struct{})
		}
		wake = st.wake
	}
	return evs, st.done, wake, true
}

// afterLocked copies st's retained events after seq; lost reports events evicted in between.
func (l *eventLog) afterLocked(st *stream, seq uint32) (evs []event, lost bool) {
	for _, e := range l.events {
		if e.stream == st.n && e.seq > seq {
			evs = append(evs, e)
		}
	}
	return evs, st.lost > seq
}

// detach ends gen's part in st when its response ends: nothing delivers the stream until it is
// resumed, and a GET stream is no longer produced.
func (l *eventLog) detach(st *stream, gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st.owner == gen {
		st.owner = 0
	}
	if st.get && st.producer == gen {
		st.producer, st.live, st.cancel = 0, false, nil
		l.forgetLocked(st)
	}
}

// prune evicts events older than the bounds allow.
func (l *eventLog) prune(now time.Time, b replayBounds) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evictLocked(now, b)
}

func (l *eventLog) evictLocked(now time.Time, b replayBounds) {
	cutoff := now.Add(-b.age).UnixNano()
	drop := 0
	for drop < len(l.events) {
		e := l.events[drop]
		if len(l.events)-drop <= b.events && l.bytes <= b.bytes && e.at >= cutoff &&
			(b.total == nil || b.total.Load() <= b.totalBytes) {
			break
		}
		l.bytes -= len(e.frame)
		if l.total != nil {
			l.total.Add(-int64(len(e.frame)))
		}
		if st := l.streams[e.stream]; st != nil {
			st.kept--
			st.lost = max(st.lost, e.seq)
			l.forgetLocked(st)
		}
		drop++
	}
	if drop == 0 {
		return
	}
	clear(l.events[:drop]) // release the frames
	l.events = l.events[drop:]
	if len(l.events) == 0 {
		l.events = nil // an idle session keeps nothing
	}
}

// forgetLocked drops a stream that nothing produces and that retains nothing: its ids become
// unknown, and a resumption with one of them gets a new stream.
func (l *eventLog) forgetLocked(st *stream) {
	if st.live || st.kept > 0 {
		return
	}
	delete(l.streams, st.n)
	if len(l.streams) == 0 {
		l.streams = nil
	}
}

// end drops everything when the session ends, and ends what still produces for nobody (GET
// streams' Listen, requests that outlived their client) or waits (resumptions). A response still
// being written goes on, its events without id.
func (l *eventLog) end() {
	l.mu.Lock()
	var cancels []context.CancelFunc
	for _, st := range l.streams {
		if st.cancel != nil {
			cancels = append(cancels, st.cancel)
		}
		st.live, st.cancel = false, nil
		st.wakeLocked()
	}
	clear(l.events)
	if l.total != nil {
		l.total.Add(-int64(l.bytes))
	}
	l.streams, l.events, l.bytes, l.ended = nil, nil, 0, true
	l.mu.Unlock()
	for _, cancel := range cancels {
		cancel()
	}
}

// wakeLocked tells a waiting resumer that the stream moved.
func (st *stream) wakeLocked() {
	if st.wake != nil {
		close(st.wake)
		st.wake = nil
	}
}
