// Command relaybaseline is the floor for BENCHMARKS.md's stdio section: a relay that only copies lines
// between its stdin/stdout and a server's, with no parsing, policy or audit. It takes gatehouse run's
// command line and ignores everything before "--", so the load generator can drive it in gatehouse's
// place:
//
//	go build -o /tmp/relaybaseline ./tools/relaybaseline
//	go run ./tools/loadgen stdio --gatehouse BIN --baseline /tmp/relaybaseline --policy POLICY -- SERVER
//
// (scripts/bench does this for the Go test server.)
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"slices"
)

func main() {
	i := slices.Index(os.Args, "--")
	if i < 0 || i == len(os.Args)-1 {
		fmt.Fprintln(os.Stderr, "usage: relaybaseline [ignored...] -- <server command...>")
		os.Exit(2)
	}
	server := os.Args[i+1:]
	cmd := exec.Command(server[0], server[1:]...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "relaybaseline:", err)
		os.Exit(1)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "relaybaseline:", err)
		os.Exit(1)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "relaybaseline:", err)
		os.Exit(1)
	}
	go func() { // server → client
		r := bufio.NewReaderSize(out, 1<<20)
		for {
			line, err := r.ReadSlice('\n')
			os.Stdout.Write(line) // a line longer than the buffer is copied in pieces
			if err != nil && err != bufio.ErrBufferFull {
				os.Exit(0)
			}
		}
	}()
	r := bufio.NewReaderSize(os.Stdin, 1<<20) // client → server
	for {
		line, err := r.ReadSlice('\n')
		in.Write(line)
		if err != nil && err != bufio.ErrBufferFull {
			in.Close()
			cmd.Wait()
			return
		}
	}
}
