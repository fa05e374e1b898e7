package redact_test

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/gatehouse-mcp/gatehouse/internal/redact"
)

func ExampleJSON() {
	raw := []byte(`{"user":"alice","password":"hunter2","note":"key AKIAIOSFODNN7EXAMPLE","card":"4111 1111 1111 1111","keyboard":"us"}`)
	fmt.Println(string(redact.JSON(raw)))
	// Output:
	// {"user":"alice","password":"[REDACTED]","note":"key [REDACTED_API_KEY]","card":"[REDACTED_CARD]","keyboard":"us"}
}

func ExampleText() {
	fmt.Println(redact.Text("dial postgres://app:s3cret@db:5432/app failed; retry with Bearer abcdefgh12345678"))
	// Output:
	// dial postgres://[REDACTED_URL_CREDENTIALS]@db:5432/app failed; retry with Bearer [REDACTED_TOKEN]
}

func ExampleNewHandler() {
	h := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr { // drop the time so the output is stable
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	log := slog.New(redact.NewHandler(h))
	log.Info("login", "user", "alice", "password", "hunter2", "session_id", "s-81f2")
	// Output:
	// {"level":"INFO","msg":"login","user":"alice","password":"[REDACTED]","session_id":"[REDACTED]"}
}

func ExampleSensitiveKey() {
	for _, k := range []string{"db_password", "X-Api-Key", "sessionId", "keyboard", "max_tokens", "primary_key"} {
		fmt.Println(k, redact.SensitiveKey(k))
	}
	// Output:
	// db_password true
	// X-Api-Key true
	// sessionId true
	// keyboard false
	// max_tokens false
	// primary_key false
}
