package rules

import (
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// FuzzLoad feeds arbitrary bytes to Load: it must never panic, and every problem must be located.
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"testdata/invalid/*", examplesDir + "/*"} {
		files, _ := filepath.Glob(dir)
		for _, path := range files {
			if data, err := os.ReadFile(path); err == nil && filepath.Ext(path) != ".golden" {
				f.Add(data)
			}
		}
	}
	f.Add([]byte(explainPolicy))
	f.Add([]byte(refundsPolicy))
	f.Add([]byte(`{"rules":[{"id":"a","effect":"allow","when":{"any":[{"field":"x[0]","op":"regex","value":"a+"}]}}]}`))
	in := &policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "t", Args: map[string]any{"amount": json.Number("1")}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Load("f.yaml", data)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("got %T, want *LoadError", err)
			}
			if len(le.Problems) == 0 {
				t.Fatal("LoadError without problems")
			}
			for _, pr := range le.Problems {
				if pr.Line < 1 || pr.Message == "" {
					t.Fatalf("unlocated or empty problem: %+v", pr)
				}
			}
			return
		}
		for _, w := range p.Warnings() {
			if w.Line < 1 || w.Severity != SeverityWarning {
				t.Fatalf("bad warning: %+v", w)
			}
		}
		p.Decide(in)
		p.Explain(in)
		p.Visible(in)
	})
}

// fuzzPolicy exercises every op, tree and effect.
const fuzzPolicy = `
rules:
  - {id: lists, methods: [tools/list, initialize], effect: allow}
  - {id: drop, tools: [db.drop*], effect: kill_session}
  - {id: admin, tools: [admin.*], require_roles: [admin], effect: allow}
  - {id: hot, tools: ["*"], min_threat_score: 0.8, effect: require_approval}
  - id: small
    tools: [refund]
    effect: allow
    when: {field: amount, op: lt, value: 500}
    budget: {field: amount, limit: 2000}
  - id: tree
    tools: ["q?ery", "s[a-z]*"]
    effect: patch
    patch: {limit: 10, opts: {a: [1, x]}}
    when:
      any:
        - {field: items.0.sku, op: startswith, value: A}
        - {field: 'items[1]["k.y"]', op: in, value: [1, "2", true, null]}
        - all:
            - {field: n, op: ge, value: -1.5}
            - {field: n, op: ne, value: 7}
            - {not: {field: tags, op: contains, value: bad}}
        - {field: s, op: regex, value: '^(a|b)+$'}
        - {field: e, op: exists, value: false}
        - {field: tenant, op: not_in, value: [x, y]}
        - {field: headers.x-k, op: endswith, value: z}
  - {id: redact, tools: [login], effect: redact, redact_fields: [password, "a[0].b"], rate: {limit: 3, per: 1s}}
  - {id: eq, tools: ["*"], effect: deny, code: validation_failed, when: {field: agent.claims.level, op: eq, value: 3}}
  - {id: resp, phase: response, tools: ["*"], effect: redact, redact_fields: [secret], when: {field: response.secret, op: exists}}
  - {id: resp-deny, phase: response, methods: ["*"], effect: deny, when: {field: response.content.0.text, op: contains, value: BEGIN}}
`

// FuzzDecide feeds random inputs to a fixed policy: Decide must never panic, Explain must agree with
// it, and Visible must never hide a target that this very call got forwarded or held for.
func FuzzDecide(f *testing.F) {
	p, err := Load("fuzz.yaml", []byte(fuzzPolicy))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("tools/call", "refund", `{"amount":"499"}`, "", "agent", "admin", 0.0, false)
	f.Add("tools/call", "query", `{"items":[{"sku":"A1"},{"k.y":"2"}],"n":3,"tags":["ok"]}`, "t", "a", "", 0.1, false)
	f.Add("tools/call", "sx", `{"s":"abab","e":1}`, "x", "a", "r", 0.9, false)
	f.Add("tools/call", "login", `{"password":"p"}`, "", "", "", 0.0, true)
	f.Add("resources/read", "file:///x", `{"secret":1,"content":[{"text":"BEGIN"}]}`, "", "", "", 0.0, true)
	f.Add("tools/list", "", `null`, "", "", "", 0.0, false)
	f.Fuzz(func(t *testing.T, kind, target, args, tenant, agent, role string, score float64, response bool) {
		var v any
		if decodeJSON(args, &v) != nil {
			v = args
		}
		m, _ := v.(map[string]any)
		in := &policy.Input{
			Kind:     kind,
			Tenant:   tenant,
			Agent:    policy.Principal{ID: agent, Roles: []string{role}, Claims: m},
			Tool:     policy.Tool{Name: target, Args: m},
			Prompt:   policy.Prompt{Name: target, Args: m},
			Resource: policy.Resource{URI: target},
			Headers:  map[string]string{"X-K": tenant},
			Threat:   policy.Threat{Score: score},
		}
		if response {
			in.Phase, in.Response = policy.PhaseResponse, v
		}
		got := p.Decide(in)
		explained, steps := p.Explain(in)
		if diff := cmp.Diff(got, explained); diff != "" {
			t.Fatalf("Decide and Explain disagree (-decide +explain):\n%s", diff)
		}
		if got.RuleID != "" && (len(steps) == 0 || !steps[len(steps)-1].Matched || steps[len(steps)-1].RuleID != got.RuleID) {
			t.Fatalf("last step %+v does not name the deciding rule %q", steps, got.RuleID)
		}
		if !response && showable(got.Effect) && !p.Visible(in) {
			t.Fatalf("Visible hides a call that was %s by %q", got.Effect, got.RuleID)
		}
	})
}

// FuzzGlob compiles arbitrary patterns and matches them against arbitrary names: no panics, and a
// pattern without metacharacters matches exactly itself.
func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{{"*", ""}, {"db.*", "db.read"}, {"a*b?c[!x-z]\\*", "aXXbYcq*"}, {"[a-", "a"}, {"*é*", "café"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		g, err := compileGlob(pattern)
		if err != nil {
			return
		}
		got := g.match(name)
		if !strings.ContainsAny(pattern, `*?[]\`) && got != (pattern == name) {
			t.Fatalf("literal %q matching %q: got %v", pattern, name, got)
		}
		if g.kind != globGeneral && len(pattern) <= maxGlobLen-16 { // mustTokens adds to the pattern
			if want := matchTokens(mustTokens(t, pattern), name); got != want {
				t.Fatalf("fast path for %q on %q: got %v, general matcher says %v", pattern, name, got, want)
			}
		}
	})
}

// mustTokens compiles a pattern for the general matcher, bypassing the fast paths.
func mustTokens(t *testing.T, pattern string) []gtok {
	g, err := compileGlob(pattern + "[\x00-\U0010FFFF]*")
	if err != nil {
		t.Fatal(err)
	}
	// Drop the class and star added above to keep the pattern general.
	return g.toks[:len(g.toks)-2]
}

// FuzzParsePath parses arbitrary field paths: no panics, and every segment of a path that parses is
// usable as an op path.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"a.b", "items[0].sku", `["a.b"].c`, "a..b", `x['k\']']`, "[", "0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		segs, err := parsePath(s)
		if err != nil {
			return
		}
		if len(segs) == 0 {
			t.Fatalf("%q parsed to no segments", s)
		}
		for _, sg := range segs {
			if sg.idx >= 0 && strconv.Itoa(sg.idx) != sg.key {
				t.Fatalf("%q: segment %q has index %d", s, sg.key, sg.idx)
			}
		}
		walk(map[string]any{"a": []any{map[string]any{}}}, segs)
	})
}

// FuzzCompareNumbers checks the exact decimal comparison against math/big.
func FuzzCompareNumbers(f *testing.F) {
	for _, s := range [][2]string{{"500", "500.0000000000000001"}, {"-0", "0"}, {"1e2", "100"}, {"0.1", "0.10000000000000001"}, {"-1.5e-3", "-0.0015"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 60 || len(b) > 60 {
			return
		}
		na, okA := numberFromText(a)
		nb, okB := numberFromText(b)
		if !okA || !okB || na.dec.exp > 400 || na.dec.exp < -400 || nb.dec.exp > 400 || nb.dec.exp < -400 {
			return
		}
		ra, ok1 := new(big.Rat).SetString(a)
		rb, ok2 := new(big.Rat).SetString(b)
		if !ok1 || !ok2 {
			t.Fatalf("big.Rat rejects %q or %q", a, b)
		}
		if got, want := cmpNumber(&na, &nb), ra.Cmp(rb); got != want {
			t.Fatalf("cmp(%s, %s): got %d, want %d", a, b, got, want)
		}
	})
}
