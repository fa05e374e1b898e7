package rego

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestHasResponsePhase(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want bool
	}{
		{"request only", `decision := {"allow": input.tool.name == "echo"}`, false},
		{"reads input.response", `decision := {"allow": true} if input.response.isError == false`, true},
		{"bracket access", `decision := {"allow": true} if input["response"]`, true},
		{"input whole to a function", `decision := {"allow": true} if object.get(input, "response", null) != null`, true},
		{"input bound to a variable", `decision := {"allow": true} if { x := input; x.kind }`, true},
		{"a variable key", `decision := {"allow": true} if { some k; input[k] == "x" }`, true},
		{"imported", "import input.response as r\n\ndecision := {\"allow\": true} if r", true},
		{"with replaces input, it does not read it", `decision := {"allow": true}

test_x if decision.allow with input as {"kind": "tools/call"}`, false},
		{"but the value of a with can read it", `decision := {"allow": true}

test_x if decision.allow with input.kind as input.response.kind`, true},
		{"data named response is not input", "response := 1\n\ndecision := {\"allow\": response == 1}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := policyOf(t, "package gatehouse\n\n"+tt.src+"\n")
			if got := d.HasResponsePhase(); got != tt.want {
				t.Errorf("HasResponsePhase = %v, want %v", got, tt.want)
			}
		})
	}
	if !starter(t).HasResponsePhase() {
		t.Error("the starter policies sanitize results, but HasResponsePhase is false")
	}
}

// TestRefusedBuiltins shows that a bundle reaching for I/O, the clock or randomness does not compile,
// with a message located at the call.
func TestRefusedBuiltins(t *testing.T) {
	for _, call := range []string{
		`http.send({"method": "GET", "url": "http://169.254.169.254/"})`,
		`net.lookup_ip_addr("example.com")`,
		`time.now_ns()`,
		`rand.intn("x", 10)`,
		`uuid.rfc4122("x")`,
		`opa.runtime()`,
	} {
		name := call[:strings.Index(call, "(")]
		t.Run(name, func(t *testing.T) {
			b, err := readBundle(t, map[string]string{"gatehouse/p.rego": "package gatehouse\n\ndecision := {\"allow\": true}\n\nx := " + call + "\n"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = New(context.Background(), b, Options{})
			var ce *CompileError
			if !errors.As(err, &ce) || len(ce.Problems) != 1 {
				t.Fatalf("got %v, want one compile problem", err)
			}
			p := ce.Problems[0]
			if strings.TrimPrefix(p.File, "/") != "gatehouse/p.rego" || p.Line != 5 || !strings.HasPrefix(p.Message, name+" is not allowed: gatehouse decisions do no I/O") {
				t.Errorf("problem = %q, want /gatehouse/p.rego:5: %s is not allowed...", p.String(), name)
			}
		})
	}
	names := strings.Join(RefusedBuiltins(), " ")
	for _, want := range []string{"http.send", "net.lookup_ip_addr", "opa.runtime", "time.now_ns", "rand.intn", "io.jwt.encode_sign"} {
		if !strings.Contains(names, want) {
			t.Errorf("RefusedBuiltins() lacks %s: %s", want, names)
		}
	}
}

func TestCompileErrorsAreLocated(t *testing.T) {
	b, err := readBundle(t, map[string]string{
		"a.rego": "package gatehouse\n\ndecision := {\"allow\": true} if nosuch(1)\n",
		"b.rego": "package gatehouse\n\n\ny := other(2)\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(context.Background(), b, Options{})
	got := Located(err, func(p string) string { return "bundle/" + strings.TrimPrefix(p, "/") })
	want := []string{"bundle/a.rego:3: undefined function nosuch", "bundle/b.rego:4: undefined function other"}
	if len(got) != len(want) {
		t.Fatalf("got %d problems %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i].String(), want[i]) {
			t.Errorf("problem %d = %q, want prefix %q", i, got[i].String(), want[i])
		}
	}
	if p := Located(errors.New("plain"), nil); len(p) != 1 || p[0].String() != "plain" {
		t.Errorf("Located(plain error) = %v", p)
	}
	if Located(nil, nil) != nil {
		t.Error("Located(nil) is not nil")
	}
}
