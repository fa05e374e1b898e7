package rego

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonscan"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// The member names of the input document (SPEC §5.2), built once and shared read-only.
var (
	kKind, kUser, kAgent, kTenant         = key("kind"), key("user"), key("agent"), key("tenant")
	kTool, kResource, kPrompt, kRequestIP = key("tool"), key("resource"), key("prompt"), key("request_ip")
	kHeaders, kSession, kThreat           = key("headers"), key("session"), key("threat")
	kResponse, kID, kRoles, kClaims       = key("response"), key("id"), key("roles"), key("claims")
	kName, kServer, kArgs, kURI           = key("name"), key("server"), key("args"), key("uri")
	kRunID, kWorkflowID, kScore           = key("run_id"), key("workflow_id"), key("score")
	kFindings, kRule, kCategory           = key("findings"), key("rule"), key("category")
	kWeight, kWhere                       = key("weight"), key("where")
)

func key(s string) *ast.Term { return ast.StringTerm(s) }

// member is one top-level member of the input document, as a bit in a memberSet.
type member uint16

const (
	mKind member = 1 << iota
	mUser
	mAgent
	mTenant
	mTool
	mResource
	mPrompt
	mRequestIP
	mHeaders
	mSession
	mThreat
	mResponse
)

// memberSet says which members a policy can read. allMembers is every member: a policy that reads
// input whole (or with a variable key) sees every member present, as SPEC §5.2 promises.
type memberSet member

const allMembers = memberSet(1<<12 - 1)

// memberByName maps a member's name to its bit.
var memberByName = map[string]member{
	"kind": mKind, "user": mUser, "agent": mAgent, "tenant": mTenant, "tool": mTool, "resource": mResource,
	"prompt": mPrompt, "request_ip": mRequestIP, "headers": mHeaders, "session": mSession, "threat": mThreat,
	"response": mResponse,
}

func (s memberSet) has(m member) bool { return s&memberSet(m) != 0 }

// inputValue builds the Rego input document of SPEC §5.2 for in, directly as an OPA value: no JSON
// encoding and decoding on the way. Every member is present, empty when unknown, except response,
// which exists only in the response phase: that is how a policy tells the phases apart.
func inputValue(in *policy.Input) (ast.Value, error) { return inputMembers(in, allMembers, nil) }

// input builds the document for one evaluation by d: the members its policy reads, its cache of
// callers.
func (d *Decider) input(in *policy.Input) (ast.Value, error) {
	return inputMembers(in, d.members, &d.principals)
}

// inputMembers builds only the members in want. A member the policy cannot read cannot change its
// decision, and leaving it out saves building it on every request; a policy that could observe which
// members exist (input whole, input[k]) gets allMembers.
//
// Members that are empty (no prompt, no resource, no headers, no threat findings) share one value
// built once: OPA values are immutable, so one value may sit in many inputs at once.
func inputMembers(in *policy.Input, want memberSet, cache *principalCache) (ast.Value, error) {
	items := make([][2]*ast.Term, 0, 12)
	if want.has(mKind) {
		items = append(items, ast.Item(kKind, str(in.Kind)))
	}
	if want.has(mUser) {
		t, err := cache.term(&in.User)
		if err != nil {
			return nil, fmt.Errorf("input.user: %w", err)
		}
		items = append(items, ast.Item(kUser, t))
	}
	if want.has(mAgent) {
		t, err := cache.term(&in.Agent)
		if err != nil {
			return nil, fmt.Errorf("input.agent: %w", err)
		}
		items = append(items, ast.Item(kAgent, t))
	}
	if want.has(mTenant) {
		items = append(items, ast.Item(kTenant, str(in.Tenant)))
	}
	if want.has(mTool) {
		args, err := objectOf(in.Tool.Args)
		if err != nil {
			return nil, fmt.Errorf("input.tool.args: %w", err)
		}
		items = append(items, ast.Item(kTool, ast.ObjectTerm(ast.Item(kName, str(in.Tool.Name)),
			ast.Item(kServer, str(in.Tool.Server)), ast.Item(kArgs, ast.NewTerm(args)))))
	}
	if want.has(mResource) {
		if in.Resource.URI == "" {
			items = append(items, ast.Item(kResource, emptyResource))
		} else {
			items = append(items, ast.Item(kResource, ast.ObjectTerm(ast.Item(kURI, str(in.Resource.URI)))))
		}
	}
	if want.has(mPrompt) && in.Prompt.Name == "" && len(in.Prompt.Args) == 0 {
		items = append(items, ast.Item(kPrompt, emptyPrompt))
	} else if want.has(mPrompt) {
		args, err := objectOf(in.Prompt.Args)
		if err != nil {
			return nil, fmt.Errorf("input.prompt.args: %w", err)
		}
		items = append(items, ast.Item(kPrompt, ast.ObjectTerm(ast.Item(kName, str(in.Prompt.Name)), ast.Item(kArgs, ast.NewTerm(args)))))
	}
	if want.has(mRequestIP) {
		items = append(items, ast.Item(kRequestIP, str(in.RequestIP)))
	}
	if want.has(mHeaders) {
		if len(in.Headers) == 0 {
			items = append(items, ast.Item(kHeaders, emptyObject))
		} else {
			items = append(items, ast.Item(kHeaders, ast.NewTerm(stringMap(in.Headers))))
		}
	}
	if want.has(mSession) {
		items = append(items, ast.Item(kSession, ast.ObjectTerm(ast.Item(kID, str(in.Session.ID)),
			ast.Item(kRunID, str(in.Session.RunID)), ast.Item(kWorkflowID, str(in.Session.WorkflowID)))))
	}
	if want.has(mThreat) && in.Threat.Score == 0 && len(in.Threat.Findings) == 0 {
		items = append(items, ast.Item(kThreat, noThreat))
	} else if want.has(mThreat) {
		v, err := threatValue(&in.Threat)
		if err != nil {
			return nil, fmt.Errorf("input.threat: %w", err)
		}
		items = append(items, ast.Item(kThreat, ast.NewTerm(v)))
	}
	if want.has(mResponse) && in.Phase == policy.PhaseResponse {
		v, err := toValue(in.Response)
		if err != nil {
			return nil, fmt.Errorf("input.response: %w", err)
		}
		items = append(items, ast.Item(kResponse, ast.NewTerm(v)))
	}
	return ast.NewObject(items...), nil
}

func str(s string) *ast.Term { return ast.InternedTerm(s) }

// The values of empty members, built once.
var (
	emptyObject   = ast.ObjectTerm()
	emptyResource = ast.ObjectTerm(ast.Item(kURI, str("")))
	emptyPrompt   = ast.ObjectTerm(ast.Item(kName, str("")), ast.Item(kArgs, ast.ObjectTerm()))
	noThreat      = ast.ObjectTerm(ast.Item(kScore, ast.IntNumberTerm(0)), ast.Item(kFindings, ast.ArrayTerm()))
)

// principalCache remembers the last two callers converted (a user and an agent). In gatehouse run
// every call has the same caller, so its conversion is done once. Only callers without claims are
// remembered: comparing roles is cheap, comparing arbitrary claims is not.
type principalCache struct {
	slots [2]atomic.Pointer[cachedPrincipal]
	next  atomic.Uint32
}

type cachedPrincipal struct {
	id    string
	roles []string
	term  *ast.Term
}

// term returns the caller's value, from the cache when the caller was seen last. A nil cache builds
// every time.
func (c *principalCache) term(p *policy.Principal) (*ast.Term, error) {
	if c == nil || len(p.Claims) > 0 {
		v, err := principal(p)
		if err != nil {
			return nil, err
		}
		return ast.NewTerm(v), nil
	}
	for i := range c.slots {
		if e := c.slots[i].Load(); e != nil && e.id == p.ID && slices.Equal(e.roles, p.Roles) {
			return e.term, nil
		}
	}
	v, err := principal(p)
	if err != nil {
		return nil, err
	}
	e := &cachedPrincipal{id: p.ID, roles: slices.Clone(p.Roles), term: ast.NewTerm(v)}
	c.slots[c.next.Add(1)%2].Store(e)
	return e.term, nil
}

func principal(p *policy.Principal) (ast.Value, error) {
	roles := make([]*ast.Term, len(p.Roles))
	for i, r := range p.Roles {
		roles[i] = str(r)
	}
	claims, err := objectOf(p.Claims)
	if err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	return ast.NewObject(ast.Item(kID, str(p.ID)), ast.Item(kRoles, ast.ArrayTerm(roles...)), ast.Item(kClaims, ast.NewTerm(claims))), nil
}

func threatValue(t *policy.Threat) (ast.Value, error) {
	score, err := floatValue(t.Score)
	if err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	findings := make([]*ast.Term, len(t.Findings))
	for i, f := range t.Findings {
		w, err := floatValue(f.Weight)
		if err != nil {
			return nil, fmt.Errorf("findings[%d].weight: %w", i, err)
		}
		findings[i] = ast.ObjectTerm(ast.Item(kRule, str(f.Rule)), ast.Item(kCategory, str(f.Category)),
			ast.Item(kWeight, ast.NewTerm(w)), ast.Item(kWhere, str(f.Where)))
	}
	return ast.NewObject(ast.Item(kScore, ast.NewTerm(score)), ast.Item(kFindings, ast.ArrayTerm(findings...))), nil
}

func stringMap(m map[string]string) ast.Object {
	obj := ast.NewObjectWithCapacity(len(m))
	for k, v := range m {
		obj.Insert(str(k), str(v))
	}
	return obj
}

// objectOf converts a JSON object, treating nil as the empty object.
func objectOf(m map[string]any) (ast.Object, error) {
	obj := ast.NewObjectWithCapacity(len(m))
	for k, v := range m {
		t, err := toTerm(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", strconv.Quote(k), err)
		}
		obj.Insert(str(k), t)
	}
	return obj, nil
}

// toTerm is toValue as a term: one OPA keeps already for null, booleans and small integers.
func toTerm(v any) (*ast.Term, error) {
	switch x := v.(type) {
	case nil:
		return ast.InternedNullTerm, nil
	case bool:
		return ast.InternedTerm(x), nil
	case json.Number:
		if t := ast.InternedIntNumberTermFromString(string(x)); t != nil {
			return t, nil
		}
	}
	val, err := toValue(v)
	if err != nil {
		return nil, err
	}
	return ast.NewTerm(val), nil
}

// toValue converts a JSON value as encoding/json decodes it with UseNumber (json.Number, string,
// bool, nil, []any, map[string]any) to an OPA value. A json.Number keeps its exact text. Go numbers
// are accepted for inputs built by hand; NaN and infinities are not JSON and are refused.
func toValue(v any) (ast.Value, error) {
	switch x := v.(type) {
	case nil:
		return ast.Null{}, nil
	case bool:
		return ast.Boolean(x), nil
	case string:
		return ast.String(x), nil
	case json.Number:
		if !isJSONNumber(string(x)) {
			return nil, fmt.Errorf("%q is not a JSON number", string(x))
		}
		// OPA refuses what its evaluation cannot afford (an exponent past 2^100000 makes big.Float
		// slow), as its own conversion of an input does.
		return ast.NumberChecked(string(x))
	case float64:
		return floatValue(x)
	case float32:
		return floatValue(float64(x))
	case int:
		return ast.Number(strconv.Itoa(x)), nil
	case int64:
		return ast.Number(strconv.FormatInt(x, 10)), nil
	case map[string]any:
		return objectOf(x)
	case []any:
		terms := make([]*ast.Term, len(x))
		for i, e := range x {
			t, err := toTerm(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			terms[i] = t
		}
		return ast.NewArray(terms...), nil
	case []string:
		terms := make([]*ast.Term, len(x))
		for i, e := range x {
			terms[i] = str(e)
		}
		return ast.NewArray(terms...), nil
	case map[string]string:
		return stringMap(x), nil
	}
	return nil, fmt.Errorf("a %T is not a JSON value", v)
}

func floatValue(f float64) (ast.Value, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%v is not a JSON number", f)
	}
	return ast.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
}

// isJSONNumber reports whether s is a number in JSON's grammar (RFC 8259 §6), so that a json.Number
// built by hand cannot smuggle arbitrary text into a comparison.
func isJSONNumber(s string) bool {
	end, ok := jsonscan.ScanNumber([]byte(s), 0)
	return ok && end == len(s)
}

// fromValue converts an OPA value from a decision back to a JSON value as encoding/json would decode
// it with UseNumber: numbers stay json.Number with the exact text the policy produced. A set becomes
// an array in OPA's sorted order (as OPA's own JSON conversion does); an object key that is not a
// string cannot be written as JSON and is an error.
func fromValue(v ast.Value) (any, error) {
	switch x := v.(type) {
	case ast.Null:
		return nil, nil
	case ast.Boolean:
		return bool(x), nil
	case ast.String:
		return string(x), nil
	case ast.Number:
		return json.Number(x), nil
	case *ast.Array:
		out := make([]any, x.Len())
		for i := range x.Len() {
			e, err := fromValue(x.Elem(i).Value)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = e
		}
		return out, nil
	case ast.Set:
		return fromValue(x.Sorted())
	case ast.Object:
		out := make(map[string]any, x.Len())
		keys := x.Keys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].Value.Compare(keys[j].Value) < 0 })
		for _, k := range keys {
			s, ok := k.Value.(ast.String)
			if !ok {
				return nil, fmt.Errorf("object key %v is not a string", k)
			}
			e, err := fromValue(x.Get(k).Value)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", strconv.Quote(string(s)), err)
			}
			out[string(s)] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("a %s is not a JSON value", ast.ValueName(v))
}
