package redact

import (
	"encoding/json"
	"sort"
	"strconv"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Ops returns the rewrite operations that redact v the way Value would, as paths into v prefixed
// with base: a policy.OpRedact for every member whose name is sensitive (its value becomes
// [REDACTED]), and a policy.OpSet with the redacted text for every string (or card number) in which
// a pattern matched. A member whose name itself contains a secret is removed and set again under
// its redacted name. The operations are in a deterministic order (members sorted by name, arrays in
// order) and apply with policy.Apply, so the gateway can redact a forwarded request or a returned
// result through the same rewrite path as a rule's redact effect. v is not modified; nil means
// there is nothing to redact.
func Ops(v any, base []string) []policy.Op {
	var ops []policy.Op
	path := append([]string(nil), base...)
	collectOps(v, path, 0, &ops)
	return ops
}

func collectOps(v any, path []string, depth int, ops *[]policy.Op) {
	at := func() []string { return append([]string(nil), path...) }
	if depth > maxDepth {
		if len(path) > 0 {
			*ops = append(*ops, policy.Op{Kind: policy.OpRedact, Path: at()})
		}
		return
	}
	switch x := v.(type) {
	case string:
		if r := Text(x); r != x {
			*ops = append(*ops, policy.Op{Kind: policy.OpSet, Path: at(), Value: r})
		}
	case json.Number:
		if isCard(string(x)) {
			*ops = append(*ops, policy.Op{Kind: policy.OpSet, Path: at(), Value: RedactedCard})
		}
	case float64:
		if isCard(strconv.FormatFloat(x, 'f', -1, 64)) {
			*ops = append(*ops, policy.Op{Kind: policy.OpSet, Path: at(), Value: RedactedCard})
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			e := x[k]
			if nk := Text(k); nk != k {
				if _, taken := x[nk]; !taken {
					*ops = append(*ops,
						policy.Op{Kind: policy.OpRemove, Path: append(at(), k)},
						policy.Op{Kind: policy.OpSet, Path: append(at(), nk), Value: redactedMember(k, e)})
					continue
				}
			}
			if SensitiveKey(k) && !literal(e) {
				if e != Redacted {
					*ops = append(*ops, policy.Op{Kind: policy.OpRedact, Path: append(at(), k)})
				}
				continue
			}
			collectOps(e, append(path, k), depth+1, ops)
		}
	case []any:
		for i, e := range x {
			collectOps(e, append(path, strconv.Itoa(i)), depth+1, ops)
		}
	}
}

// redactedMember is what the member k: e holds once redacted.
func redactedMember(k string, e any) any {
	if SensitiveKey(k) && !literal(e) {
		return Redacted
	}
	return Value(e)
}
