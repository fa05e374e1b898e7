package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/lineloop"
)

// StdioConfig describes one stdio server.
type StdioConfig struct {
	// Name is the upstream's name in logs, audit records and policy (servers globs).
	Name string
	// Command is the program and its arguments.
	Command []string
	// Env is appended to the environment the child inherits (ChildEnv).
	Env []string
	// Withhold names further variables of gatehouse's environment the child must not see: those
	// the configuration reads secrets from (credentials of other upstreams, token keys).
	Withhold []string
	// Dir is the child's working directory; empty means gatehouse's.
	Dir string
	// MaxFrame is the largest message accepted from the child, in bytes.
	MaxFrame int
	// BackoffInitial and BackoffMax bound the wait before a restart. The wait doubles after each
	// crash and resets once a child has stayed up for StableAfter.
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	StableAfter    time.Duration
	// StopGrace is how long a child may take to exit after its stdin is closed before it is sent
	// SIGTERM, and again before SIGKILL.
	StopGrace time.Duration
	Logger    *slog.Logger
}

func (c *StdioConfig) defaults() {
	if c.MaxFrame <= 0 {
		c.MaxFrame = jsonrpc.DefaultMaxBytes
	}
	if c.BackoffInitial <= 0 {
		c.BackoffInitial = 100 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 30 * time.Second
	}
	if c.StableAfter <= 0 {
		c.StableAfter = 30 * time.Second
	}
	if c.StopGrace <= 0 {
		// MCP clients typically allow 2 s after closing stdin before SIGTERM, and 2 s more before
		// SIGKILL; a server that ignores its closed stdin must be stopped well within that.
		c.StopGrace = time.Second
	}
}

// EventKind says what happened to the upstream.
type EventKind int

// The kinds of event, in the order they occur for one process: Started, then Frame and TooLong
// events, then Exited.
const (
	Started EventKind = iota + 1
	Frame
	TooLong
	Exited
)

// Event is one thing that happened to the upstream process.
type Event struct {
	Kind EventKind
	// Gen numbers the process: 1 for the first start, +1 for every restart.
	Gen int
	// Frame is a line the process wrote to stdout (Frame), or the first bytes of an oversize one
	// (TooLong).
	Frame []byte
	// Err is why the process exited (Exited) or how long the oversize line was (TooLong).
	Err error
	// Backoff is how long until the next start (Exited).
	Backoff time.Duration
}

// Stdio supervises one stdio MCP server.
type Stdio struct {
	cfg    StdioConfig
	events chan Event
	// onFrame, when set, receives Frame and TooLong events in the reading goroutine instead of the
	// channel (HandleFrames).
	onFrame func(ev Event, more bool)
	// loop, when set, reads each process's stdout instead of a goroutine of its own (ReadOn).
	loop *lineloop.Loop

	mu    sync.Mutex
	cur   *process // nil while no process runs
	count int
}

type process struct {
	gen   int
	cmd   *exec.Cmd
	stdin *os.File
	done  chan struct{} // closed when the process has exited and its stdout is drained

	wmu sync.Mutex
	// backlog is what the process has not yet taken of the frames sent to it, written by the drain
	// goroutine while draining is set; queued counts it with what that goroutine is writing.
	backlog  []byte
	queued   int
	draining bool
	werr     error // the write that failed; every later Send fails with it
}

// NewStdio returns a supervisor for cfg; Run starts it.
func NewStdio(cfg StdioConfig) *Stdio {
	cfg.defaults()
	return &Stdio{cfg: cfg, events: make(chan Event, 256)}
}

// Name returns the upstream's name.
func (s *Stdio) Name() string { return s.cfg.Name }

// Events is the ordered stream of what happens to the upstream. It is closed when Run returns.
func (s *Stdio) Events() <-chan Event { return s.events }

// HandleFrames makes h receive the Frame and TooLong events, in order, in the goroutine that read
// them, instead of the Events channel; more says whether further output has already been read. Started
// and Exited still go to the channel: a process's Exited follows the return of h for its last frame.
// Handing each answer to another goroutine costs a thread wake-up on an idle gateway; this avoids
// it. h must not block for long: the process's output waits behind it. Call it before Run.
func (s *Stdio) HandleFrames(h func(ev Event, more bool)) { s.onFrame = h }

// ReadOn makes l read each process's output, calling the frame handler (HandleFrames) in l's
// goroutine; it needs one. A process's Exited event still follows the handler's return for its last
// frame. Call it before Run. Without it, or if l cannot take the output, a goroutine reads it.
func (s *Stdio) ReadOn(l *lineloop.Loop) { s.loop = l }

// ErrNotRunning is returned by Send while process generation gen is not the one running.
var ErrNotRunning = errors.New("upstream process is not running")

// Send writes one frame to process generation gen, and only to it. A request meant for a process that
// has since died must fail, not reach its replacement: the client has been (or will be) told the call
// failed, and a tool call is not safe to run behind its back. Frames must not contain newlines (the
// codec never produces any: JSON escapes them inside strings).
//
// Send never waits for the process to read. A gateway that waited could deadlock with a server that
// is itself waiting for the gateway to read its output. What the pipe cannot take at once is queued
// and written in order by a goroutine of its own; a process that leaves more than its backlog limit
// (twice the largest frame) unread is not reading its input, and Send fails with ErrBacklogFull.
func (s *Stdio) Send(gen int, frame []byte) error {
	s.mu.Lock()
	p := s.cur
	s.mu.Unlock()
	if p == nil || p.gen != gen {
		return ErrNotRunning
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.werr != nil {
		return p.werr
	}
	if p.draining {
		if p.queued+len(frame)+1 > 2*s.cfg.MaxFrame {
			return fmt.Errorf("%w: %d bytes of earlier frames unread by upstream %s", ErrBacklogFull, p.queued, s.cfg.Name)
		}
		p.backlog = append(append(p.backlog, frame...), '\n')
		p.queued += len(frame) + 1
		return nil
	}
	buf := make([]byte, 0, len(frame)+1)
	buf = append(append(buf, frame...), '\n')
	n, err := writeNow(p.stdin, buf)
	if err != nil {
		p.werr = fmt.Errorf("write to upstream %s: %w", s.cfg.Name, err)
		return p.werr
	}
	if n < len(buf) {
		p.backlog, p.queued, p.draining = buf[n:], len(buf)-n, true
		go s.drain(p)
	}
	return nil
}

// ErrBacklogFull is returned by Send when the process has left too much of its input unread.
var ErrBacklogFull = errors.New("upstream is not reading its input")

// writeNow writes what the pipe takes of buf without waiting, and returns how much that was.
func writeNow(f *os.File, buf []byte) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for n < len(buf) {
			var m int
			m, werr = syscall.Write(int(fd), buf[n:])
			if werr == syscall.EINTR {
				continue
			}
			if werr != nil || m <= 0 {
				break
			}
			n += m
		}
		return true // never wait for the pipe: what it did not take is the caller's to queue
	})
	if werr == syscall.EAGAIN {
		werr = nil
	}
	if err == nil {
		err = werr
	}
	return n, err
}

// drain writes p's backlog in order, waiting for the process to read it, until none is left.
func (s *Stdio) drain(p *process) {
	for {
		p.wmu.Lock()
		buf := p.backlog
		p.backlog = nil
		if len(buf) == 0 {
			p.draining = false
			p.wmu.Unlock()
			return
		}
		p.wmu.Unlock()
		n, err := p.stdin.Write(buf)
		p.wmu.Lock()
		p.queued -= n
		if err != nil {
			p.werr = fmt.Errorf("write to upstream %s: %w", s.cfg.Name, err)
			p.backlog, p.queued, p.draining = nil, 0, false
			p.wmu.Unlock()
			if !errors.Is(err, os.ErrClosed) { // closed: the process is being stopped, or has exited
				s.cfg.Logger.Warn("could not write to upstream; its queued input is lost", "upstream", s.cfg.Name, "gen", p.gen, "error", err)
			}
			return
		}
		p.wmu.Unlock()
	}
}

// Kill terminates the running process (it is then restarted as after a crash). The gateway uses it
// when the process stops answering.
func (s *Stdio) Kill(reason string) {
	s.mu.Lock()
	p := s.cur
	s.mu.Unlock()
	if p == nil {
		return
	}
	s.cfg.Logger.Warn("killing upstream", "upstream", s.cfg.Name, "gen", p.gen, "reason", reason)
	killGroup(p.cmd, syscall.SIGKILL)
}

// Run supervises the server until ctx is cancelled, then stops it gracefully: stdin closed, SIGTERM
// after StopGrace, SIGKILL after another StopGrace. It returns an error only if the very first start
// fails (a command that cannot be executed at all is a configuration error, not a crash).
func (s *Stdio) Run(ctx context.Context) error {
	defer close(s.events)
	backoff := s.cfg.BackoffInitial
	for {
		p, err := s.start(ctx)
		if err != nil {
			if s.count == 1 {
				return err
			}
			s.cfg.Logger.Error("upstream failed to start", "upstream", s.cfg.Name, "error", err, "retry_in", backoff)
		} else {
			s.emit(ctx, Event{Kind: Started, Gen: p.gen})
			started := time.Now()
			select {
			case <-p.done:
			case <-ctx.Done():
				s.stop(p)
				return nil
			}
			if time.Since(started) >= s.cfg.StableAfter {
				backoff = s.cfg.BackoffInitial
			}
			exitErr := p.cmd.ProcessState
			s.mu.Lock()
			s.cur = nil
			s.mu.Unlock()
			s.cfg.Logger.Error("upstream exited", "upstream", s.cfg.Name, "gen", p.gen, "status", exitErr.String(), "restart_in", backoff)
			s.emit(ctx, Event{Kind: Exited, Gen: p.gen, Err: fmt.Errorf("upstream %s exited: %s", s.cfg.Name, exitErr), Backoff: backoff})
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(backoff*2, s.cfg.BackoffMax)
	}
}

func (s *Stdio) emit(ctx context.Context, e Event) {
	select {
	case s.events <- e:
	case <-ctx.Done():
	}
}

// ChildEnv is what a server gatehouse starts inherits of gatehouse's environment env: everything
// but gatehouse's own settings, which hold its secrets (every GATEHOUSE_* variable: the agent token
// and secret, the admin token, …), and the variables named in withhold. The server is what policy
// guards against; it must not be able to mint an agent's token or read another upstream's
// credentials.
func ChildEnv(env, withhold []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "GATEHOUSE_") || slices.Contains(withhold, name) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (s *Stdio) start(ctx context.Context) (*process, error) {
	s.count++
	if len(s.cfg.Command) == 0 {
		return nil, errors.New("no upstream command")
	}
	cmd := exec.Command(s.cfg.Command[0], s.cfg.Command[1:]...)
	cmd.Env = append(ChildEnv(os.Environ(), s.cfg.Withhold), s.cfg.Env...)
	cmd.Dir = s.cfg.Dir
	// Its own process group, so stopping it reaches anything it spawned, and a Ctrl-C meant for the
	// client's terminal does not kill the server behind gatehouse's back. Pdeathsig: if gatehouse itself
	// is killed (clients SIGKILL a wrapper that is slow to exit), the server must not live on, orphaned
	// and still holding whatever it holds — many servers ignore the end of their stdin.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}

	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	if err := cmd.Start(); err != nil {
		for _, f := range []*os.File{inR, inW, outR, outW, errR, errW} {
			f.Close()
		}
		return nil, fmt.Errorf("start upstream %s (%s): %w", s.cfg.Name, s.cfg.Command[0], err)
	}
	inR.Close()
	outW.Close()
	errW.Close()

	p := &process{gen: s.count, cmd: cmd, stdin: inW, done: make(chan struct{})}
	s.mu.Lock()
	s.cur = p
	s.mu.Unlock()
	s.cfg.Logger.Info("upstream started", "upstream", s.cfg.Name, "gen", p.gen, "pid", cmd.Process.Pid)

	readDone := make(chan struct{})
	cut := s.readOutput(ctx, p, outR, func() { close(readDone) })
	go s.readStderr(p, errR)
	go func() {
		cmd.Wait()
		// The process is gone; its stdout may still be held open by something it spawned. Give the
		// reader a moment to drain what was written, then cut it off.
		select {
		case <-readDone:
		case <-time.After(time.Second):
			cut()
			<-readDone
		}
		inW.Close()
		close(p.done)
	}()
	return p, nil
}

// readOutput starts reading the child's stdout r, on the loop if there is one, and returns the
// function that cuts the reading short. done is called once the last frame has been handled.
func (s *Stdio) readOutput(ctx context.Context, p *process, r *os.File, done func()) (cut func()) {
	if s.loop != nil && s.onFrame != nil {
		src, err := s.loop.Add(r, s.cfg.MaxFrame, lineloop.Handler{
			Frame: func(line []byte, err error, more bool) { s.line(ctx, p.gen, line, err, more) },
			End: func(err error) {
				if err != nil && !errors.Is(err, lineloop.ErrCut) && !errors.Is(err, lineloop.ErrClosed) {
					s.cfg.Logger.Warn("reading upstream stdout", "upstream", s.cfg.Name, "gen", p.gen, "error", err)
				}
				done()
			},
		})
		if err == nil {
			return src.Cut
		}
		s.cfg.Logger.Warn("reading upstream stdout in a goroutine of its own", "upstream", s.cfg.Name, "gen", p.gen, "reason", err)
	}
	go func() {
		defer done()
		s.readFrames(ctx, p, r)
	}()
	return func() { r.Close() }
}

// readFrames turns the child's stdout into events. Sends give up when ctx ends, so a consumer that has
// stopped reading at shutdown can never wedge the reader (and with it the stop sequence).
func (s *Stdio) readFrames(ctx context.Context, p *process, r *os.File) {
	defer r.Close()
	lr := jsonrpc.NewLineReader(r, s.cfg.MaxFrame)
	for {
		line, err := lr.Next()
		if err != nil && !errors.Is(err, jsonrpc.ErrTooLong) {
			if err != io.EOF && !errors.Is(err, os.ErrClosed) {
				s.cfg.Logger.Warn("reading upstream stdout", "upstream", s.cfg.Name, "gen", p.gen, "error", err)
			}
			return
		}
		s.line(ctx, p.gen, line, err, lr.Buffered() > 0)
	}
}

// line hands on one line of a process's output, or the *jsonrpc.LineTooLongError in its place.
func (s *Stdio) line(ctx context.Context, gen int, line []byte, err error, more bool) {
	var tooLong *jsonrpc.LineTooLongError
	if errors.As(err, &tooLong) {
		s.frame(ctx, Event{Kind: TooLong, Gen: gen, Frame: tooLong.Prefix, Err: tooLong}, more)
		return
	}
	s.frame(ctx, Event{Kind: Frame, Gen: gen, Frame: line}, more)
}

func (s *Stdio) frame(ctx context.Context, ev Event, more bool) {
	if s.onFrame != nil {
		s.onFrame(ev, more)
		return
	}
	s.emit(ctx, ev)
}

// maxStderrLine bounds one logged line of the child's stderr.
const maxStderrLine = 4096

func (s *Stdio) readStderr(p *process, r *os.File) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if len(line) > maxStderrLine {
			line = line[:maxStderrLine] + "...[TRUNCATED]"
		}
		s.cfg.Logger.Info("upstream stderr", "upstream", s.cfg.Name, "gen", p.gen, "line", line)
	}
}

// stop ends a process the way the MCP stdio transport asks: close its input, wait, then escalate.
func (s *Stdio) stop(p *process) {
	p.wmu.Lock()
	p.stdin.Close()
	p.wmu.Unlock()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		select {
		case <-p.done:
			return
		case <-time.After(s.cfg.StopGrace):
			s.cfg.Logger.Warn("upstream did not exit; signalling", "upstream", s.cfg.Name, "signal", sig.String())
			killGroup(p.cmd, sig)
		}
	}
	<-p.done
}

func killGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.Process == nil {
		return
	}
	// Negative pid: the whole process group the child leads.
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil {
		cmd.Process.Signal(sig)
	}
}
