package auditlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
)

// ExampleVerify writes a signed log, verifies it with the public key, and
// shows what Verify reports once a record was edited.
func ExampleVerify() {
	dir, err := os.MkdirTemp("", "auditlog-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	pub, priv, err := auditlog.GenerateKey()
	if err != nil {
		log.Fatal(err)
	}

	path := filepath.Join(dir, "gatehouse-audit.jsonl")
	w, err := auditlog.Open(auditlog.Options{Path: path, SigningKey: priv, CheckpointEvery: 100})
	if err != nil {
		log.Fatal(err)
	}
	for _, tool := range []string{"fs.read", "fs.write", "fs.list"} {
		err := w.Append(context.Background(), &auditlog.Record{
			Tenant: "acme", Agent: "agent-7", Method: "tools/call", Tool: tool, Effect: "allow",
		})
		if err != nil {
			log.Fatal(err) // the gateway fails closed: no record, no call
		}
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	rep, err := auditlog.Verify([]string{path}, auditlog.VerifyOptions{PublicKey: pub})
	fmt.Printf("ok=%v records=%d decisions=%d signed checkpoints=%d\n",
		err == nil, rep.Records, rep.Decisions, rep.SignedCheckpoints)

	// Someone turns the write into a read.
	data, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(data, []byte(`"tool":"fs.write"`), []byte(`"tool":"fs.read"`), 1), 0o600)

	_, err = auditlog.Verify([]string{path}, auditlog.VerifyOptions{PublicKey: pub})
	var p *auditlog.Problem
	if errors.As(err, &p) {
		fmt.Printf("line %d, seq %d: %s\n", p.Line, p.Seq, p.Kind)
	}
	// Output:
	// ok=true records=4 decisions=3 signed checkpoints=1
	// line 2, seq 2: edited
}
