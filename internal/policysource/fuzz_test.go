package policysource

import (
	"context"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/policy/rego"
)

// FuzzReadArchive feeds arbitrary bytes to the bundle reader, as a bundle server or a replaced file
// could: reading and compiling must fail cleanly or succeed, never panic or hang.
func FuzzReadArchive(f *testing.F) {
	f.Add(opaBuild(f, writeTree(f, f.TempDir(), map[string]string{"gatehouse/p.rego": policyAllowing("echo"), "gatehouse/data.json": `{"a":[1]}`}), true, "r"))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Add([]byte("not a bundle"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ReadArchive("fuzz.tar.gz", data, ReadOptions{MaxBytes: 1 << 20})
		if err != nil {
			return
		}
		d, err := rego.New(context.Background(), b, rego.Options{})
		if err != nil {
			return
		}
		_ = d.Revision()
	})
}
