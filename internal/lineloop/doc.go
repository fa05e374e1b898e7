// Package lineloop reads newline-delimited frames (the MCP stdio framing) from several files in one
// goroutine. gatehouse run uses it for the client's stdin and the server's stdout: one thread waits
// for both in epoll_wait and handles whichever is ready, so that a message reaches its handler on the
// thread the kernel woke, without passing between goroutines. It is opt-in (upstream.event_loop):
// BENCHMARKS.md says for which clients it is faster.
//
// Handlers run in the loop's goroutine: while one runs, no other source is read. They must not wait
// on input from another source of the same loop; writes that may wait for a peer belong elsewhere
// (upstream.Stdio.Send never waits).
//
// The loop needs epoll (Linux). Elsewhere Start fails with ErrUnsupported, and Add fails with
// ErrNotPollable for a file epoll cannot watch (a regular file, /dev/null); the caller reads such
// files with a goroutine of its own.
package lineloop

import "errors"

// Handler receives what the loop reads from one source.
type Handler struct {
	// Frame receives each frame, in order; err is a *jsonrpc.LineTooLongError (and line nil) for a
	// line over the limit. more says whether further input has already been read from the source.
	Frame func(line []byte, err error, more bool)
	// End is called once, after the last Frame, with the source already closed: err is nil at the
	// end of the stream, ErrCut after Source.Cut, ErrClosed after Loop.Close, or the read error.
	End func(err error)
}

var (
	// ErrNotPollable is returned by Add for a file epoll cannot watch.
	ErrNotPollable = errors.New("lineloop: file cannot be polled")
	// ErrClosed ends the sources left when the loop closes, and refuses new ones.
	ErrClosed = errors.New("lineloop: loop closed")
	// ErrCut ends a source that was cut.
	ErrCut = errors.New("lineloop: source cut")
	// ErrUnsupported is returned by Start where there is no epoll.
	ErrUnsupported = errors.New("lineloop: not supported on this platform")
)
