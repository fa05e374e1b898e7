package rules

import (
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// whenPolicy is a policy that allows any call whose when holds, and denies everything else.
func whenPolicy(t *testing.T, when string, phase string) *Policy {
	t.Helper()
	methods := `["*"]`
	if phase == "response" {
		methods = `["tools/call"]`
	}
	src := "rules:\n  - id: r\n    effect: allow\n    methods: " + methods + "\n    phase: " + phase + "\n    when: " + when + "\n"
	if phase == "response" {
		src += "  - id: block\n    phase: response\n    effect: deny\n"
	}
	return mustLoad(t, src)
}

func TestConditionOps(t *testing.T) {
	tests := []struct {
		name string
		when string
		args string
		want bool
	}{
		// eq
		{"eq string equal", `{field: s, op: eq, value: a}`, `{"s":"a"}`, true},
		{"eq string different", `{field: s, op: eq, value: a}`, `{"s":"b"}`, false},
		{"eq string vs number field", `{field: s, op: eq, value: "5"}`, `{"s":5}`, false},
		{"eq string missing", `{field: s, op: eq, value: a}`, `{}`, false},
		{"eq number", `{field: n, op: eq, value: 5}`, `{"n":5}`, true},
		{"eq number written 5.0", `{field: n, op: eq, value: 5}`, `{"n":5.0}`, true},
		{"eq number from numeric string", `{field: n, op: eq, value: 5}`, `{"n":"5"}`, true},
		{"eq number from non-numeric string", `{field: n, op: eq, value: 5}`, `{"n":"five"}`, false},
		{"eq number vs bool", `{field: n, op: eq, value: 1}`, `{"n":true}`, false},
		{"eq number exact tie-break", `{field: n, op: eq, value: 500}`, `{"n":500.0000000000000001}`, false},
		{"eq bool", `{field: b, op: eq, value: true}`, `{"b":true}`, true},
		{"eq bool vs string", `{field: b, op: eq, value: true}`, `{"b":"true"}`, false},
		{"eq bare date is a string", `{field: d, op: eq, value: 2026-01-31}`, `{"d":"2026-01-31"}`, true},
		{"eq bare 007 is the number 7", `{field: n, op: eq, value: 007}`, `{"n":7}`, true},
		{"eq quoted 007 is a string", `{field: n, op: eq, value: "007"}`, `{"n":"007"}`, true},
		{"eq null", `{field: x, op: eq, value: null}`, `{"x":null}`, true},
		{"eq null missing", `{field: x, op: eq, value: null}`, `{}`, false},
		{"eq null vs empty string", `{field: x, op: eq, value: null}`, `{"x":""}`, false},
		// ne
		{"ne string different", `{field: s, op: ne, value: a}`, `{"s":"b"}`, true},
		{"ne string equal", `{field: s, op: ne, value: a}`, `{"s":"a"}`, false},
		{"ne string vs number is a mismatch", `{field: s, op: ne, value: a}`, `{"s":5}`, false},
		{"ne missing", `{field: s, op: ne, value: a}`, `{}`, false},
		{"ne number", `{field: n, op: ne, value: 5}`, `{"n":6}`, true},
		{"ne number vs text", `{field: n, op: ne, value: 5}`, `{"n":"abc"}`, false},
		// lt le gt ge
		{"lt below", `{field: amount, op: lt, value: 500}`, `{"amount":499}`, true},
		{"lt equal", `{field: amount, op: lt, value: 500}`, `{"amount":500}`, false},
		{"lt negative", `{field: amount, op: lt, value: 0}`, `{"amount":-1}`, true},
		{"lt numeric string", `{field: amount, op: lt, value: 500}`, `{"amount":"499.5"}`, true},
		{"lt string with space is not a number", `{field: amount, op: lt, value: 500}`, `{"amount":" 400"}`, false},
		{"lt hex string is not a number", `{field: amount, op: lt, value: 500}`, `{"amount":"0x10"}`, false},
		{"lt bool", `{field: amount, op: lt, value: 500}`, `{"amount":false}`, false},
		{"lt missing", `{field: amount, op: lt, value: 500}`, `{}`, false},
		{"lt object", `{field: amount, op: lt, value: 500}`, `{"amount":{"v":1}}`, false},
		{"le equal", `{field: amount, op: le, value: 500}`, `{"amount":500}`, true},
		{"le just above, beyond float64", `{field: amount, op: le, value: 500}`, `{"amount":500.0000000000000001}`, false},
		{"le just above as string", `{field: amount, op: le, value: 500}`, `{"amount":"500.0000000000000001"}`, false},
		{"le exponent", `{field: amount, op: le, value: 500}`, `{"amount":5e2}`, true},
		{"gt above", `{field: amount, op: gt, value: 999}`, `{"amount":1e3}`, true},
		{"gt fractional rule value", `{field: amount, op: gt, value: 0.1}`, `{"amount":0.10000000000000001}`, true},
		{"gt huge exponent", `{field: amount, op: gt, value: 1e300}`, `{"amount":"1e999"}`, true},
		{"ge numeric string closes the bypass", `{field: amount, op: ge, value: 500}`, `{"amount":"600"}`, true},
		{"ge below", `{field: amount, op: ge, value: 500}`, `{"amount":499.99}`, false},
		{"ge negative zero", `{field: amount, op: ge, value: 0}`, `{"amount":-0}`, true},
		// in, not_in
		{"in string", `{field: s, op: in, value: [a, b]}`, `{"s":"b"}`, true},
		{"in string absent", `{field: s, op: in, value: [a, b]}`, `{"s":"c"}`, false},
		{"in number", `{field: n, op: in, value: [5, 6]}`, `{"n":6}`, true},
		{"in number from string", `{field: n, op: in, value: [5, 6]}`, `{"n":"6"}`, true},
		{"in string list vs number", `{field: n, op: in, value: ["5"]}`, `{"n":5}`, false},
		{"in mixed list", `{field: n, op: in, value: [x, 5, true, null]}`, `{"n":null}`, true},
		{"in missing", `{field: s, op: in, value: [a]}`, `{}`, false},
		{"in list field", `{field: s, op: in, value: [a]}`, `{"s":["a"]}`, false},
		{"not_in absent", `{field: s, op: not_in, value: [a, b]}`, `{"s":"c"}`, true},
		{"not_in present", `{field: s, op: not_in, value: [a, b]}`, `{"s":"a"}`, false},
		{"not_in type mismatch", `{field: s, op: not_in, value: [a, b]}`, `{"s":5}`, false},
		{"not_in missing", `{field: s, op: not_in, value: [a]}`, `{}`, false},
		{"not_in numbers", `{field: n, op: not_in, value: [1, 2]}`, `{"n":"3"}`, true},
		// contains
		{"contains substring", `{field: s, op: contains, value: "lo w"}`, `{"s":"hello world"}`, true},
		{"contains substring absent", `{field: s, op: contains, value: xyz}`, `{"s":"hello"}`, false},
		{"contains string element", `{field: l, op: contains, value: b}`, `{"l":["a","b"]}`, true},
		{"contains number element", `{field: l, op: contains, value: 2}`, `{"l":[1,2]}`, true},
		{"contains number vs numeric string element", `{field: l, op: contains, value: 2}`, `{"l":["2"]}`, true},
		{"contains string vs number element", `{field: l, op: contains, value: "2"}`, `{"l":[1,2]}`, false},
		{"contains bool element", `{field: l, op: contains, value: true}`, `{"l":[false,true]}`, true},
		{"contains number in string", `{field: s, op: contains, value: 2}`, `{"s":"123"}`, false},
		{"contains object", `{field: s, op: contains, value: a}`, `{"s":{"a":1}}`, false},
		{"contains missing", `{field: s, op: contains, value: a}`, `{}`, false},
		// startswith, endswith
		{"startswith", `{field: p, op: startswith, value: /safe/}`, `{"p":"/safe/x"}`, true},
		{"startswith no", `{field: p, op: startswith, value: /safe/}`, `{"p":"/etc/x"}`, false},
		{"startswith number", `{field: p, op: startswith, value: "4"}`, `{"p":4111}`, false},
		{"startswith missing", `{field: p, op: startswith, value: a}`, `{}`, false},
		{"endswith", `{field: p, op: endswith, value: .csv}`, `{"p":"a.csv"}`, true},
		{"endswith no", `{field: p, op: endswith, value: .csv}`, `{"p":"a.exe"}`, false},
		{"endswith list", `{field: p, op: endswith, value: .csv}`, `{"p":["a.csv"]}`, false},
		// regex
		{"regex match", `{field: s, op: regex, value: '^abc\d+$'}`, `{"s":"abc123"}`, true},
		{"regex no match", `{field: s, op: regex, value: '^abc\d+$'}`, `{"s":"abc"}`, false},
		{"regex unanchored", `{field: s, op: regex, value: 'b.d'}`, `{"s":"abcde"}`, true},
		{"regex number", `{field: s, op: regex, value: '^\d+$'}`, `{"s":123}`, false},
		{"regex missing", `{field: s, op: regex, value: '.*'}`, `{}`, false},
		// exists
		{"exists present", `{field: s, op: exists}`, `{"s":1}`, true},
		{"exists present null", `{field: s, op: exists}`, `{"s":null}`, true},
		{"exists missing", `{field: s, op: exists}`, `{}`, false},
		{"exists true explicit", `{field: s, op: exists, value: true}`, `{"s":"x"}`, true},
		{"exists false missing", `{field: s, op: exists, value: false}`, `{}`, true},
		{"exists false present", `{field: s, op: exists, value: false}`, `{"s":"x"}`, false},
		{"exists false no arguments at all", `{field: s, op: exists, value: false}`, ``, true},
		{"exists whole arguments", `{field: args, op: exists}`, `{}`, true},
		{"exists whole arguments absent", `{field: args, op: exists}`, ``, false},
		// not inverts as usual, missing included
		{"not of missing", `{not: {field: s, op: eq, value: a}}`, `{}`, true},
		{"not of true", `{not: {field: s, op: eq, value: a}}`, `{"s":"a"}`, false},
		{"not of type mismatch", `{not: {field: s, op: ne, value: a}}`, `{"s":5}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := whenPolicy(t, tt.when, "request")
			got := p.Decide(call(t, "t", tt.args)).Effect == policy.EffectAllow
			if got != tt.want {
				t.Errorf("when %s on %s: got %v, want %v", tt.when, tt.args, got, tt.want)
			}
		})
	}
}

func TestConditionTrees(t *testing.T) {
	a := `{field: a, op: eq, value: 1}`
	b := `{field: b, op: eq, value: 1}`
	tests := []struct {
		name string
		when string
		args string
		want bool
	}{
		{"all both", `{all: [` + a + `, ` + b + `]}`, `{"a":1,"b":1}`, true},
		{"all one", `{all: [` + a + `, ` + b + `]}`, `{"a":1,"b":2}`, false},
		{"any one", `{any: [` + a + `, ` + b + `]}`, `{"a":2,"b":1}`, true},
		{"any none", `{any: [` + a + `, ` + b + `]}`, `{"a":2,"b":2}`, false},
		{"any all missing", `{any: [` + a + `, ` + b + `]}`, `{}`, false},
		{"not all", `{not: {all: [` + a + `, ` + b + `]}}`, `{"a":1}`, true},
		{"list means all", `[` + a + `, ` + b + `]`, `{"a":1,"b":1}`, true},
		{"list means all, one fails", `[` + a + `, ` + b + `]`, `{"a":1,"b":0}`, false},
		{"nested", `{any: [{all: [` + a + `, {not: ` + b + `}]}, {field: c, op: exists}]}`, `{"a":1,"b":2}`, true},
		{"nested second branch", `{any: [{all: [` + a + `, {not: ` + b + `}]}, {field: c, op: exists}]}`, `{"a":1,"b":1,"c":0}`, true},
		{"nested neither", `{any: [{all: [` + a + `, {not: ` + b + `}]}, {field: c, op: exists}]}`, `{"a":1,"b":1}`, false},
		{"double not", `{not: {not: ` + a + `}}`, `{"a":1}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := whenPolicy(t, tt.when, "request")
			got := p.Decide(call(t, "t", tt.args)).Effect == policy.EffectAllow
			if got != tt.want {
				t.Errorf("when %s on %s: got %v, want %v", tt.when, tt.args, got, tt.want)
			}
		})
	}
}

func TestConditionPaths(t *testing.T) {
	tests := []struct {
		name  string
		field string
		value string
		args  string
		want  bool
	}{
		{"nested object", `filters.region`, `eu`, `{"filters":{"region":"eu"}}`, true},
		{"dotted index", `items.0.sku`, `A1`, `{"items":[{"sku":"A1"}]}`, true},
		{"bracket index", `items[1].sku`, `B2`, `{"items":[{"sku":"A1"},{"sku":"B2"}]}`, true},
		{"index out of range", `items[5].sku`, `A1`, `{"items":[{"sku":"A1"}]}`, false},
		{"numeric segment as object key", `m.0`, `zero`, `{"m":{"0":"zero"}}`, true},
		{"quoted key with dots", `["a.b"].c`, `x`, `{"a.b":{"c":"x"}}`, true},
		{"single-quoted key", `['a.b']`, `x`, `{"a.b":"x"}`, true},
		{"dots do not match a dotted key", `a.b`, `x`, `{"a.b":"x"}`, false},
		{"quoted number does not index arrays", `l["0"]`, `x`, `{"l":["x"]}`, false},
		{"nested arrays", `m[0][1]`, `x`, `{"m":[["w","x"]]}`, true},
		{"through a scalar", `a.b`, `x`, `{"a":"x"}`, false},
		{"args prefix", `args.tenant`, `t1`, `{"tenant":"t1"}`, true},
		{"quoted root is an argument", `["tenant"]`, `t1`, `{"tenant":"t1"}`, true},
		{"context tenant is not the argument", `tenant`, `t1`, `{"tenant":"t1"}`, false},
		{"escaped quote in key", `["say \"hi\""]`, `x`, `{"say \"hi\"":"x"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			when := "{field: '" + strings.ReplaceAll(tt.field, "'", "''") + "', op: eq, value: " + tt.value + "}"
			p := whenPolicy(t, when, "request")
			got := p.Decide(call(t, "t", tt.args)).Effect == policy.EffectAllow
			if got != tt.want {
				t.Errorf("%s eq %s on %s: got %v, want %v", tt.field, tt.value, tt.args, got, tt.want)
			}
		})
	}
}

func TestConditionContext(t *testing.T) {
	base := func() *policy.Input {
		return &policy.Input{
			Kind:      "tools/call",
			Agent:     policy.Principal{ID: "agent-7", Roles: []string{"reader"}, Claims: map[string]any{"org": "acme", "scopes": []any{"a", "b"}}},
			User:      policy.Principal{ID: "u1", Roles: []string{"admin"}},
			Tenant:    "eng-1",
			Tool:      policy.Tool{Name: "db.query", Server: "db", Args: map[string]any{"tenant": "other"}},
			RequestIP: "10.1.2.3",
			Headers:   map[string]string{"X-Trace-Id": "abc"},
			Session:   policy.Session{ID: "s1", RunID: "run-9", WorkflowID: "wf"},
			Threat:    policy.Threat{Score: 0.75},
		}
	}
	tests := []struct {
		name string
		when string
		edit func(*policy.Input)
		want bool
	}{
		{"agent.id", `{field: agent.id, op: eq, value: agent-7}`, nil, true},
		{"agent.roles contains", `{field: agent.roles, op: contains, value: reader}`, nil, true},
		{"agent.roles contains other", `{field: agent.roles, op: contains, value: admin}`, nil, false},
		{"agent.roles empty is missing", `{field: agent.roles, op: exists, value: false}`, func(in *policy.Input) { in.Agent.Roles = nil }, true},
		{"agent.claims", `{field: agent.claims.org, op: eq, value: acme}`, nil, true},
		{"agent.claims list", `{field: agent.claims.scopes, op: contains, value: b}`, nil, true},
		{"agent.claims missing", `{field: agent.claims.nope, op: exists}`, nil, false},
		{"user.id", `{field: user.id, op: eq, value: u1}`, nil, true},
		{"user.roles", `{field: user.roles, op: contains, value: admin}`, nil, true},
		{"user.claims nil", `{field: user.claims.x, op: exists}`, nil, false},
		{"tenant", `{field: tenant, op: eq, value: eng-1}`, nil, true},
		{"tenant unknown is missing", `{field: tenant, op: exists, value: false}`, func(in *policy.Input) { in.Tenant = "" }, true},
		{"threat.score", `{field: threat.score, op: ge, value: 0.7}`, nil, true},
		{"threat.score below", `{field: threat.score, op: ge, value: 0.8}`, nil, false},
		{"request.ip", `{field: request.ip, op: startswith, value: "10."}`, nil, true},
		{"session.id", `{field: session.id, op: eq, value: s1}`, nil, true},
		{"session.run_id", `{field: session.run_id, op: eq, value: run-9}`, nil, true},
		{"session.workflow_id", `{field: session.workflow_id, op: eq, value: wf}`, nil, true},
		{"tool.name", `{field: tool.name, op: eq, value: db.query}`, nil, true},
		{"tool.server", `{field: tool.server, op: eq, value: db}`, nil, true},
		{"kind", `{field: kind, op: eq, value: tools/call}`, nil, true},
		{"header exact", `{field: headers.X-Trace-Id, op: eq, value: abc}`, nil, true},
		{"header any case", `{field: headers.x-trace-id, op: eq, value: abc}`, nil, true},
		{"header odd case", `{field: headers.X-TRACE-id, op: eq, value: abc}`, nil, true},
		{"header missing", `{field: headers.x-other, op: exists}`, nil, false},
		{"resource.uri", `{field: resource.uri, op: startswith, value: "file:///srv/"}`, func(in *policy.Input) { in.Kind = "resources/read"; in.Resource.URI = "file:///srv/a" }, true},
		{"prompt.name", `{field: prompt.name, op: eq, value: greet}`, func(in *policy.Input) { in.Kind = "prompts/get"; in.Prompt.Name = "greet" }, true},
		{"prompt args are the arguments", `{field: lang, op: eq, value: fr}`, func(in *policy.Input) {
			in.Kind = "prompts/get"
			in.Prompt.Args = map[string]any{"lang": "fr"}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := whenPolicy(t, tt.when, "request")
			in := base()
			if tt.edit != nil {
				tt.edit(in)
			}
			got := p.Decide(in).Effect == policy.EffectAllow
			if got != tt.want {
				t.Errorf("when %s: got %v, want %v", tt.when, got, tt.want)
			}
		})
	}
}

func TestConditionResponse(t *testing.T) {
	tests := []struct {
		name     string
		when     string
		response string
		want     bool
	}{
		{"result text", `{field: response.content.0.text, op: contains, value: secret}`, `{"content":[{"type":"text","text":"a secret"}]}`, true},
		{"isError", `{field: response.isError, op: eq, value: true}`, `{"isError":true}`, true},
		{"whole result exists", `{field: response, op: exists}`, `{}`, true},
		{"missing result field", `{field: response.structuredContent.x, op: exists}`, `{"content":[]}`, false},
		{"arguments still visible", `{field: q, op: eq, value: x}`, `{}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := whenPolicy(t, tt.when, "response")
			in := call(t, "t", `{"q":"x"}`)
			in.Phase = policy.PhaseResponse
			in.Response = jsonValue(t, tt.response)
			got := p.Decide(in).Effect == policy.EffectAllow
			if got != tt.want {
				t.Errorf("when %s on %s: got %v, want %v", tt.when, tt.response, got, tt.want)
			}
		})
	}
}

// TestGoNumbers covers arguments built in Go rather than decoded from JSON.
func TestGoNumbers(t *testing.T) {
	p := whenPolicy(t, `{field: n, op: lt, value: 10}`, "request")
	for _, v := range []any{int(3), int8(3), int16(3), int32(3), int64(3), uint(3), uint8(3), uint16(3), uint32(3), uint64(3), float32(3), float64(3)} {
		in := &policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "t", Args: map[string]any{"n": v}}}
		if got := p.Decide(in).Effect; got != policy.EffectAllow {
			t.Errorf("%T 3 lt 10: got %s, want allow", v, got)
		}
	}
}
