package rego

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// reportP99 times single decisions and reports their median and 99th percentile, the figure SPEC §14
// sets a bar for (≤ 60 µs for the starter bundle on a 2-core machine). It runs after b.Loop, whose
// timer is stopped. Next to wall-clock time it reports the CPU time of each decision (cpu-p50-ns,
// cpu-p99-ns, on Linux): on a machine shared with other work, wall-clock percentiles include the time
// a decision waited for a CPU, and CPU time is what the decision itself costs.
func reportP99(b *testing.B, f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const n = 20000
	wall := make([]time.Duration, n)
	cpu := make([]time.Duration, n)
	for i := range wall {
		c0, t0 := threadCPU(), time.Now()
		f()
		wall[i], cpu[i] = time.Since(t0), threadCPU()-c0
	}
	slices.Sort(wall)
	slices.Sort(cpu)
	b.ReportMetric(float64(wall[n/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(wall[n*99/100].Nanoseconds()), "p99-ns")
	if cpu[n-1] > 0 {
		b.ReportMetric(float64(cpu[n/2].Nanoseconds()), "cpu-p50-ns")
		b.ReportMetric(float64(cpu[n*99/100].Nanoseconds()), "cpu-p99-ns")
	}
}

// BenchmarkDecideStarter decides realistic calls with the starter bundle (policies/): every request
// passes through the role allow-list, the secret scan of all arguments and the bounds check. Each
// case runs with the plan evaluator (the default) and with OPA's own (topdown), in the same run.
func BenchmarkDecideStarter(b *testing.B) {
	for _, ev := range []struct{ name, evaluator string }{{"plan", EvaluatorAuto}, {"topdown", EvaluatorTopdown}} {
		b.Run(ev.name, func(b *testing.B) {
			d := compileStarter(b, Options{Evaluator: ev.evaluator})
			if got, why := d.Evaluator(); (got == "plan") != (ev.name == "plan") {
				b.Fatalf("evaluator %s (%s), want %s", got, why, ev.name)
			}
			benchmarkStarter(b, d)
		})
	}
}

func benchmarkStarter(b *testing.B, d *Decider) {
	resp := call(b, "ansi", `{}`, "dev")
	cases := []struct {
		name string
		in   *policy.Input
		want policy.Effect
	}{
		{"allow-tools-call", call(b, "search.query", `{"q": "quarterly revenue by region", "limit": 50, "filters": {"region": "eu", "year": 2026}, "fields": ["name", "total"]}`, "dev"), policy.EffectAllow},
		{"deny-role", call(b, "database.backup", `{"target": "s3://backups/db"}`, "dev"), policy.EffectDeny},
		{"deny-bounds", call(b, "temp.convert", `{"temp": -500, "to": "F"}`, "dev"), policy.EffectDeny},
		{"deny-secret", call(b, "http.post", `{"url": "https://example.com", "headers": {"x-api-key": "k-123"}}`, "dev"), policy.EffectDeny},
		{"response-ansi-patch", result(b, resp, `{"content": [{"type": "text", "text": "\u001b[31mALERT\u001b[0m"}]}`), policy.EffectPatch},
		{"response-clean", result(b, resp, `{"content": [{"type": "text", "text": "all systems nominal"}]}`), policy.EffectAllow},
	}
	ctx := context.Background()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if v, err := d.Decide(ctx, c.in); err != nil || v.Effect != c.want {
				b.Fatalf("got %s (%v), want %s", v.Effect, err, c.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				d.Decide(ctx, c.in)
			}
			reportP99(b, func() { d.Decide(ctx, c.in) })
		})
	}
}

// BenchmarkVisibleStarter is the list-filtering question, asked once per listed tool.
func BenchmarkVisibleStarter(b *testing.B) {
	d := starter(b)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		in   *policy.Input
		want bool
	}{
		{"hidden-by-role", call(b, "database.backup", `{}`, "dev"), false},
		{"shown", call(b, "temp.convert", `{}`, "dev"), true},
	} {
		b.Run(c.name, func(b *testing.B) {
			if got, err := d.Visible(ctx, c.in); err != nil || got != c.want {
				b.Fatalf("Visible = %v (%v), want %v", got, err, c.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				d.Visible(ctx, c.in)
			}
		})
	}
}
