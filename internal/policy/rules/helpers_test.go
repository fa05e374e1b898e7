package rules

import (
	"bytes"
	"encoding/json"
	goldenfile "github.com/gatehouse-mcp/gatehouse/internal/golden"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// golden compares got with testdata/<name> (golden.Check).
func golden(t *testing.T, name string, got []byte) { t.Helper(); goldenfile.Check(t, name, got) }

// mustLoad loads a policy from source or fails the test with every problem.
func mustLoad(t testing.TB, src string) *Policy {
	t.Helper()
	p, err := Load("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return p
}

// jsonArgs decodes a JSON object the way the gateway does: with UseNumber.
func jsonArgs(t testing.TB, s string) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	var m map[string]any
	if err := decodeJSON(s, &m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

func jsonValue(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := decodeJSON(s, &v); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return v
}

func decodeJSON(s string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	return dec.Decode(v)
}

// call is a tools/call input for tool with JSON arguments.
func call(t testing.TB, tool, args string) *policy.Input {
	t.Helper()
	return &policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: tool, Server: "srv", Args: jsonArgs(t, args)}}
}
