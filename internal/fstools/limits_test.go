package fstools

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSizeLimit(t *testing.T) {
	const limit = 1000
	h := newHarness(t, Config{MaxFileBytes: limit})
	for _, c := range []struct {
		name string
		size int
		ok   bool
	}{
		{"under", limit - 1, true},
		{"exactly at", limit, true},
		{"over", limit + 1, false},
		{"far over", 10 * limit, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			content := strings.Repeat("x", c.size)
			for _, enc := range []string{"utf-8", "base64"} {
				arg := content
				if enc == "base64" {
					arg = base64.StdEncoding.EncodeToString([]byte(content))
				}
				name := c.name + "-" + enc + ".txt"
				res := h.call("A", ToolWrite, map[string]string{"path": name, "content": arg, "encoding": enc})
				if c.ok {
					mustSucceed(t, "write "+name, res)
				} else {
					mustRefuse(t, "write "+name, res, "over the 1000 bytes limit")
					if _, err := os.Lstat(filepath.Join(h.a, name)); err == nil {
						t.Errorf("a refused write left %s", name)
					}
				}
			}
			// Reading a file placed on disk directly.
			name := c.name + "-placed.txt"
			mustWrite(t, filepath.Join(h.a, name), content, 0o644)
			res := h.call("A", ToolRead, map[string]string{"path": name})
			if c.ok {
				mustSucceed(t, "read "+name, res)
				if res.Text() != content {
					t.Errorf("read %s: got %d bytes, want %d", name, len(res.Text()), c.size)
				}
			} else {
				mustRefuse(t, "read "+name, res, "over the 1000 bytes limit")
			}
		})
	}
	// Multi-byte characters count as bytes, not characters.
	res := h.call("A", ToolWrite, map[string]string{"path": "utf8.txt", "content": strings.Repeat("é", limit/2+1)})
	mustRefuse(t, "write 1002 bytes of é", res, "over the")
}

// TestHugeFileIsNotRead: a file far over the limit is refused from its size, without reading it.
// The file is sparse, so it costs no disk; reading it whole would take visible time and memory.
func TestHugeFileIsNotRead(t *testing.T) {
	h := newHarness(t, Config{})
	f, err := os.Create(filepath.Join(h.a, "huge.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(8 << 30); err != nil {
		f.Close()
		t.Skip("sparse files not supported:", err)
	}
	f.Close()
	start := time.Now()
	res := h.call("A", ToolRead, map[string]string{"path": "huge.txt"})
	mustRefuse(t, "read huge.txt", res, "8192 MiB, over the 10 MiB limit")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusing took %v: the file was read", d)
	}
}

func TestHugeBase64IsRefusedBeforeDecoding(t *testing.T) {
	h := newHarness(t, Config{MaxFileBytes: 100})
	res := h.call("A", ToolWrite, map[string]string{"path": "x.txt", "content": strings.Repeat("QUFB", 1000), "encoding": "base64"})
	mustRefuse(t, "write", res, "over the 100 bytes limit")
}
