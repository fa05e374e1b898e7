package rules

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

var topFields = []string{"name", "version", "default_effect", "rules"}

// Load parses and validates a policy file (YAML, or JSON, which the YAML parser reads too). filename is
// used only in messages. On any error Load returns a *LoadError holding every problem found, each
// located; warnings alone do not fail the load and are available from Warnings.
func Load(filename string, data []byte) (*Policy, error) {
	ps := &problems{file: filename}
	p := ps.load(data)
	if p == nil || ps.failed() {
		return nil, &LoadError{Problems: ps.sorted()}
	}
	p.warnings = ps.sorted()
	return p, nil
}

func (ps *problems) load(data []byte) *Policy {
	if len(data) > MaxFileBytes {
		ps.errorf(nil, "policy file is %d bytes; the limit is %d (4 MiB)", len(data), MaxFileBytes)
		return nil
	}
	root := ps.parse(data)
	if root == nil {
		return nil
	}
	sum := sha256.Sum256(data)
	p := &Policy{defaultEffect: policy.EffectDeny}
	hash := hex.EncodeToString(sum[:])[:12]
	f, ok := ps.mapping(root, "policy", topFields)
	if !ok {
		return nil
	}
	if m, ok := f.get("name"); ok {
		p.name, _ = ps.str(m.val, "name")
	}
	if m, ok := f.get("version"); ok {
		p.version, _ = ps.str(m.val, "version")
	}
	if m, ok := f.get("default_effect"); ok {
		switch s, ok := ps.strictStr(m.val, "default_effect"); {
		case !ok:
		case s == "deny":
		case s == "allow":
			p.defaultEffect = policy.EffectAllow
			ps.warnf(m.val, "default_effect allow lets through every request no rule matches; keep it deny and allow explicitly")
		default:
			ps.errorf(m.val, "default_effect %q is not deny or allow", s)
		}
	}
	p.revision = p.version + "@" + hash
	m, ok := f.get("rules")
	if !ok {
		ps.errorf(root, "policy has no rules (write rules: [] for a policy that only applies default_effect)")
		return p
	}
	p.rules = ps.loadRules(m)
	p.index()
	return p
}

// parse reads exactly one YAML document and returns its root node.
func (ps *problems) parse(data []byte) (root *yaml.Node) {
	defer func() {
		// The YAML parser is third-party code at a trust boundary; a bug in it must refuse the
		// file, not take the gateway down during a hot reload.
		if r := recover(); r != nil {
			ps.errorf(nil, "not a valid YAML or JSON document: parser failed: %v", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			ps.errorf(nil, "empty policy file; want a mapping with name, version, default_effect and rules")
		} else {
			ps.yamlError(err, data)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		ps.yamlError(err, data)
		return nil
	default:
		ps.errorf(&next, "a policy file holds one YAML document; found another")
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		ps.errorf(nil, "empty policy file; want a mapping with name, version, default_effect and rules")
		return nil
	}
	root = doc.Content[0]
	if root.Kind != yaml.MappingNode {
		ps.errorf(root, "a policy is a mapping with name, version, default_effect and rules; got %s", describe(root))
		return nil
	}
	return root
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a parser error into one located problem.
//
// go.yaml.in/yaml/v3 often reports the line where the enclosing block starts rather than the line at
// fault (an indentation slip on line 40 of a rules list is reported at the list's first line). So the
// line is refined: the first prefix of the file, in whole lines, that fails with the same message ends
// at the line that introduced the error.
func (ps *problems) yamlError(err error, data []byte) {
	msg := err.Error()
	line := 1
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n >= 1 {
			line = n
		}
		msg = m[2]
	} else if len(msg) > 6 && msg[:6] == "yaml: " {
		msg = msg[6:]
	}
	if l := faultLine(data, msg); l > line {
		line = l
	}
	ps.add(SeverityError, line, 1, "not a valid YAML or JSON document: "+msg)
}

// faultLine binary-searches for the shortest prefix of whole lines whose parse fails with msg, and
// returns its last line, or 0.
func faultLine(data []byte, msg string) int {
	var ends []int // ends[i] is the offset just past line i+1
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	fails := func(k int) bool {
		err := parseErr(data[:ends[k-1]])
		if err == nil {
			return false
		}
		m := err.Error()
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			m = sm[2]
		}
		return strings.TrimPrefix(m, "yaml: ") == msg
	}
	lo, hi := 1, len(ends)
	if !fails(hi) {
		return 0
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// parseErr parses every document in data and returns the first error.
func parseErr(data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parser failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// loadRules compiles the rules list, then checks ids and reachability across rules.
func (ps *problems) loadRules(m member) []*rule {
	n := m.val
	if !ps.noAlias(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		ps.errorf(n, "rules must be a list, got %s", describe(n))
		return nil
	}
	if len(n.Content) > MaxRules {
		ps.errorf(m.key, "%d rules; the limit is %d", len(n.Content), MaxRules)
		return nil
	}
	seen := map[string]int{}
	var good []*rule
	for i, rn := range n.Content {
		r := ps.loadRule(i, rn)
		if id, node := idNode(rn); node != nil {
			if first, dup := seen[id]; dup {
				ps.errorf(node, "duplicate id %q (first at line %d)", id, first)
				r = nil
			} else {
				seen[id] = node.Line
			}
		}
		if r != nil {
			good = append(good, r)
		}
	}
	ps.label = ""
	ps.unreachable(good)
	ps.label = ""
	return good
}

// idNode returns a rule's id and the node holding it, if the id is a scalar.
func idNode(n *yaml.Node) (string, *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		return "", nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "id" && v.Kind == yaml.ScalarNode {
			return v.Value, v
		}
	}
	return "", nil
}

// describeRule names a rule in cross-references: rule "x" (line 12).
func describeRule(r *rule) string {
	return fmt.Sprintf("rule %q (line %d)", r.id, r.line)
}
