package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"
)

// FilterList removes from a list result the items keep rejects. keep receives the item's name (its
// l.Key member). It returns the result unchanged (the same slice) when nothing is removed, and
// otherwise a new result in which only the list member's bytes changed.
func FilterList(result []byte, l Listing, keep func(name string) bool) ([]byte, int, error) {
	start, end, err := memberSpan(result, l.Member)
	if err != nil || start < 0 {
		return result, 0, err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(result[start:end], &items); err != nil {
		return nil, 0, fmt.Errorf("result.%s must be an array: %w", l.Member, err)
	}
	kept := make([]json.RawMessage, 0, len(items))
	for _, item := range items {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(item, &fields); err != nil {
			return nil, 0, fmt.Errorf("result.%s items must be objects", l.Member)
		}
		name, err := stringMember(fields, l.Key)
		if err != nil {
			return nil, 0, err
		}
		if keep(name) {
			kept = append(kept, item)
		}
	}
	removed := len(items) - len(kept)
	if removed == 0 {
		return result, 0, nil
	}
	out := make([]byte, 0, len(result))
	out = append(out, result[:start]...)
	out = append(out, '[')
	for i, item := range kept {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, item...)
	}
	out = append(out, ']')
	return append(out, result[end:]...), removed, nil
}

// ReplaceMember returns obj with the value of its top-level member name replaced by value, or with the
// member added when absent. Every other byte of obj is kept.
func ReplaceMember(obj []byte, name string, value []byte) ([]byte, error) {
	start, end, err := memberSpan(obj, name)
	if err != nil {
		return nil, err
	}
	if start < 0 {
		i := bytes.LastIndexByte(obj, '}')
		if i < 0 {
			return nil, fmt.Errorf("not an object")
		}
		sep := ","
		if len(bytes.TrimSpace(obj[bytes.IndexByte(obj, '{')+1:i])) == 0 {
			sep = ""
		}
		out := append([]byte(nil), obj[:i]...)
		out = append(out, sep+`"`+name+`":`...)
		out = append(out, value...)
		return append(out, obj[i:]...), nil
	}
	out := make([]byte, 0, len(obj)-(end-start)+len(value))
	out = append(out, obj[:start]...)
	out = append(out, value...)
	return append(out, obj[end:]...), nil
}

// SetMeta returns params with the member key of its _meta set to value (JSON), adding _meta, or
// params itself (empty or null), when absent; a _meta that is null becomes an object. Every other
// byte is kept. params must be valid JSON; an array or other non-object is an error.
func SetMeta(params []byte, key string, value []byte) ([]byte, error) {
	if p := bytes.TrimSpace(params); len(p) == 0 || string(p) == "null" {
		out := append([]byte(`{"_meta":{"`), key...)
		out = append(out, `":`...)
		out = append(out, value...)
		return append(out, `}}`...), nil
	}
	start, end, err := memberSpan(params, "_meta")
	if err != nil {
		return nil, err
	}
	meta := []byte(`{}`)
	if start >= 0 && params[start] == '{' {
		meta = params[start:end]
	}
	if meta, err = ReplaceMember(meta, key, value); err != nil {
		return nil, err
	}
	return ReplaceMember(params, "_meta", meta)
}

// memberSpan finds the byte span of a top-level member's value; start is -1 when absent.
func memberSpan(obj []byte, name string) (start, end int, err error) {
	start, end = -1, -1
	err = members(obj, func(key string, val jsontext.Value) error {
		if key != name {
			return nil
		}
		// members hands out views into obj, so the capacity difference is val's offset.
		start = cap(obj) - cap(val)
		end = start + len(val)
		return errStop
	})
	if err == errStop {
		err = nil
	}
	return start, end, err
}

// errStop ends a members walk early.
var errStop = errors.New("stop")
