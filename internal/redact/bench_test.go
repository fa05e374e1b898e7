package redact

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
)

// benchRecord is a realistic audit record of about 2 KB: a tools/call with nested arguments (one
// password, one API key in text) and a text result, before redaction.
func benchRecord(tb testing.TB) auditlog.Record {
	args := map[string]any{
		"query":    "SELECT id, email, created_at FROM customers WHERE region = 'eu' AND created_at > '2024-01-01' ORDER BY created_at DESC LIMIT 100",
		"database": "analytics",
		"options":  map[string]any{"timeout_ms": 2500, "max_rows": 100, "format": "json", "explain": false},
		"auth":     map[string]any{"user": "svc-report", "password": "s3cr3t-Passw0rd!"},
		"note":     "run for the weekly churn report; contact ops if it fails (key AKIAIOSFODNN7EXAMPLE is rotated monthly)",
		"tags":     []any{"report", "weekly", "churn", "eu"},
	}
	result := map[string]any{
		"content": []any{map[string]any{"type": "text", "text": "id,email,created_at\n" +
			"18231,alice@example.com,2024-05-02\n18232,bob@example.org,2024-05-02\n18240,carol@example.net,2024-05-03\n" +
			"18251,dan@example.com,2024-05-04\n18260,erin@example.com,2024-05-05\n18263,frank@example.org,2024-05-05\n" +
			"18270,grace@example.com,2024-05-06\n18281,heidi@example.com,2024-05-07\n18290,ivan@example.net,2024-05-08\n" +
			"18301,judy@example.com,2024-05-09\n18302,mallory@example.org,2024-05-09\n18311,niaj@example.com,2024-05-10\n" +
			"18320,olivia@example.net,2024-05-11\n18333,peggy@example.com,2024-05-12\n18340,rupert@example.org,2024-05-13\n" +
			"18351,sybil@example.com,2024-05-14\n18362,trent@example.net,2024-05-15\n18370,victor@example.com,2024-05-16\n" +
			"18381,walter@example.org,2024-05-17\n18390,xavier@example.com,2024-05-18\n18399,yolanda@example.net,2024-05-19\n" +
			"18402,zoe@example.com,2024-05-20\n18410,amir@example.org,2024-05-21\n18415,bea@example.net,2024-05-21\n" +
			"18423,chen@example.com,2024-05-22\n18431,dara@example.org,2024-05-23\n18440,emeka@example.com,2024-05-24\n" +
			"18452,fatima@example.net,2024-05-25\n18460,goran@example.com,2024-05-26\n18471,hana@example.org,2024-05-27\n" +
			"(30 rows, 41 ms; the query plan used index customers_region_created_idx and scanned 1,204 rows in 3 partitions; " +
			"the next refresh of the materialized view is scheduled for Sunday 03:00 UTC, after the nightly backfill completes)"}},
		"structuredContent": map[string]any{"rows": 30, "elapsed_ms": 41, "truncated": false, "warnings": []any{}},
		"isError":           false,
	}
	a, _ := json.Marshal(args)
	r, _ := json.Marshal(result)
	rec := auditlog.Record{
		Type: auditlog.TypeDecision, DecisionID: "dec_01HZX4T5Q8", CallID: "42", SessionID: "sess_7f3a", Agent: "report-bot",
		Method: "tools/call", Upstream: "warehouse", Tool: "run_sql", Effect: "allow", RuleID: "sql-read-only",
		Reason: "read-only queries against analytics are allowed", ArgsPreview: string(a), ResultPreview: string(r),
	}
	if n := len(rec.ArgsPreview) + len(rec.ResultPreview) + len(rec.Reason); n < 1800 || n > 2300 {
		tb.Fatalf("record text is %d bytes, want about 2 KB", n)
	}
	return rec
}

func reportPercentiles(b *testing.B, f func()) {
	const n = 5000
	d := make([]time.Duration, n)
	for i := range d {
		t0 := time.Now()
		f()
		d[i] = time.Since(t0)
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[n/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(d[n*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkRecord is the cost of redacting one audit record (previews as JSON, free text as text,
// then truncation), the figure BENCHMARKS.md reports.
func BenchmarkRecord(b *testing.B) {
	rec := benchRecord(b)
	args, result := []byte(rec.ArgsPreview), []byte(rec.ResultPreview)
	b.ReportAllocs()
	for b.Loop() {
		Record(rec, args, result)
	}
	reportPercentiles(b, func() { Record(rec, args, result) })
}

func BenchmarkText2KB(b *testing.B) {
	rec := benchRecord(b)
	text := rec.ArgsPreview + rec.ResultPreview
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		Text(text)
	}
}

func BenchmarkJSONClean(b *testing.B) {
	raw := []byte(`{"query":"weather in Paris","units":"metric","days":5,"include":["hourly","alerts"],"lang":"en"}`)
	b.ReportAllocs()
	for b.Loop() {
		JSON(raw)
	}
}
