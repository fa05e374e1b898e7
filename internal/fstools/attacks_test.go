package fstools

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// traversalAttacks are paths that must be refused, grouped by technique. Most aim at secret.txt
// outside the data root (two levels up from an engagement's directory) or at engagement B's
// secret.txt. Each is proven refused by ValidatePath and, through Call with real files, proven not
// to read, list or write anything outside the engagement.
var traversalAttacks = []string{
	// Plain traversal, both separators.
	"..", "../", "../secret.txt", "../../secret.txt", "../../../../../../../../secret.txt",
	"../B/secret.txt", "../B", "a/../../secret.txt", "a/b/../../../secret.txt", "./../secret.txt",
	"./..", "a/..", "a/../b.txt", "../../../../../../etc/passwd", "..\\secret.txt",
	"..\\..\\secret.txt", "..\\B\\secret.txt", "a\\..\\..\\secret.txt",
	// Absolute paths and drive letters.
	"/etc/passwd", "/etc/shadow", "/secret.txt", "//etc/passwd", "\\etc\\passwd",
	"C:\\Windows\\win.ini", "C:/Windows/win.ini", "c:secret.txt", "\\\\host\\share\\secret.txt",
	"//host/share/secret.txt", "\\\\?\\C:\\secret.txt", "file:///etc/passwd",
	// System directories anywhere.
	"etc/passwd", "proc/self/environ", "/proc/self/root/secret.txt", "sys/kernel/notes.txt",
	"a/ETC/x.txt", "x/Proc/y.txt", "notes/sys/z.txt",
	// Shell expansion.
	"~/secret.txt", "~root/.ssh/id_rsa", "~", "a/~/x.txt", "$HOME/secret.txt", "${HOME}/secret.txt",
	"$(cat /etc/passwd).txt", "`id`.txt", "a/$PWD/../secret.txt", "notes_${IFS}.txt", "x$.txt",
	// NUL and control characters.
	"secret.txt\x00.png", "..\x00/secret.txt", "\x00", "a\nb.txt", "a\rb.txt", "a\tb.txt",
	"\x1b[31m.txt", "a\x7f.txt", "a\u0085.txt",
	// Percent-encoded traversal.
	"%2e%2e%2fsecret.txt", "%2E%2E%2Fsecret.txt", "..%2fsecret.txt", "..%2Fsecret.txt",
	"%2e%2e/secret.txt", ".%2e/secret.txt", "%2e./secret.txt", "%2fetc%2fpasswd", "..%5csecret.txt",
	"%5c..%5csecret.txt", "secret.txt%00.png", "%00", "%2e%2e", "%7e/secret.txt", "%24HOME/x.txt",
	// Double, triple and too deep encodings.
	"%252e%252e%252fsecret.txt", "..%252fsecret.txt", "%252e%252e/secret.txt",
	"%25252e%25252e%25252fsecret.txt", "..%255csecret.txt", "%%32%65%%32%65/secret.txt",
	"secret.txt%2500.png", "%2525252525252525252e%2525252525252525252e/x.txt",
	// Overlong UTF-8 and IIS %u escapes.
	"%c0%ae%c0%ae/secret.txt", "%c0%ae%c0%ae%c0%afsecret.txt", "..%c0%afsecret.txt",
	"%e0%80%ae%e0%80%ae/secret.txt", "..%c1%9csecret.txt", "%u002e%u002e/secret.txt",
	"..%u2215secret.txt", "%uff0e%uff0e/secret.txt",
	// Dot tricks.
	"....//secret.txt", "....//....//secret.txt", "..../secret.txt", ".../secret.txt",
	"..././secret.txt", "...", "....", ". ./secret.txt", ".. /secret.txt", "..;/secret.txt",
	"..%3b/secret.txt", "../.../secret.txt", "..\u00a0/secret.txt", "a/.. /b.txt",
	// Mixed separators and empty segments.
	"..\\/secret.txt", "../\\secret.txt", ".\\..\\secret.txt", "a//../secret.txt", "a\\../secret.txt",
	"a/..\\..\\secret.txt",
	// Unicode look-alikes of '.', '/' and '\', raw and percent-encoded.
	"．．／secret.txt", "．．/secret.txt", "..／secret.txt", "\u2024\u2024/secret.txt",
	"\u2025/secret.txt", "..\u2215secret.txt", "..\u2044secret.txt", "..\uff3csecret.txt",
	"\ufe52\ufe52/secret.txt", "..\u29f8secret.txt", "%ef%bc%8e%ef%bc%8e%ef%bc%8fsecret.txt",
	"%e2%80%a4%e2%80%a4/secret.txt", "..%e2%88%95secret.txt", "\uff04HOME/x.txt", "..\uff1b/x.txt",
	// Invisible characters and invalid UTF-8.
	"\u202e../secret.txt", "\ufeff../secret.txt", "..\u200b/secret.txt", "\xff\xfe.txt", "..\xc0\xaf",
	"secret\xed\xa0\x80.txt", "a\ufffd.txt", "\u2028.txt", "a\ufdd0.txt",
	// Oversized.
	strings.Repeat("a/", MaxPathBytes/2+1) + "x.txt", strings.Repeat("n", 256) + ".txt",
}

// benignPaths must be accepted, with the cleaned form they must have.
var benignPaths = []struct{ in, want string }{
	{"notes.txt", "notes.txt"},
	{"dir/sub/file.md", "dir/sub/file.md"},
	{"./a.txt", "a.txt"},
	{"a..b.txt", "a..b.txt"},
	{"file with spaces.csv", "file with spaces.csv"},
	{"résumé.pdf", "résumé.pdf"},
	{"日本語/議事録：４月～.docx", "日本語/議事録：４月～.docx"},
	{".", "."},
	{"./", "."},
	{"dir/", "dir"},
	{"dir/./x.json", "dir/x.json"},
	{".hidden.txt", ".hidden.txt"},
	{"..foo.txt", "..foo.txt"},
	{"foo...txt", "foo...txt"},
	{"a~b.txt", "a~b.txt"},
	{"100%.txt", "100%.txt"},
	{"100%25.txt", "100%25.txt"},
	{"a%20b.txt", "a%20b.txt"},
	{"etc.txt", "etc.txt"},
	{"sysadmin/notes.md", "sysadmin/notes.md"},
	{"data/proc.csv", "data/proc.csv"},
	{"C-drive.txt", "C-drive.txt"},
	{"10:30 meeting.txt", "10:30 meeting.txt"},
	{"-rf.txt", "-rf.txt"},
	{strings.Repeat("n", 251) + ".txt", strings.Repeat("n", 251) + ".txt"},
}

func TestTraversalAttacksAreMany(t *testing.T) {
	if n := len(traversalAttacks); n < 60 {
		t.Fatalf("got %d attack strings, want at least 60", n)
	}
}

func TestValidatePathRefusesAttacks(t *testing.T) {
	for _, p := range traversalAttacks {
		t.Run(testName(p), func(t *testing.T) {
			got, err := ValidatePath(p)
			if err == nil {
				t.Fatalf("ValidatePath(%q) = %q, want an error", p, got)
			}
			var pe *PathError
			if !errors.As(err, &pe) || pe.Path != p || pe.Reason == "" {
				t.Errorf("ValidatePath(%q) error = %#v, want a *PathError with the path and a reason", p, err)
			}
			if len(err.Error()) > maxQuoted*5+300 {
				t.Errorf("error message is %d bytes, want it truncated", len(err.Error()))
			}
		})
	}
}

func TestValidatePathAcceptsBenign(t *testing.T) {
	for _, c := range benignPaths {
		t.Run(testName(c.in), func(t *testing.T) {
			got, err := ValidatePath(c.in)
			if err != nil {
				t.Fatalf("ValidatePath(%q): %v, want %q", c.in, err, c.want)
			}
			if got != c.want {
				t.Errorf("ValidatePath(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

// TestCallRefusesAttacks runs every attack through fs.read, fs.list and fs.write against a real
// tree: nothing outside engagement A may be read, listed or written — in fact nothing may change at
// all, since every attack is refused.
func TestCallRefusesAttacks(t *testing.T) {
	h := newHarness(t, Config{})
	// Absolute paths to the real secrets, which only a real tree can provide.
	attacks := append([]string{
		h.secret, filepath.Join(h.root, "B", "secret.txt"), filepath.Join(h.dir, "outside"),
		filepath.Join(h.a, "..", "B", "secret.txt"),
	}, traversalAttacks...)
	before := snapshot(t, h.dir)
	for _, p := range attacks {
		name := testName(p)
		res := h.call("A", ToolRead, map[string]string{"path": p})
		mustRefuse(t, "read "+name, res, "")
		noCanary(t, "read "+name, res)

		res = h.call("A", ToolList, map[string]string{"path": p})
		mustRefuse(t, "list "+name, res, "")
		noCanary(t, "list "+name, res)

		res = h.call("A", ToolWrite, map[string]string{"path": p, "content": "pwned"})
		mustRefuse(t, "write "+name, res, "")
	}
	sameSnapshot(t, before, snapshot(t, h.dir))
}

// TestCallBenignPaths writes, reads and lists every benign file path in engagement A.
func TestCallBenignPaths(t *testing.T) {
	h := newHarness(t, Config{})
	for _, c := range benignPaths {
		if c.want == "." || c.want == "dir" || strings.HasSuffix(c.want, ".docx") || strings.HasSuffix(c.want, ".pdf") {
			continue // directories, and types that need real document content (see the MIME tests)
		}
		content := "content of " + c.want
		if strings.HasSuffix(c.want, ".json") {
			content = `{"ok":true}`
		}
		res := h.call("A", ToolWrite, map[string]string{"path": c.in, "content": content})
		mustSucceed(t, "write "+testName(c.in), res)
		res = h.call("A", ToolRead, map[string]string{"path": c.in})
		mustSucceed(t, "read "+testName(c.in), res)
		if got := res.Text(); got != content {
			t.Errorf("read %q: got %q, want %q", c.in, got, content)
		}
		if b, err := os.ReadFile(filepath.Join(h.a, filepath.FromSlash(c.want))); err != nil || string(b) != content {
			t.Errorf("file %q on disk: got %q, %v; want %q", c.want, b, err, content)
		}
	}
	for _, dir := range []string{".", "./", "dir", "dir/", "dir/sub"} {
		mustSucceed(t, "list "+dir, h.call("A", ToolList, map[string]string{"path": dir}))
	}
}

// testName makes a readable subtest name from an attack string.
func testName(p string) string {
	if len(p) > 40 {
		p = p[:40] + "..."
	}
	return strings.NewReplacer("/", "SL", "\\", "BS", "\x00", "NUL").Replace(p)
}
