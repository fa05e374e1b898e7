package fstools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestArgumentsAreStrict(t *testing.T) {
	h := newHarness(t, Config{})
	mustWrite(t, filepath.Join(h.a, "a.txt"), "a", 0o644)
	cases := []struct {
		name, tool, args, want string
	}{
		{"unknown member", ToolRead, `{"path":"a.txt","extra":1}`, `unknown argument "extra"`},
		{"case variant", ToolRead, `{"Path":"a.txt"}`, `unknown argument "Path"`},
		{"duplicate", ToolRead, `{"path":"a.txt","path":"../secret.txt"}`, "given twice"},
		{"duplicate by escape", ToolRead, `{"path":"a.txt","pat\u0068":"../secret.txt"}`, "given twice"},
		{"number", ToolRead, `{"path":1}`, `"path" must be a string`},
		{"null", ToolRead, `{"path":null}`, `"path" must be a string`},
		{"array", ToolRead, `{"path":["a.txt"]}`, `"path" must be a string`},
		{"object", ToolList, `{"path":{"x":1}}`, `"path" must be a string`},
		{"content number", ToolWrite, `{"path":"b.txt","content":123}`, `"content" must be a string`},
		{"encoding bool", ToolWrite, `{"path":"b.txt","content":"x","encoding":true}`, `"encoding" must be a string`},
		{"array arguments", ToolRead, `["a.txt"]`, "must be a JSON object"},
		{"string arguments", ToolRead, `"a.txt"`, "must be a JSON object"},
		{"malformed", ToolRead, `{"path":`, "not valid JSON"},
		{"trailing data", ToolRead, `{"path":"a.txt"} {}`, "followed by more data"},
		{"invalid UTF-8", ToolRead, "{\"path\":\"a\xff.txt\"}", "not valid UTF-8"},
		{"missing path", ToolRead, `{}`, `"path" is required`},
		{"missing content", ToolWrite, `{"path":"b.txt"}`, `"content" is required`},
		{"no arguments", ToolWrite, ``, `"path" is required`},
		{"lone surrogate", ToolRead, `{"path":"a\ud800.txt"}`, "U+FFFD"},
		{"escaped NUL", ToolRead, `{"path":"a.txt\u0000.png"}`, "NUL"},
		{"read the workspace", ToolRead, `{"path":"."}`, "use fs.list"},
		{"list a file", ToolList, `{"path":"a.txt"}`, "not a directory"},
		{"missing file", ToolRead, `{"path":"nope.txt"}`, `"nope.txt" does not exist`},
		{"missing directory", ToolList, `{"path":"nope"}`, `"nope" does not exist`},
		{"file as a directory", ToolRead, `{"path":"a.txt/b.txt"}`, "not a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := h.call("A", c.tool, json.RawMessage(c.args))
			mustRefuse(t, c.name, res, c.want)
			if !strings.HasPrefix(res.Text(), c.tool+": ") {
				t.Errorf("error %q does not start with the tool name", res.Text())
			}
			noCanary(t, c.name, res)
		})
	}
	// Absent or null arguments are no arguments: fs.list lists ".".
	for _, args := range []string{``, `null`, `{}`, ` {} `} {
		mustSucceed(t, fmt.Sprintf("list with arguments %q", args), h.call("A", ToolList, json.RawMessage(args)))
	}
}

func TestUnknownToolAndCancellation(t *testing.T) {
	h := newHarness(t, Config{})
	_, err := h.tools.Call(context.Background(), "A", "fs.delete", json.RawMessage(`{}`))
	if !errors.Is(err, ErrUnknownTool) {
		t.Errorf("unknown tool: got %v, want ErrUnknownTool", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.tools.Call(ctx, "A", ToolList, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: got %v, want context.Canceled", err)
	}
}

func TestEngagementIsolation(t *testing.T) {
	h := newHarness(t, Config{})
	mustSucceed(t, "A writes", h.call("A", ToolWrite, map[string]string{"path": "shared.txt", "content": "A's file"}))
	mustSucceed(t, "B writes", h.call("B", ToolWrite, map[string]string{"path": "shared.txt", "content": "B's file"}))
	if res := h.call("A", ToolRead, map[string]string{"path": "shared.txt"}); res.Text() != "A's file" {
		t.Errorf("A reads shared.txt: got %s, want A's file", res.Raw)
	}
	if res := h.call("B", ToolRead, map[string]string{"path": "shared.txt"}); res.Text() != "B's file" {
		t.Errorf("B reads shared.txt: got %s, want B's file", res.Raw)
	}
	res := h.call("A", ToolRead, map[string]string{"path": "secret.txt"})
	mustRefuse(t, "A reads B's secret.txt by name", res, "does not exist")
	noCanary(t, "A reads secret.txt", res)
	res = h.call("A", ToolList, map[string]string{"path": "."})
	noCanary(t, "A lists", res)
	if strings.Contains(res.Raw, "secret") {
		t.Errorf("A's listing shows B's files: %s", res.Raw)
	}
	// B's own file is B's.
	if res := h.call("B", ToolRead, map[string]string{"path": "secret.txt"}); res.Text() != canaryOther {
		t.Errorf("B reads its own secret.txt: got %s", res.Raw)
	}
}

func TestInvalidEngagements(t *testing.T) {
	h := newHarness(t, Config{})
	before := snapshot(t, h.dir)
	for _, eng := range []string{"", ".", "..", "../B", "B/..", "a/b", "B/", "/B", "-x", ".x", "_x",
		"B\x00", "A B", "é", "B\\", strings.Repeat("a", 65), "..%2fB", "%2e%2e"} {
		if ValidEngagement(eng) {
			t.Errorf("ValidEngagement(%q) = true, want false", eng)
		}
		for _, tool := range []string{ToolRead, ToolList, ToolWrite} {
			args := map[string]string{"path": "secret.txt"}
			if tool == ToolWrite {
				args["content"] = "pwned"
			}
			res := h.call(eng, tool, args)
			mustRefuse(t, fmt.Sprintf("%s in engagement %q", tool, eng), res, "not a valid engagement name")
			noCanary(t, tool, res)
		}
	}
	sameSnapshot(t, before, snapshot(t, h.dir))
	for _, eng := range []string{"A", "b", "0", "acme-prod", "team_1.eu", strings.Repeat("a", 64)} {
		if !ValidEngagement(eng) {
			t.Errorf("ValidEngagement(%q) = false, want true", eng)
		}
	}
}

func TestListResult(t *testing.T) {
	h := newHarness(t, Config{})
	mustWrite(t, filepath.Join(h.a, "b.txt"), "bb", 0o644)
	mustWrite(t, filepath.Join(h.a, "a.md"), "a", 0o644)
	mustWrite(t, filepath.Join(h.a, "sub", "c.csv"), "c,c", 0o644)
	res := h.call("A", ToolList, map[string]string{"path": "./"})
	mustSucceed(t, "list", res)
	size := func(n int64) *int64 { return &n }
	want := listResult{Path: ".", Entries: []listEntry{
		{Name: "a.md", Type: "file", Size: size(1)},
		{Name: "b.txt", Type: "file", Size: size(2)},
		{Name: "sub", Type: "dir"},
	}}
	var got, fromText listResult
	if err := json.Unmarshal(res.StructuredContent, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("structuredContent (-want +got):\n%s", diff)
	}
	if err := json.Unmarshal([]byte(res.Text()), &fromText); err != nil || !cmp.Equal(got, fromText) {
		t.Errorf("text content %q does not match structuredContent (%v)", res.Text(), err)
	}
	res = h.call("A", ToolList, map[string]string{"path": "sub"})
	if err := json.Unmarshal(res.StructuredContent, &got); err != nil || got.Path != "sub" || len(got.Entries) != 1 {
		t.Errorf("list sub: got %s", res.Raw)
	}
}

func TestListTruncates(t *testing.T) {
	h := newHarness(t, Config{})
	for i := range maxListEntries + 5 {
		mustWrite(t, filepath.Join(h.a, "many", fmt.Sprintf("f%04d.txt", i)), "", 0o644)
	}
	res := h.call("A", ToolList, map[string]string{"path": "many"})
	var got listResult
	if err := json.Unmarshal(res.StructuredContent, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Truncated || len(got.Entries) != maxListEntries {
		t.Errorf("got %d entries, truncated=%v; want %d, truncated", len(got.Entries), got.Truncated, maxListEntries)
	}
}

func TestToolDefinitions(t *testing.T) {
	h := newHarness(t, Config{MaxFileBytes: 5 << 20})
	tools := h.tools.List()
	var names []string
	for _, tool := range tools {
		names = append(names, tool.Name)
		for what, schema := range map[string]json.RawMessage{"input": tool.InputSchema, "output": tool.OutputSchema} {
			if schema == nil {
				continue
			}
			var s struct {
				Type                 string         `json:"type"`
				Properties           map[string]any `json:"properties"`
				AdditionalProperties *bool          `json:"additionalProperties"`
			}
			if err := json.Unmarshal(schema, &s); err != nil || s.Type != "object" || len(s.Properties) == 0 {
				t.Errorf("%s %s schema is not an object schema: %v %s", tool.Name, what, err, schema)
			}
			if what == "input" && (s.AdditionalProperties == nil || *s.AdditionalProperties) {
				t.Errorf("%s input schema allows additional properties", tool.Name)
			}
		}
		if tool.Description == "" || tool.Annotations == nil {
			t.Errorf("%s has no description or annotations", tool.Name)
		}
	}
	if diff := cmp.Diff([]string{ToolRead, ToolWrite, ToolList}, names); diff != "" {
		t.Errorf("tool names (-want +got):\n%s", diff)
	}
	if !strings.Contains(tools[0].Description, "5 MiB") || !strings.Contains(tools[0].Description, ".docx") {
		t.Errorf("fs.read description %q: want the limit and the allowed types", tools[0].Description)
	}
	if _, err := json.Marshal(tools); err != nil {
		t.Errorf("tools do not marshal: %v", err)
	}
	// Each call returns new values: changing one does not change the next.
	tools[0].InputSchema[0] = 'X'
	if h.tools.List()[0].InputSchema[0] != '{' {
		t.Error("List returns shared schema bytes")
	}
}

// TestRefusalsDoNotRevealTheRoot: no tool error carries the data root's location.
func TestRefusalsDoNotRevealTheRoot(t *testing.T) {
	h := newHarness(t, Config{})
	mustWrite(t, filepath.Join(h.a, "a.txt"), "a", 0o644)
	if err := os.Chmod(filepath.Join(h.a, "a.txt"), 0); err != nil {
		t.Fatal(err)
	}
	cases := []map[string]string{{"path": "missing.txt"}, {"path": "a.txt/x.txt"}, {"path": "../B/secret.txt"}}
	if os.Geteuid() != 0 { // root reads a file of mode 0 anyway
		cases = append(cases, map[string]string{"path": "a.txt"})
	}
	for _, args := range cases {
		res := h.call("A", ToolRead, args)
		if !res.IsError || strings.Contains(res.Raw, h.dir) {
			t.Errorf("read %v: got %s, want an error that does not name %s", args, res.Raw, h.dir)
		}
	}
}
