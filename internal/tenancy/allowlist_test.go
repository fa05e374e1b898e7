package tenancy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAllowlistsPrecedenceAndGlobs(t *testing.T) {
	a, err := Open("", nil, map[string][]string{"acme": {"fs.read", "github.*"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		eng, tool string
		want      bool
	}{
		{"other", "fs.read", true}, {"other", "search.semantic", true}, {"other", "github.create_issue", false},
		{"acme", "fs.read", true}, {"acme", "github.create_issue", true}, {"acme", "fs.write", false},
	} {
		if got := a.Allowed(c.eng, c.tool); got != c.want {
			t.Errorf("Allowed(%s, %s) = %v, want %v", c.eng, c.tool, got, c.want)
		}
	}
	if v := a.Get("acme"); v.Origin != OriginConfig {
		t.Errorf("origin %q", v.Origin)
	}
	if _, _, err := a.Update("acme", "ops", time.Now(), func([]string) ([]string, error) { return []string{"fs.write"}, nil }); err != nil {
		t.Fatal(err)
	}
	if a.Allowed("acme", "fs.read") || !a.Allowed("acme", "fs.write") || a.Get("acme").Origin != OriginAdmin {
		t.Error("an admin list does not win over the configured one")
	}
}

func TestAllowlistsPersistAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "engagements.json")
	a, err := Open(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	before, after, err := a.Update("acme", "ops", at, func(cur []string) ([]string, error) { return append(cur, "crm.lookup"), nil })
	if err != nil {
		t.Fatal(err)
	}
	if before.Origin != OriginDefault || !slices.Contains(after.Tools, "crm.lookup") {
		t.Fatalf("before %+v after %+v", before, after)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("persisted file: %v %v", fi, err)
	}
	b, err := Open(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := b.Get("acme")
	if !b.Allowed("acme", "crm.lookup") || v.UpdatedBy != "ops" || !v.UpdatedAt.Equal(at) {
		t.Errorf("after reopen: %+v", v)
	}
	if err := b.Restore(before); err != nil {
		t.Fatal(err)
	}
	c, _ := Open(path, nil, nil)
	if c.Get("acme").Origin != OriginDefault {
		t.Error("Restore of a default list did not remove the admin entry")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestAllowlistsRefuseBadInput(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"unknown member": `{"version":1,"engagements":{},"extra":1}`,
		"bad version":    `{"version":2,"engagements":{}}`,
		"bad id":         `{"version":1,"engagements":{"../x":{"tools":[]}}}`,
		"bad tool":       `{"version":1,"engagements":{"x":{"tools":["a b"]}}}`,
		"duplicate":      `{"version":1,"version":1,"engagements":{}}`,
		"not json":       `{`,
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := Open(p, nil, nil); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
	if _, err := Open("", []string{"[bad"}, nil); err == nil {
		t.Error("a default list with an invalid glob was accepted")
	}
	if _, err := Open("", nil, map[string][]string{"a/b": {"x"}}); err == nil {
		t.Error("a configured list with an invalid engagement id was accepted")
	}
	a, _ := Open("", nil, nil)
	for name, tools := range map[string][]string{
		"empty name": {""}, "space": {"a b"}, "control": {"a\x01"}, "glob": {"[x"}, "long": {strings.Repeat("x", MaxToolLength+1)},
		"too many": slices.Repeat([]string{"x"}, MaxTools+1),
	} {
		_, _, err := a.Update("acme", "ops", time.Now(), func([]string) ([]string, error) { return tools, nil })
		if !IsInvalid(err) {
			t.Errorf("%s: Update = %v, want an invalid-input error", name, err)
		}
	}
	if _, _, err := a.Update("..", "ops", time.Now(), func(c []string) ([]string, error) { return c, nil }); !IsInvalid(err) {
		t.Errorf("invalid id: %v", err)
	}
	if a.Get("acme").Origin != OriginDefault {
		t.Error("a refused update changed the list")
	}
}

func TestAllowlistsWriteFailureChangesNothing(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(filepath.Join(dir, "missing-dir", "engagements.json"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = a.Update("acme", "ops", time.Now(), func([]string) ([]string, error) { return []string{"x"}, nil })
	if err == nil || IsInvalid(err) {
		t.Fatalf("Update into a missing directory = %v, want a save failure", err)
	}
	if a.Allowed("acme", "x") {
		t.Error("a change that was not saved took effect")
	}
}

// The default allowlist is exactly SPEC §8.2's, in its order.
func TestDefaultAllowlistIsTheSpecs(t *testing.T) {
	want := []string{"fs.read", "fs.write", "fs.list", "search.vector", "search.semantic"}
	if !slices.Equal(DefaultAllowlist, want) {
		t.Errorf("DefaultAllowlist = %q, want %q", DefaultAllowlist, want)
	}
	a, err := Open("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := a.Get("anyone"); !slices.Equal(v.Tools, want) || v.Origin != OriginDefault {
		t.Errorf("an unconfigured engagement's allowlist = %q (%s), want %q (default)", v.Tools, v.Origin, want)
	}
}
