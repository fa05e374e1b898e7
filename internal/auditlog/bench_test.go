package auditlog

import (
	"path/filepath"
	"testing"
)

// BenchmarkEncode measures the writer's per-record work for one typical
// decision record: canonical encoding and the chain hash.
func BenchmarkEncode(b *testing.B) {
	r := decision(1)
	r.V, r.Seq, r.Time, r.Type, r.PrevHash = 1, 123456, goldenTime, TypeDecision, GenesisHash
	r.Roles = []string{"analyst", "reader"}
	r.ArgsPreview = `{"path":"reports/q3.csv","encoding":"utf-8"}`
	var h chainHasher
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendBody(buf[:0], r)
		h.hashBytes(r.PrevHash, buf, nil)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkParseLine measures the strict parser, which Verify runs on
// every line.
func BenchmarkParseLine(b *testing.B) {
	r := decision(1)
	r.V, r.Seq, r.Time, r.Type, r.PrevHash = 1, 123456, goldenTime, TypeDecision, GenesisHash
	line := Seal(r)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseLine(line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendParallel measures durable appends from many goroutines to
// a real file with real fsync: what group commit buys.
func BenchmarkAppendParallel(b *testing.B) {
	w, err := Open(Options{
		Path:            filepath.Join(b.TempDir(), "audit.jsonl"),
		SigningKey:      testKey,
		CheckpointEvery: 1000,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(32) // goroutines per CPU: a gateway has many calls in flight
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := decision(1)
		for pb.Next() {
			if err := w.Append(b.Context(), r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	st := w.Stats()
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(st.Records)/float64(max(st.Syncs, 1)), "records/fsync")
}
