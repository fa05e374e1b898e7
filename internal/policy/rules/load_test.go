package rules

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// TestInvalidGolden loads every file in testdata/invalid and compares the problems, one per line, with
// the file's .golden. Every file there must be refused.
func TestInvalidGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range files {
		ext := filepath.Ext(path)
		if ext != ".yaml" && ext != ".json" {
			continue
		}
		n++
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Load(name, data)
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Load: got %v, want a *LoadError", err)
			}
			for _, p := range le.Problems {
				if p.Line < 1 || p.Column < 1 {
					t.Errorf("problem not located: %+v", p)
				}
				if p.File != name {
					t.Errorf("problem file: got %q, want %q", p.File, name)
				}
			}
			golden(t, filepath.Join("invalid", strings.TrimSuffix(name, ext)+".golden"), []byte(err.Error()+"\n"))
		})
	}
	if n < 20 {
		t.Errorf("found %d invalid policies, want at least 20", n)
	}
}

func TestWarnings(t *testing.T) {
	p, err := Load("w.yaml", []byte(`
default_effect: allow
rules:
  - id: typo
    methods: [tools/lst, tools/call]
    effect: deny
`))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var got []string
	for _, w := range p.Warnings() {
		if w.Severity != SeverityWarning {
			t.Errorf("severity: got %q, want warning", w.Severity)
		}
		got = append(got, w.String())
	}
	want := []string{
		`w.yaml:2: warning: default_effect allow lets through every request no rule matches; keep it deny and allow explicitly`,
		`w.yaml:5: typo: warning: methods: "tools/lst" is not a known MCP method; the rule applies only if a client sends it (did you mean "tools/list"?)`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "p.yaml", Line: 3, RuleID: "r1", Severity: SeverityError, Message: "bad"}, "p.yaml:3: r1: bad"},
		{Problem{File: "p.yaml", Line: 1, Severity: SeverityError, Message: "bad"}, "p.yaml:1: bad"},
		{Problem{File: "p.yaml", Line: 9, RuleID: "rules[2]", Severity: SeverityWarning, Message: "hm"}, "p.yaml:9: rules[2]: warning: hm"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDuplicateKeysAreNotCaughtByYAML pins the reason this package walks mappings itself: decoding
// into a yaml.Node accepts duplicate keys, so a policy could mean two things to two readers.
func TestDuplicateKeysAreNotCaughtByYAML(t *testing.T) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("a: 1\na: 2\n"), &n); err != nil {
		t.Logf("go.yaml.in/yaml/v3 now rejects duplicate keys itself (%v); the walk in mapping still must", err)
	}
	_, err := Load("d.yaml", []byte("rules:\n  - id: a\n    effect: deny\n    effect: allow\n    tools: [x]\n"))
	want := `d.yaml:4: a: duplicate key "effect" (first at line 3)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

func TestLimits(t *testing.T) {
	nested := func(depth int) string {
		c := "{field: x, op: exists}"
		for i := 1; i < depth; i++ {
			c = "{not: " + c + "}"
		}
		return "rules:\n  - id: deep\n    effect: deny\n    when: " + c + "\n"
	}
	manyRules := func(n int) string {
		var b strings.Builder
		b.WriteString("rules:\n")
		for i := range n {
			fmt.Fprintf(&b, "  - {id: r%d, tools: [t%d], effect: allow}\n", i, i)
		}
		return b.String()
	}
	tests := []struct {
		name string
		src  string
		want string // empty: loads
	}{
		{"file too large", "# " + strings.Repeat("x", MaxFileBytes) + "\nrules: []\n", fmt.Sprintf("big.yaml:1: policy file is %d bytes; the limit is 4194304 (4 MiB)", MaxFileBytes+13)},
		{"10000 rules load", manyRules(MaxRules), ""},
		{"10001 rules", manyRules(MaxRules + 1), "big.yaml:1: 10001 rules; the limit is 10000"},
		{"depth 32 loads", nested(MaxConditionDepth), ""},
		{"depth 33", nested(MaxConditionDepth + 1), "big.yaml:4: deep: when: conditions nested deeper than 32"},
		{"regex at the limit loads", "rules:\n  - id: re\n    effect: deny\n    when: {field: x, op: regex, value: '" + strings.Repeat("a", MaxRegexBytes) + "'}\n", ""},
		{"regex too long", "rules:\n  - id: re\n    effect: deny\n    when: {field: x, op: regex, value: '" + strings.Repeat("a", MaxRegexBytes+1) + "'}\n", "big.yaml:4: re: when: regex is 4097 bytes; the limit is 4096"},
		{"very deep YAML", "rules: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n", "big.yaml:1: not a valid YAML or JSON document: exceeded max depth of 10000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("big.yaml", []byte(tt.src))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", truncate(got), tt.want)
			}
		})
	}
}

func TestRedactSecrets(t *testing.T) {
	p := mustLoad(t, `
name: t
version: "1"
default_effect: deny
rules:
  - id: scrub
    tools: [echo]
    effect: redact
    redact_secrets: true
  - id: scrub-and-name
    tools: [notes]
    effect: redact
    redact_fields: [body]
    redact_secrets: true
`)
	v := p.Decide(&policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "echo"}})
	if v.Effect != policy.EffectRedact || len(v.Ops) != 1 || v.Ops[0].Kind != policy.OpRedactSecrets {
		t.Errorf("echo: %+v, want redact with one redact_secrets op", v)
	}
	v = p.Decide(&policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "notes"}})
	if len(v.Ops) != 2 || v.Ops[0].Kind != policy.OpRedact || v.Ops[1].Kind != policy.OpRedactSecrets {
		t.Errorf("notes: %+v, want the named field, then the secrets", v.Ops)
	}
	for _, tc := range []struct{ rule, want string }{
		{"effect: deny\n    redact_secrets: true", "redact_secrets needs effect: redact (effect is deny)"},
		{"effect: redact\n    redact_secrets: yes please", "redact_secrets must be true or false"},
		{"effect: redact\n    redact_secrets: false", "effect redact needs redact_fields, redact_secrets: true, or both"},
	} {
		_, err := Load("t.yaml", []byte("name: t\nversion: \"1\"\ndefault_effect: deny\nrules:\n  - id: r\n    tools: [echo]\n    "+tc.rule+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.rule, err, tc.want)
		}
	}
}
