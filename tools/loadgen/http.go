package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// httpLoad drives concurrent 2026-07-28 tools/call requests over Streamable HTTP at two endpoints in
// turn — the upstream directly and gatehouse in front of it — and reports throughput and latency.
func httpLoad(args []string) error {
	fs := flag.NewFlagSet("http", flag.ExitOnError)
	direct := fs.String("direct", "", "the upstream's MCP endpoint (required)")
	gateway := fs.String("gateway", "", "gatehouse's MCP endpoint in front of the same upstream (required)")
	workers := fs.Int("concurrency", 32, "concurrent clients")
	duration := fs.Duration("duration", 10*time.Second, "measured time per endpoint and round")
	rounds := fs.Int("rounds", 3, "rounds; each round measures both endpoints, alternating which goes first")
	tool := fs.String("tool", "test_simple_text", "tool to call")
	toolArgs := fs.String("args", `{}`, "tool arguments (JSON)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *direct == "" || *gateway == "" {
		return fmt.Errorf("need --direct and --gateway")
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *workers * 2, MaxConnsPerHost: *workers * 2}}
	results := map[string]*run{"direct": {}, "gatehouse": {}}
	for r := 0; r < *rounds; r++ {
		order := []string{"direct", "gatehouse"}
		if r%2 == 1 {
			order = []string{"gatehouse", "direct"}
		}
		for _, name := range order {
			url := *direct
			if name == "gatehouse" {
				url = *gateway
			}
			if err := results[name].drive(client, url, *tool, *toolArgs, *workers, *duration); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	host, _ := os.Hostname()
	fmt.Printf("Streamable HTTP tools/call (2026-07-28), %d concurrent clients, %d rounds of %s per endpoint, host %s\n\n", *workers, *rounds, *duration, host)
	fmt.Println("| endpoint | requests | errors | RPS | p50 | p99 |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, name := range []string{"direct", "gatehouse"} {
		r := results[name]
		s := summarize(r.lat)
		fmt.Printf("| %s | %d | %d | %.0f | %s | %s |\n", name, len(r.lat), r.errors.Load(), r.rps(), us(s.p50), us(s.p99))
	}
	ratio := results["gatehouse"].rps() / results["direct"].rps()
	fmt.Printf("\ngatehouse throughput / direct throughput: %.1f %%\n", ratio*100)
	return nil
}

type run struct {
	mu      sync.Mutex
	lat     []time.Duration
	elapsed time.Duration
	errors  atomic.Int64
}

func (r *run) rps() float64 { return float64(len(r.lat)) / r.elapsed.Seconds() }

func (r *run) drive(client *http.Client, url, tool, args string, workers int, d time.Duration) error {
	var wg sync.WaitGroup
	var seq atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var firstErr atomic.Value
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for time.Now().Before(deadline) {
				id := seq.Add(1)
				body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s,"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`, id, tool, args)
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("MCP-Protocol-Version", "2026-07-28")
				req.Header.Set("Mcp-Method", "tools/call")
				req.Header.Set("Mcp-Name", tool)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					r.errors.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"result"`)) {
					r.errors.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, b))
					continue
				}
				local = append(local, time.Since(t0))
			}
			r.mu.Lock()
			r.lat = append(r.lat, local...)
			r.mu.Unlock()
		}()
	}
	wg.Wait()
	r.elapsed += time.Since(start)
	if e := firstErr.Load(); e != nil && r.errors.Load() > int64(len(r.lat)/100) {
		return fmt.Errorf("%d errors, first: %v", r.errors.Load(), e)
	}
	return nil
}

// sessionsLoad opens N idle legacy sessions at an endpoint and reports the resident memory of the
// gateway process before and after (SPEC §14: at most 16 KB per idle session, 10,000 held).
func sessionsLoad(args []string) error {
	fs := flag.NewFlagSet("sessions", flag.ExitOnError)
	url := fs.String("url", "", "the MCP endpoint (required)")
	pid := fs.Int("pid", 0, "the gateway's process id, whose memory is measured (required)")
	n := fs.Int("n", 10000, "sessions to open in all, warm-up included")
	warmup := fs.Int("warmup", 200, "sessions opened before the first memory reading")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" || *pid == 0 {
		return fmt.Errorf("need --url and --pid")
	}
	if *warmup < 0 || *warmup >= *n {
		return fmt.Errorf("--warmup must be at least 0 and less than --n")
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	open := func() error {
		body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"loadgen","version":"1"}}}`
		req, _ := http.NewRequest(http.MethodPost, *url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		sid := resp.Header.Get("Mcp-Session-Id")
		if resp.StatusCode != 200 || sid == "" {
			return fmt.Errorf("initialize: HTTP %d, session %q", resp.StatusCode, sid)
		}
		req, _ = http.NewRequest(http.MethodPost, *url, strings.NewReader(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("MCP-Protocol-Version", "2025-11-25")
		resp, err = client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	for i := 0; i < *warmup; i++ { // warm up: connections, pools, first allocations
		if err := open(); err != nil {
			return err
		}
	}
	time.Sleep(500 * time.Millisecond)
	before, err := rss(*pid)
	if err != nil {
		return err
	}
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	sem := make(chan struct{}, 32)
	measured := *n - *warmup
	for i := 0; i < measured; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if open() != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	time.Sleep(2 * time.Second) // let the runtime settle
	after, err := rss(*pid)
	if err != nil {
		return err
	}
	opened := measured - int(failed.Load())
	fmt.Printf("%d idle legacy sessions held (%d warm-up, %d measured, %d failed); measured ones opened in %s; gateway RSS %d KiB -> %d KiB: %.1f KiB per session\n",
		*warmup+opened, *warmup, opened, failed.Load(), took.Round(time.Millisecond), before, after, float64(after-before)/float64(max(opened, 1)))
	if failed.Load() > 0 {
		return fmt.Errorf("%d sessions could not be opened", failed.Load())
	}
	return nil
}

// rss reads a process's resident set size in KiB from /proc.
func rss(pid int) (int, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}
