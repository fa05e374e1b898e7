package lineloop

import (
	"io"
	"os"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
)

// wakeID tags the loop's eventfd among the sources' events.
const wakeID = 0

// Loop reads newline-delimited frames from files in one goroutine, on an OS thread of its own that
// waits for all of them in epoll_wait.
type Loop struct {
	epfd int
	wake int // an eventfd: Cut and Close wake the loop through it
	done chan struct{}

	mu      sync.Mutex
	sources map[int32]*Source
	nextID  int32
	posted  []func()
	closing bool // Close was called
	stopped bool // the loop has stopped and released its descriptors
}

// Source is a file the loop reads.
type Source struct {
	loop  *Loop
	id    int32
	f     *os.File
	rc    syscall.RawConn
	split *jsonrpc.Splitter
	h     Handler
}

// Start starts a loop. It fails only where epoll is not available.
func Start() (*Loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	l := &Loop{epfd: epfd, wake: efd, done: make(chan struct{}), sources: map[int32]*Source{}, nextID: wakeID + 1}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeID}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
		unix.Close(efd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	go l.run()
	return l, nil
}

// Add makes the loop read frames of at most limit bytes from f and hand them to h. From then on the
// loop owns f: it closes it when the source ends. Add may be called from any goroutine. It fails with
// ErrNotPollable, leaving f open, for a file epoll cannot watch (a regular file, /dev/null).
func (l *Loop) Add(f *os.File, limit int, h Handler) (*Source, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return nil, ErrClosed
	}
	s := &Source{loop: l, id: l.nextID, f: f, rc: rc, split: jsonrpc.NewSplitter(limit), h: h}
	var ctlErr error
	if err := rc.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: s.id}
		ctlErr = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	}); err != nil {
		return nil, err
	}
	if ctlErr == unix.EPERM {
		return nil, ErrNotPollable
	}
	if ctlErr != nil {
		return nil, os.NewSyscallError("epoll_ctl", ctlErr)
	}
	l.nextID++
	l.sources[s.id] = s
	return s, nil
}

// Cut ends the source early: the loop stops reading it, closes it and calls its End with ErrCut. It
// may be called from any goroutine, and does nothing to a source that has already ended.
func (s *Source) Cut() {
	s.loop.post(func() { s.loop.end(s, ErrCut) })
}

// Close ends every source still open (their End gets ErrClosed), stops the loop and waits for it.
func (l *Loop) Close() {
	l.mu.Lock()
	already := l.closing
	l.closing = true
	l.mu.Unlock()
	if !already {
		l.post(nil)
	}
	<-l.done
}

// post runs fn in the loop's goroutine; nil stops the loop. After the loop has stopped it does
// nothing: every source has ended by then.
func (l *Loop) post(fn func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	l.posted = append(l.posted, fn)
	// An eventfd adds the 8-byte number written to its count; any non-zero count wakes the loop.
	one := [8]byte{1, 1, 1, 1, 1, 1, 1, 1}
	for {
		_, err := unix.Write(l.wake, one[:])
		if err != unix.EINTR {
			break // EAGAIN: the count is near overflow, so the loop is awake already
		}
	}
}

func (l *Loop) run() {
	defer close(l.done)
	// The loop's thread waits in epoll_wait itself, so that input wakes it directly, not through the
	// Go scheduler (a hand-off that costs a thread wake-up on an idle gateway).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	events := make([]unix.EpollEvent, 8)
	for {
		n, err := unix.EpollWait(l.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			panic("lineloop: epoll_wait: " + err.Error()) // only a bad epfd or buffer gets here
		}
		for _, ev := range events[:n] {
			if ev.Fd == wakeID {
				if !l.runPosted() {
					l.shutdown()
					return
				}
				continue
			}
			l.mu.Lock()
			s := l.sources[ev.Fd]
			l.mu.Unlock()
			if s != nil { // nil: ended earlier in this batch
				s.read()
			}
		}
	}
}

// runPosted runs the functions posted to the loop; false means it must stop.
func (l *Loop) runPosted() bool {
	var count [8]byte
	unix.Read(l.wake, count[:]) // reset the eventfd's count; EAGAIN if it was already read
	l.mu.Lock()
	posted := l.posted
	l.posted = nil
	l.mu.Unlock()
	for _, fn := range posted {
		if fn == nil {
			return false
		}
		fn()
	}
	return true
}

// shutdown ends every source left and releases the loop's descriptors.
func (l *Loop) shutdown() {
	l.mu.Lock()
	left := make([]*Source, 0, len(l.sources))
	for _, s := range l.sources {
		left = append(left, s)
	}
	l.mu.Unlock()
	for _, s := range left {
		l.end(s, ErrClosed)
	}
	l.mu.Lock()
	l.stopped = true
	unix.Close(l.wake)
	unix.Close(l.epfd)
	l.mu.Unlock()
}

// read makes one read of a ready source and hands on every whole frame it completed. One read per
// readiness, never more, so that a file in blocking mode (a client's stdin) cannot stall the loop.
func (s *Source) read() {
	_, err := s.split.ReadOnce(rawReader{s.rc})
	for {
		line, ferr := s.split.Next()
		switch {
		case ferr == jsonrpc.ErrIncomplete:
			if err != nil && err != io.EOF {
				s.loop.end(s, err)
			}
			return
		case ferr == io.EOF:
			s.loop.end(s, nil)
			return
		case ferr != nil: // an oversize line
			s.h.Frame(nil, ferr, s.split.Buffered() > 0)
		default:
			s.h.Frame(line, nil, s.split.Buffered() > 0)
		}
	}
}

// end stops reading s, closes it and calls its End, once.
func (l *Loop) end(s *Source, err error) {
	l.mu.Lock()
	if l.sources[s.id] != s {
		l.mu.Unlock()
		return
	}
	delete(l.sources, s.id)
	l.mu.Unlock()
	s.rc.Control(func(fd uintptr) { unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	s.f.Close()
	if s.h.End != nil {
		s.h.End(err)
	}
}

// rawReader reads a source's descriptor once, without waiting: the loop reads only what epoll says
// is ready. Reads go through the file's RawConn, so a descriptor closed meanwhile is never reused.
type rawReader struct{ rc syscall.RawConn }

func (r rawReader) Read(p []byte) (int, error) {
	var n int
	var err error
	if cerr := r.rc.Read(func(fd uintptr) bool {
		for {
			n, err = syscall.Read(int(fd), p)
			if err != syscall.EINTR {
				return true
			}
		}
	}); cerr != nil {
		return 0, cerr
	}
	switch {
	case err == syscall.EAGAIN: // spurious readiness
		return 0, nil
	case err != nil:
		return 0, err
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}
