package pack

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Pack is a loaded workflow policy pack.
type Pack struct {
	root     *Object
	sha256   string
	policies map[string]*Object // by workflow_id
	ids      []string           // workflow ids in file order
	globs    map[string]func(string) bool
}

// SHA256 is the hex SHA-256 of the pack file's bytes: the pin of SPEC §6.3 and the audit records'
// pack_sha.
func (p *Pack) SHA256() string { return p.sha256 }

// ID is the pack's policy_id.
func (p *Pack) ID() string { return strOr(p.root.get("policy_id"), "") }

// Workflows lists the declared workflow ids in file order.
func (p *Pack) Workflows() []string { return slices.Clone(p.ids) }

// Workflow returns a workflow's policy, nil when the pack does not declare it.
func (p *Pack) Workflow(id string) *Object { return p.policies[id] }

// Load reads a policy pack and checks that every field the evaluator reads has a shape it can read.
// The published evaluator checks nothing in advance and raises, on every call, where a field has
// the wrong type; gatehouse refuses such a pack when it loads, naming each problem by its JSON path.
// It also refuses what the evaluator would silently get wrong: two workflows with one id (the last
// would win), a tool scope whose decision is not one of the six, and a glob with a reversed range.
func Load(data []byte) (*Pack, error) {
	doc, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	root, ok := doc.(*Object)
	if !ok {
		return nil, errors.New("the root must be an object")
	}
	sum := sha256.Sum256(data)
	p := &Pack{root: root, sha256: hex.EncodeToString(sum[:]), policies: map[string]*Object{}, globs: map[string]func(string) bool{}}
	c := &checker{}
	c.objectIfPresent(root, "decision_contract", "decision_contract")
	if g := c.objectOrFalsy(root.get("global_defaults"), "global_defaults"); g != nil {
		c.listIfPresent(g, "manual_review_required_for", "global_defaults.manual_review_required_for")
	}
	c.objectOrFalsy(root.get("source_manifest"), "source_manifest")
	policies, ok := root.get("workflow_policies").([]any)
	if !ok {
		c.add("workflow_policies", "must be a list of workflow policies")
	}
	for i, item := range policies {
		at := fmt.Sprintf("workflow_policies[%d]", i)
		policy, ok := item.(*Object)
		if !ok {
			c.add(at, "must be an object")
			continue
		}
		id, ok := policy.get("workflow_id").(string)
		switch {
		case !ok || id == "":
			c.add(at+".workflow_id", "must be a non-empty string")
			continue
		case p.policies[id] != nil:
			c.add(at+".workflow_id", fmt.Sprintf("%q is declared twice", id))
			continue
		}
		p.policies[id] = policy
		p.ids = append(p.ids, id)
		p.checkWorkflow(c, policy, at)
	}
	if len(c.problems) > 0 {
		return nil, c
	}
	return p, nil
}

func (p *Pack) checkWorkflow(c *checker, policy *Object, at string) {
	if rc := c.objectOrFalsy(policy.get("runtime_controls"), at+".runtime_controls"); rc != nil {
		c.listIfPresent(rc, "kill_signals", at+".runtime_controls.kill_signals")
	}
	c.listIfPresent(policy, "gate_contract", at+".gate_contract")
	if id := c.objectOrFalsy(policy.get("identity"), at+".identity"); id != nil {
		c.listIfPresent(id, "allowed_agents", at+".identity.allowed_agents")
	}
	if ta := c.objectOrFalsy(policy.get("tool_access"), at+".tool_access"); ta != nil {
		scopes := c.listOrFalsy(ta.get("allowed_mcp_scopes"), at+".tool_access.allowed_mcp_scopes")
		for i, s := range scopes {
			if scope, ok := s.(*Object); ok && !slices.Contains(decisions, str(scope.get("decision"))) {
				c.add(fmt.Sprintf("%s.tool_access.allowed_mcp_scopes[%d].decision", at, i),
					fmt.Sprintf("%s is not one of %s", repr(scope.get("decision")), strings.Join(decisions, ", ")))
			}
		}
	}
	if cs := c.objectOrFalsy(policy.get("change_scope"), at+".change_scope"); cs != nil {
		for _, name := range []string{"max_changed_files", "max_diff_lines"} {
			if v := cs.get(name); truthy(v) {
				if n, ok := v.(Number); !ok || !n.isInt() {
					c.add(at+".change_scope."+name, "must be an integer")
				}
			}
		}
		for _, name := range []string{"allowed_paths", "forbidden_paths"} {
			for i, g := range c.listOrFalsy(cs.get(name), at+".change_scope."+name) {
				if err := p.addGlob(str(g)); err != nil {
					c.add(fmt.Sprintf("%s.change_scope.%s[%d]", at, name, i), fmt.Sprintf("glob %s: %v", reprString(str(g)), err))
				}
			}
		}
	}
	c.objectIfPresent(policy, "dispatch", at+".dispatch")
}

// addGlob compiles the patterns matches tries for a declared glob.
func (p *Pack) addGlob(glob string) error {
	pattern := normalizePath(glob)
	if pattern == "" {
		return nil
	}
	for _, g := range []string{pattern, strings.TrimPrefix(pattern, "**/")} {
		if p.globs[g] != nil {
			continue
		}
		m, err := globMatcher(g)
		if err != nil {
			return err
		}
		p.globs[g] = m
	}
	return nil
}

// checker collects the problems of a pack.
type checker struct{ problems []string }

func (c *checker) add(at, msg string) { c.problems = append(c.problems, at+": "+msg) }

func (c *checker) Error() string {
	return fmt.Sprintf("%d problem(s):\n  %s", len(c.problems), strings.Join(c.problems, "\n  "))
}

// objectOrFalsy checks a value read as (v or {}): an object, or a value Python finds false.
func (c *checker) objectOrFalsy(v any, at string) *Object {
	if o, ok := v.(*Object); ok {
		return o
	}
	if truthy(v) {
		c.add(at, "must be an object")
	}
	return nil
}

// listOrFalsy checks a value read as (v or []).
func (c *checker) listOrFalsy(v any, at string) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if truthy(v) {
		c.add(at, "must be a list")
	}
	return nil
}

// objectIfPresent checks a member read as o.get(name, {}): absent, or an object.
func (c *checker) objectIfPresent(o *Object, name, at string) {
	if v, ok := o.Get(name); ok {
		if _, ok := v.(*Object); !ok {
			c.add(at, "must be an object")
		}
	}
}

// listIfPresent checks a member read as o.get(name, []): absent, or a list.
func (c *checker) listIfPresent(o *Object, name, at string) {
	if v, ok := o.Get(name); ok {
		if _, ok := v.([]any); !ok {
			c.add(at, "must be a list")
		}
	}
}
