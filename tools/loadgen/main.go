// Command loadgen measures what gatehouse adds to MCP calls, by driving the same calls with the same
// client through gatehouse and directly to the same server, interleaved in one run so that machine
// noise falls on both alike. It reports percentiles for each target and the difference.
//
//	go run ./tools/loadgen stdio --gatehouse ./gatehouse --policy examples/policies/everything-demo.yaml \
//	    -- .cache/peers/npm/node_modules/.bin/mcp-server-everything stdio
//	go run ./tools/loadgen http --direct http://127.0.0.1:38112/ --gateway http://127.0.0.1:38180/mcp
//	go run ./tools/loadgen sessions --url http://127.0.0.1:38180/mcp --pid $(pgrep -f 'gatehouse serve')
//	go run ./tools/loadgen message --tokens 25000000 -- ./gatehouse run --policy POLICY -- SERVER
//
// The stdio mode sends one tools/call at a time (the latency a single agent sees); the http mode
// drives many concurrent clients (throughput); both check every answer. The sessions mode measures
// what an idle legacy session costs the gateway; the message mode what one message of many JSON
// tokens costs it.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func main() {
	modes := map[string]func([]string) error{"stdio": stdio, "http": httpLoad, "sessions": sessionsLoad, "message": message}
	if len(os.Args) < 2 || modes[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, `usage:
  loadgen stdio [flags] -- <server command...>   sequential calls through gatehouse run vs direct
  loadgen http --direct URL --gateway URL        concurrent calls through gatehouse serve vs direct
  loadgen sessions --url URL --pid PID           memory per idle legacy session
  loadgen message [flags] -- <command...>        time and peak memory of one message of many tokens
(loadgen MODE -h for flags)`)
		os.Exit(2)
	}
	if err := modes[os.Args[1]](os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// target is one way of reaching the server.
type target struct {
	name   string
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	lat    []time.Duration
	nextID int
	// cpu is the CPU time (user and system, all threads) the target's process spent during the
	// measured calls: the server's for direct, gatehouse's own (not its server's) otherwise.
	cpu time.Duration
}

// cpuTime is the CPU time process pid has used so far, from /proc (clock ticks of 10 ms, so it is
// read over thousands of calls).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after its closing parenthesis do not.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var utime, stime int64
	fmt.Sscan(fields[11], &utime) // field 14 of stat(5), counting the pid and name
	fmt.Sscan(fields[12], &stime)
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

func stdio(args []string) error {
	fs := flag.NewFlagSet("stdio", flag.ExitOnError)
	bin := fs.String("gatehouse", "gatehouse", "gatehouse binary")
	policy := fs.String("policy", "", "rules policy for the gatehouse targets (required)")
	calls := fs.Int("calls", 5000, "measured calls per target")
	warmup := fs.Int("warmup", 500, "unmeasured calls per target first")
	block := fs.Int("block", 250, "calls per target before switching to the next (interleaving)")
	pause := fs.Duration("pause", 0, "idle time before each measured call, so that every call reaches an idle gateway as an agent's calls do between model turns (use with --block 1)")
	tool := fs.String("tool", "echo", "tool to call")
	toolArgs := fs.String("args", `{"message":"hello from loadgen"}`, "tool arguments (JSON)")
	want := fs.String("want", "hello from loadgen", "text every answer must contain")
	withOff := fs.Bool("with-mode-off", true, "also measure gatehouse with --mode off (relay and audit, no policy)")
	withFsync := fs.Bool("with-fsync", true, "measure gatehouse with the default fsync'd audit")
	var baselines []string
	fs.Func("baseline", "another binary taking gatehouse run's flags (an earlier build, or tools/relaybaseline) to measure in the same run with the write-mode row's flags; may be repeated",
		func(s string) error { baselines = append(baselines, s); return nil })
	if err := fs.Parse(args); err != nil {
		return err
	}
	server := fs.Args()
	if len(server) == 0 || *policy == "" {
		return fmt.Errorf("need --policy and the server command after --")
	}
	dir, err := os.MkdirTemp("", "loadgen")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	type spec struct {
		name string
		argv []string
	}
	gatehouse := func(bin, audit string, flags ...string) []string {
		argv := append([]string{bin, "run", "--log-level", "error"}, flags...)
		argv = append(argv, "--audit", filepath.Join(dir, audit), "--")
		return append(argv, server...)
	}
	specs := []spec{{"direct", server}}
	if *withFsync {
		specs = append(specs, spec{"gatehouse (rules, fsync'd audit)", gatehouse(*bin, "audit-enforce.jsonl", "--policy", *policy)})
	}
	specs = append(specs, spec{"gatehouse (rules, audit durability write)",
		gatehouse(*bin, "audit-write.jsonl", "--policy", *policy, "--audit-durability", "write")})
	for i, b := range baselines {
		specs = append(specs, spec{fmt.Sprintf("%s (the write-mode row's flags)", filepath.Base(b)),
			gatehouse(b, fmt.Sprintf("audit-baseline%d.jsonl", i), "--policy", *policy, "--audit-durability", "write")})
	}
	if *withOff {
		specs = append(specs, spec{"gatehouse --mode off (fsync'd audit)", gatehouse(*bin, "audit-off.jsonl", "--mode", "off")})
	}
	var targets []*target
	for _, s := range specs {
		t, err := start(s.name, s.argv)
		if err != nil {
			return err
		}
		defer t.stop()
		targets = append(targets, t)
	}
	params := json.RawMessage(fmt.Sprintf(`{"name":%q,"arguments":%s}`, *tool, *toolArgs))
	for _, t := range targets {
		for i := 0; i < *warmup; i++ {
			if _, err := t.call(params, *want); err != nil {
				return fmt.Errorf("%s warm-up: %w", t.name, err)
			}
		}
	}
	cpu0 := make([]time.Duration, len(targets))
	for i, t := range targets {
		if cpu0[i], err = cpuTime(t.cmd.Process.Pid); err != nil {
			return err
		}
	}
	for done := 0; done < *calls; done += *block {
		n := min(*block, *calls-done)
		for _, t := range targets {
			for i := 0; i < n; i++ {
				time.Sleep(*pause)
				d, err := t.call(params, *want)
				if err != nil {
					return fmt.Errorf("%s: %w", t.name, err)
				}
				t.lat = append(t.lat, d)
			}
		}
	}
	for i, t := range targets {
		cpu, err := cpuTime(t.cmd.Process.Pid)
		if err != nil {
			return err
		}
		t.cpu = cpu - cpu0[i]
	}
	report(targets, *calls, *block, *pause, server)
	return nil
}

func start(name string, argv []string) (*target, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	t := &target{name: name, cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)}
	init := json.RawMessage(`{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"loadgen","version":"1"}}`)
	if _, err := t.request("initialize", init); err != nil {
		return nil, fmt.Errorf("%s: initialize: %w", name, err)
	}
	if _, err := io.WriteString(in, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n"); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *target) stop() {
	t.in.Close()
	done := make(chan struct{})
	go func() { t.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.cmd.Process.Kill()
	}
}

// request sends one request and waits for its answer, skipping notifications.
func (t *target) request(method string, params json.RawMessage) ([]byte, error) {
	t.nextID++
	frame, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": t.nextID, "method": method, "params": params})
	if _, err := t.in.Write(append(frame, '\n')); err != nil {
		return nil, err
	}
	want := fmt.Sprintf(`"id":%d`, t.nextID)
	for {
		line, err := t.out.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		if bytes.Contains(line, []byte(want)) && !bytes.Contains(line, []byte(`"method"`)) {
			if bytes.Contains(line, []byte(`"error"`)) {
				return nil, fmt.Errorf("error answer: %s", line)
			}
			return line, nil
		}
	}
}

func (t *target) call(params json.RawMessage, want string) (time.Duration, error) {
	t0 := time.Now()
	line, err := t.request("tools/call", params)
	d := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if !strings.Contains(string(line), want) {
		return 0, fmt.Errorf("answer lacks %q: %s", want, line)
	}
	return d, nil
}

type stats struct{ p50, p90, p99, mean time.Duration }

func summarize(d []time.Duration) stats {
	s := slices.Clone(d)
	slices.Sort(s)
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return stats{p50: at(0.50), p90: at(0.90), p99: at(0.99), mean: sum / time.Duration(len(s))}
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1000) }

func report(targets []*target, calls, block int, pause time.Duration, server []string) {
	host, _ := os.Hostname()
	how := fmt.Sprintf("interleaved in blocks of %d", block)
	if pause > 0 {
		how += fmt.Sprintf(", each after %s idle", pause)
	}
	fmt.Printf("stdio tools/call latency, %d sequential calls per target, %s; server: %s; host %s\n\n",
		calls, how, filepath.Base(server[0])+" "+strings.Join(server[1:], " "), host)
	fmt.Println("| target | p50 | p90 | p99 | mean | added p50 | added p99 | CPU per call |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	base := summarize(targets[0].lat)
	for _, t := range targets {
		s := summarize(t.lat)
		added50, added99 := "—", "—"
		if t != targets[0] {
			added50, added99 = us(s.p50-base.p50), us(s.p99-base.p99)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", t.name, us(s.p50), us(s.p90), us(s.p99), us(s.mean), added50, added99,
			us(t.cpu/time.Duration(calls)))
	}
	fmt.Println("\nCPU per call: the process's user and system time over the measured calls (10 ms ticks), divided by")
	fmt.Println("the calls; for direct that is the server, for gatehouse gatehouse alone (its server is not counted).")
}
