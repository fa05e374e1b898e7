package rules

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		path string
		want []seg
	}{
		{"a", []seg{{key: "a", idx: -1}}},
		{"a.b", []seg{{key: "a", idx: -1}, {key: "b", idx: -1}}},
		{"items.0.sku", []seg{{key: "items", idx: -1}, {key: "0", idx: 0}, {key: "sku", idx: -1}}},
		{"items[12].sku", []seg{{key: "items", idx: -1}, {key: "12", idx: 12}, {key: "sku", idx: -1}}},
		{"a.07", []seg{{key: "a", idx: -1}, {key: "07", idx: -1}}},
		{`["a.b"].c`, []seg{{key: "a.b", idx: -1, quoted: true}, {key: "c", idx: -1}}},
		{`x['k]']`, []seg{{key: "x", idx: -1}, {key: "k]", idx: -1, quoted: true}}},
		{`["q\"x"]`, []seg{{key: `q"x`, idx: -1, quoted: true}}},
		{`[0][1]`, []seg{{key: "0", idx: 0}, {key: "1", idx: 1}}},
		{"a-b.c_d", []seg{{key: "a-b", idx: -1}, {key: "c_d", idx: -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := parsePath(tt.path)
			if err != nil {
				t.Fatalf("parsePath(%q): %v", tt.path, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(seg{})); diff != "" {
				t.Errorf("parsePath(%q) (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

func TestParsePathErrors(t *testing.T) {
	tests := []struct{ path, want string }{
		{"", "empty path"},
		{".a", "empty segment"},
		{"a.", "ends with '.'"},
		{"a..b", "empty segment"},
		{"a.[0]", `'.' before '['; write a[0] or a["k"]`},
		{"a[", "unterminated ["},
		{"a[x]", `bad bracket: want [N] or ["key"]`},
		{"a[01]", "bad index [01]: want a decimal without leading zeros below 1000000000"},
		{"a[1", `bad index: want [N] or ["key"]`},
		{`a["x`, "unterminated quoted key"},
		{`a["x"`, "quoted key must be followed by ]"},
		{`a["x"]b`, `unexpected 'b' after ]; want '.', '[' or the end`},
		{"a]b", "] without ["},
		{"a b", `whitespace or control character (quote the key: ["a b"])`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, err := parsePath(tt.path)
			if err == nil {
				t.Fatalf("parsePath(%q): got no error, want %q", tt.path, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("parsePath(%q): got %q, want %q", tt.path, err, tt.want)
			}
		})
	}
}

func TestCompileField(t *testing.T) {
	tests := []struct {
		path  string
		phase policy.Phase
		root  rootKind
		err   string
	}{
		{"amount", policy.PhaseRequest, rootArgs, ""},
		{"args.tenant", policy.PhaseRequest, rootArgs, ""},
		{"agent.claims.org.unit", policy.PhaseRequest, rootAgentClaims, ""},
		{"headers.x-a", policy.PhaseRequest, rootHeader, ""},
		{"response.content", policy.PhaseResponse, rootResponse, ""},
		{"response.content", policy.PhaseRequest, 0, "response fields exist only in the response phase; add phase: response, or write args.response for an argument"},
		{"agent.name", policy.PhaseRequest, 0, "unknown field agent.name: agent has id, roles and claims.<name>"},
		{"threat.level", policy.PhaseRequest, 0, "unknown field threat.level: threat has score"},
		{"tool.args.x", policy.PhaseRequest, 0, "unknown field tool.args: tool has name and server; arguments are written without a prefix or as args.<name>"},
		{"agent", policy.PhaseRequest, 0, "agent needs a subfield: id, roles and claims.<name> (an argument named agent is args.agent)"},
		{"tenant.id", policy.PhaseRequest, 0, "tenant has no subfields (an argument named tenant is args.tenant.id)"},
		{"agent.id.x", policy.PhaseRequest, 0, "agent.id has no subfields"},
		{"headers", policy.PhaseRequest, 0, `headers needs exactly one header name: headers.x-request-id or headers["x.y"]`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f, err := compileField(tt.path, tt.phase)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("compileField(%q): got error %v, want %q", tt.path, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("compileField(%q): %v", tt.path, err)
			}
			if f.root != tt.root {
				t.Errorf("compileField(%q) root: got %d, want %d", tt.path, f.root, tt.root)
			}
		})
	}
}
