package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// message sends one tools/call holding (or asking for) a message of many JSON tokens through a
// command that speaks MCP on stdio, and reports how long the answer took and the command's peak
// memory: what reading one such message costs gatehouse (limits.max_tokens).
func message(args []string) error {
	fs := flag.NewFlagSet("message", flag.ExitOnError)
	tokens := fs.Int("tokens", 1_000_000, "zeros in the message: [0,0,…]")
	in := fs.String("in", "request", "request: the zeros are an argument of a call to echo; result: the server answers with them (the Go test server's many tool)")
	fs.Parse(args)
	argv := fs.Args()
	if len(argv) == 0 || *tokens < 1 || (*in != "request" && *in != "result") {
		return fmt.Errorf("usage: loadgen message [--tokens N] [--in request|result] -- <command...>")
	}
	t, err := start(argv[0], argv)
	if err != nil {
		return err
	}
	defer t.stop()
	var frame []byte
	if *in == "request" {
		frame = append([]byte(`{"jsonrpc":"2.0","id":"big","method":"tools/call","params":{"name":"echo","arguments":{"message":"hi","zeros":[`),
			bytes.Repeat([]byte("0,"), *tokens-1)...)
		frame = append(frame, `0]}}}`+"\n"...)
	} else {
		frame = []byte(`{"jsonrpc":"2.0","id":"big","method":"tools/call","params":{"name":"many","arguments":{"tokens":` + strconv.Itoa(*tokens) + `}}}` + "\n")
	}
	sent := time.Now()
	if _, err := t.in.Write(frame); err != nil {
		return err
	}
	for {
		line, err := t.out.ReadBytes('\n')
		if err != nil {
			return err
		}
		if bytes.Contains(line, []byte(`"id":"big"`)) && !bytes.Contains(line, []byte(`"method"`)) {
			took := time.Since(sent)
			peak, err := peakMemory(t.cmd.Process.Pid)
			if err != nil {
				return err
			}
			fmt.Printf("%s of %d zeros; answer after %s: %.160s\npeak memory of %s: %.0f MiB\n",
				*in, *tokens, took.Round(time.Millisecond), bytes.TrimSpace(line), argv[0], float64(peak)/(1<<20))
			return nil
		}
	}
}

// peakMemory is a process's peak resident memory so far, in bytes (VmHWM, from /proc).
func peakMemory(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
