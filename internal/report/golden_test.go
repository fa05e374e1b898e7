package report

import (
	"bytes"
	goldenfile "github.com/gatehouse-mcp/gatehouse/internal/golden"
	"os"
	"strings"
	"testing"
)

// golden compares got with testdata/<name> (golden.Check).
func golden(t *testing.T, name string, got []byte) { t.Helper(); goldenfile.Check(t, name, got) }

// render builds the report of files and renders it in both formats, with dir replaced by TMP so
// the output does not depend on where the test ran.
func render(t *testing.T, dir string, opts Options) (md, html []byte, r *Report) {
	t.Helper()
	r, err := Build(opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	var m, h bytes.Buffer
	if err := r.Markdown(&m); err != nil {
		t.Fatal(err)
	}
	if err := r.HTML(&h); err != nil {
		t.Fatal(err)
	}
	fix := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(dir), []byte("TMP")) }
	return fix(m.Bytes()), fix(h.Bytes()), r
}

func TestGoldenReport(t *testing.T) {
	dir := t.TempDir()
	path := writeFixture(t, dir)
	md, html, r := render(t, dir, Options{Files: []string{path}, PublicKey: testPub()})
	if !r.Integrity.Intact {
		t.Fatalf("fixture log is not intact: %v", r.Integrity.Problem)
	}
	golden(t, "report.md", md)
	golden(t, "report.html", html)

	// The same files give the same bytes.
	md2, html2, _ := render(t, dir, Options{Files: []string{path}, PublicKey: testPub()})
	if !bytes.Equal(md, md2) || !bytes.Equal(html, html2) {
		t.Error("two reports of the same log differ")
	}
}

func TestGoldenTamperedReport(t *testing.T) {
	dir := t.TempDir()
	path := writeFixture(t, dir)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// An operator rewrites a denial into an allow after the fact.
	edited := bytes.Replace(data, []byte(`"effect":"deny","code":"policy_deny"`), []byte(`"effect":"allow","code":"policy_deny"`), 1)
	if bytes.Equal(edited, data) {
		t.Fatal("the edit did not apply")
	}
	if err := os.WriteFile(path, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	md, html, r := render(t, dir, Options{Files: []string{path}, PublicKey: testPub()})
	if r.Integrity.Intact || r.Integrity.Problem == nil || r.Integrity.Problem.Seq != 4 {
		t.Fatalf("integrity = %+v, want NOT INTACT at seq 4", r.Integrity)
	}
	golden(t, "tampered.md", md)
	golden(t, "tampered.html", html)

	// Prominent: the alert comes before any section, in both formats.
	for _, tc := range []struct {
		format, out, alert, firstSection string
	}{
		{"markdown", string(md), "> **AUDIT CHAIN NOT INTACT: edited: TMP/audit.jsonl:4: seq 4: hash mismatch", "## Scope"},
		{"html", string(html), `<div class="alert" role="alert">`, `<h2 id="scope">`},
	} {
		a, s := strings.Index(tc.out, tc.alert), strings.Index(tc.out, tc.firstSection)
		if a < 0 || s < 0 || a > s {
			t.Errorf("%s: alert at %d, first section at %d; want the alert first", tc.format, a, s)
		}
	}
	if !strings.HasPrefix(string(md), "# Gatehouse compliance evidence report: AUDIT CHAIN NOT INTACT\n") {
		t.Errorf("markdown title does not say NOT INTACT:\n%.200s", md)
	}
}
