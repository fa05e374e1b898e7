package pin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/gatehouse-mcp/gatehouse/internal/canonjson"
)

// PinnedMembers are the members of a tool definition that are pinned: everything the model reads
// or a client shows. Other members (_meta, icons, execution hints) may change freely.
var PinnedMembers = []string{"name", "title", "description", "inputSchema", "outputSchema", "annotations"}

// Digest returns "sha256:" and the hex SHA-256 of the canonical form of the pinned members of a
// tool definition (Canonical).
func Digest(def map[string]any) (string, error) {
	c, err := Canonical(def)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Canonical returns the canonical JSON (package canonjson) of the pinned members of def, which makes
// the result independent of how the definition was formatted and decoded. Absent members are left
// out; null is kept.
func Canonical(def map[string]any) ([]byte, error) {
	sub := make(map[string]any, len(PinnedMembers))
	for _, k := range PinnedMembers {
		if v, ok := def[k]; ok {
			sub[k] = v
		}
	}
	var b bytes.Buffer
	if err := canonjson.Append(&b, sub); err != nil {
		return nil, fmt.Errorf("tool definition: %w", err)
	}
	return b.Bytes(), nil
}
