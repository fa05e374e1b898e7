// Package redistest starts a real redis-server for a test, listening only on a Unix socket in the
// test's temporary directory, with no persistence. The tests that use it need redis-server installed
// (scripts/install-peers installs it); without it they fail, saying so, rather than skip.
package redistest

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Server is a running redis-server.
type Server struct {
	// Socket is the path of its Unix socket; URL is unix://Socket.
	Socket, URL string
}

// Start starts a redis-server for the test and stops it when the test ends. extra are more
// redis-server arguments (say "--requirepass", "pw").
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed: run scripts/install-peers (it runs apt-get install -y redis-server) or install it yourself")
	}
	dir, err := os.MkdirTemp("", "gh-redis-") // short: a Unix socket's path is limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "redis.sock")
	args := append([]string{"--port", "0", "--unixsocket", sock, "--unixsocketperm", "700", "--save", "",
		"--appendonly", "no", "--dir", dir}, extra...)
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	var log strings.Builder
	logDone, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
		}
	}()
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		<-logDone
		if t.Failed() {
			t.Logf("redis-server's log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("redis-server %s exited before it listened", strings.Join(extra, " "))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not listen on %s within 10s", sock)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &Server{Socket: sock, URL: "unix://" + sock}
}
