package pin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
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

// Canonical returns the canonical JSON of the pinned members of def: objects with their members
// sorted by name, no insignificant white space, strings escaped minimally (no HTML escaping), and
// numbers written as the shortest form of their float64 value (so 1, 1.0 and 1e0 are the same
// number), which makes the result independent of how the definition was formatted and decoded.
// Absent members are left out; null is kept.
func Canonical(def map[string]any) ([]byte, error) {
	sub := make(map[string]any, len(PinnedMembers))
	for _, k := range PinnedMembers {
		if v, ok := def[k]; ok {
			sub[k] = v
		}
	}
	var b bytes.Buffer
	if err := canonical(&b, sub, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func canonical(b *bytes.Buffer, v any, depth int) error {
	if depth > 128 {
		return fmt.Errorf("definition nested more than 128 deep")
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case string:
		writeString(b, x)
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return fmt.Errorf("number %q: %w", x, err)
		}
		return writeNumber(b, f)
	case float64:
		return writeNumber(b, x)
	case int:
		return writeNumber(b, float64(x))
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			if err := canonical(b, x[k], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := canonical(b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	default:
		return fmt.Errorf("unexpected %T in a tool definition", v)
	}
	return nil
}

func writeNumber(b *bytes.Buffer, f float64) error {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Errorf("number %v is not JSON", f)
	}
	b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // the newline Encode adds
}
