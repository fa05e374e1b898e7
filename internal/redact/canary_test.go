package redact

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
)

// canaries are known secrets of every kind redaction covers. Each entry is the text placed in a
// message and the fragment that must never appear in anything gatehouse writes.
var canaries = []struct{ value, fragment string }{
	{"canary-pw-8f3a1c", "canary-pw-8f3a1c"},                                                       // under password
	{"canary-key-71be", "canary-key-71be"},                                                         // under api_key
	{"canary@example.com", "canary@example.com"},                                                   // under email
	{"+1 555 0100 4242", "555 0100 4242"},                                                          // under phone
	{"AKIACANARY7X2Q9Z4L1M", "CANARY7X2Q9Z4L1M"},                                                   // AWS key id
	{"ghp_CanaryT0kenAbCdEfGhIjKlMnOpQrStUv12", "CanaryT0ken"},                                     // GitHub token
	{"eyJhbGciOiJIUzI1NiJ9.eyJjYW5hcnkiOiJ5ZXMifQ.Q2FuYXJ5U2lnbmF0dXJl", "eyJjYW5hcnkiOiJ5ZXMifQ"}, // JWT
	{"https://canaryuser:canarypass@db.example/x", "canarypass"},                                   // URL credentials
	{"4000 0566 5566 5556", "5566 5556"},                                                           // card (Luhn-valid)
	{"Bearer CanaryBearerT0ken99", "CanaryBearerT0ken99"},                                          // bearer token
	{"-----BEGIN EC PRIVATE KEY-----\nCANARYKEYMATERIAL\n-----END EC PRIVATE KEY-----", "CANARYKEYMATERIAL"},
	{"Zq4Xk9fQ2mZ8rT4vB7nW1pL6cY3hJ5sD0gACanary", "Zq4Xk9fQ2mZ8rT4v"}, // high-entropy token
}

// canaryArguments and canaryResult put every canary into a tools/call request's arguments and a
// result, nested at various depths, under sensitive names and in ordinary text.
func canaryArguments() map[string]any {
	return map[string]any{
		"user":     "alice",
		"password": canaries[0].value,
		"config":   map[string]any{"api_key": canaries[1].value, "retries": json.Number("3")},
		"contact":  []any{map[string]any{"email": canaries[2].value, "phone": canaries[3].value}},
		"note":     "use " + canaries[4].value + " and " + canaries[5].value,
		"headers":  map[string]any{"X-Trace": canaries[6].value},
		"dsn":      canaries[7].value,
		"payment":  map[string]any{"number": canaries[8].value},
	}
}

func canaryResult() map[string]any {
	return map[string]any{
		"content": []any{
			map[string]any{"type": "text", "text": "Authorization: " + canaries[9].value},
			map[string]any{"type": "text", "text": "found key:\n" + canaries[10].value},
			map[string]any{"type": "text", "text": "secret=" + canaries[11].value + " and " + canaries[4].value},
		},
		"isError": false,
	}
}

func assertNoCanary(t *testing.T, where, out string) {
	t.Helper()
	for _, c := range canaries {
		if strings.Contains(out, c.fragment) {
			t.Errorf("%s contains canary %q:\n%s", where, c.fragment, out)
		}
	}
}

// TestCanary proves that known secrets placed in arguments and results never reach what gatehouse
// writes: the redacted values, the redacted JSON, an audit record written through the real chained
// writer to a file, and log lines (JSON and text handlers, attributes, groups, With).
func TestCanary(t *testing.T) {
	args, result := canaryArguments(), canaryResult()
	rawArgs, _ := json.Marshal(args)
	rawResult, _ := json.Marshal(result)
	// The canaries really are in the input.
	for _, c := range canaries {
		if !strings.Contains(string(rawArgs)+string(rawResult), strings.ReplaceAll(c.fragment, "\n", `\n`)) {
			t.Fatalf("canary %q is not in the test input", c.fragment)
		}
	}

	t.Run("Value", func(t *testing.T) {
		for _, v := range []any{Value(args), Value(result)} {
			b, _ := json.Marshal(v)
			assertNoCanary(t, "Value", string(b))
		}
	})
	t.Run("JSON", func(t *testing.T) {
		assertNoCanary(t, "JSON(arguments)", string(JSON(rawArgs)))
		assertNoCanary(t, "JSON(result)", string(JSON(rawResult)))
	})
	t.Run("Ops", func(t *testing.T) {
		// The policy-driven path: what the gateway would forward and return.
		for _, v := range []any{args, result} {
			var ops []string
			for _, op := range Ops(v, nil) {
				b, _ := json.Marshal(op)
				ops = append(ops, string(b))
			}
			assertNoCanary(t, "Ops", strings.Join(ops, "\n"))
		}
	})
	t.Run("audit file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		w, err := auditlog.Open(auditlog.Options{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		rec := Record(auditlog.Record{
			Type: auditlog.TypeDecision, DecisionID: "dec-1", Method: "tools/call", Tool: "login", Effect: "allow",
			Reason:      "upstream error: " + canaries[7].value,
			EngineError: "rego: input had " + canaries[4].value,
		}, rawArgs, rawResult)
		if err := w.Append(context.Background(), &rec); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), `"tool":"login"`) {
			t.Fatalf("the record was not written: %s", data)
		}
		assertNoCanary(t, "audit file", string(data))
	})
	t.Run("logs", func(t *testing.T) {
		var jb, tb bytes.Buffer
		for _, h := range []slog.Handler{slog.NewJSONHandler(&jb, nil), slog.NewTextHandler(&tb, nil)} {
			log := slog.New(NewHandler(h)).With("session_id", "s", "upstream_dsn", canaries[7].value)
			log.Info("call", "arguments", args, "result", result, "raw", json.RawMessage(rawArgs))
			log.WithGroup("call").Error("failed "+canaries[5].value, "error_data", string(rawResult))
		}
		if jb.Len() == 0 || tb.Len() == 0 {
			t.Fatal("nothing was logged")
		}
		assertNoCanary(t, "JSON log", jb.String())
		assertNoCanary(t, "text log", tb.String())
	})
}
