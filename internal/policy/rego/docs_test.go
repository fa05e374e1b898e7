package rego

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocsExamplesCompile compiles every Rego example in the author's reference, so that the
// documentation cannot drift from the engine. A fragment without a package is compiled in package
// gatehouse.
func TestDocsExamplesCompile(t *testing.T) {
	data, err := os.ReadFile("../../../docs/policy-rego.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```rego\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	if len(blocks) < 4 {
		t.Fatalf("found %d Rego examples, want at least 4", len(blocks))
	}
	for i, b := range blocks {
		src := b[1]
		if !regexp.MustCompile(`(?m)^package `).MatchString(src) {
			src = "package gatehouse\n\n" + src
		}
		if strings.Contains(src, "result_decision") { // the phase skeleton names rules it leaves out
			src += "\nresult_decision := {\"allow\": true}\n\nrequest_decision := {\"allow\": true}\n"
		}
		if _, err := readBundle(t, map[string]string{"doc.rego": src}); err != nil {
			t.Errorf("example %d does not parse: %v\n%s", i, err, src)
			continue
		}
		compile(t, map[string]string{"doc.rego": src}, Options{})
	}
}

// TestDocsFirstPolicy decides with the first example of the reference, as it describes.
func TestDocsFirstPolicy(t *testing.T) {
	data, _ := os.ReadFile("../../../docs/policy-rego.md")
	src := regexp.MustCompile("(?s)```rego\n(package gatehouse\n\n# Deny what nothing allows.*?)```").FindStringSubmatch(string(data))
	if src == nil {
		t.Fatal("the first policy is not in docs/policy-rego.md")
	}
	d := policyOf(t, src[1])
	for _, tt := range []struct {
		in   string
		role string
		want string
	}{
		{`{"amount": 120}`, "finance", "allow"},
		{`{"amount": 120}`, "dev", "deny"},
		{`{"amount": 900}`, "finance", "require_approval"},
	} {
		v, err := d.Decide(context.Background(), call(t, "refund", tt.in, tt.role))
		if err != nil || string(v.Effect) != tt.want {
			t.Errorf("refund %s as %s: got %s (%v), want %s", tt.in, tt.role, v.Effect, err, tt.want)
		}
	}
}
