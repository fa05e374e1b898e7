//go:build !linux

package lineloop

import "os"

// Loop is not available without epoll: Start fails, and callers read with goroutines of their own.
type Loop struct{}

// Source is a file the loop reads.
type Source struct{}

// Start fails with ErrUnsupported.
func Start() (*Loop, error) { return nil, ErrUnsupported }

// Add fails with ErrUnsupported.
func (l *Loop) Add(f *os.File, limit int, h Handler) (*Source, error) { return nil, ErrUnsupported }

// Cut does nothing.
func (s *Source) Cut() {}

// Close does nothing.
func (l *Loop) Close() {}
