package rules

import (
	"fmt"
	"net/textproto"
	"strings"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// rootKind says where a field path starts: the call's arguments or one of the context roots.
type rootKind uint8

const (
	rootArgs rootKind = iota
	rootAgentID
	rootAgentRoles
	rootAgentClaims
	rootUserID
	rootUserRoles
	rootUserClaims
	rootTenant
	rootThreatScore
	rootRequestIP
	rootSessionID
	rootSessionRunID
	rootSessionWorkflowID
	rootToolName
	rootToolServer
	rootResourceURI
	rootPromptName
	rootMethod
	rootHeader
	rootResponse
)

// contextRoots are the first segments that name the context rather than an argument. An argument with
// one of these names is written args.<name>.
var contextRoots = []string{"agent", "user", "tenant", "threat", "request", "session", "tool", "resource", "prompt", "kind", "headers", "response"}

// closedRoots lists the subfields of roots that have a fixed shape.
var closedRoots = map[string]map[string]rootKind{
	"agent":    {"id": rootAgentID, "roles": rootAgentRoles, "claims": rootAgentClaims},
	"user":     {"id": rootUserID, "roles": rootUserRoles, "claims": rootUserClaims},
	"threat":   {"score": rootThreatScore},
	"request":  {"ip": rootRequestIP},
	"session":  {"id": rootSessionID, "run_id": rootSessionRunID, "workflow_id": rootSessionWorkflowID},
	"tool":     {"name": rootToolName, "server": rootToolServer},
	"resource": {"uri": rootResourceURI},
	"prompt":   {"name": rootPromptName},
}

var closedRootHelp = map[string]string{
	"agent":    "id, roles and claims.<name>",
	"user":     "id, roles and claims.<name>",
	"threat":   "score",
	"request":  "ip",
	"session":  "id, run_id and workflow_id",
	"tool":     "name and server",
	"resource": "uri",
	"prompt":   "name",
}

// field is a compiled field path of a condition.
type field struct {
	text string
	root rootKind
	// segs is the rest of the path below the root, for arguments, claims and the response.
	segs []seg
	// header names, for headers.<name>: as written, canonical and lower case.
	header, headerCanon, headerLower string
}

// compileField resolves a path to the context or the arguments. phase decides whether response.* may
// be used: a response field in a request rule could never hold, so it is an error rather than a rule
// that silently never matches.
func compileField(text string, phase policy.Phase) (*field, error) {
	segs, err := parsePath(text)
	if err != nil {
		return nil, err
	}
	f := &field{text: text}
	first := segs[0]
	if first.quoted {
		f.root, f.segs = rootArgs, segs
		return f, nil
	}
	rest := segs[1:]
	switch first.key {
	case "args":
		f.root, f.segs = rootArgs, rest
		return f, nil
	case "tenant", "kind":
		if len(rest) > 0 {
			return nil, fmt.Errorf("%s has no subfields (an argument named %s is args.%s)", first.key, first.key, text)
		}
		f.root = rootTenant
		if first.key == "kind" {
			f.root = rootMethod
		}
		return f, nil
	case "headers":
		if len(rest) != 1 {
			return nil, fmt.Errorf(`headers needs exactly one header name: headers.x-request-id or headers["x.y"]`)
		}
		f.root, f.header = rootHeader, rest[0].key
		f.headerCanon = textproto.CanonicalMIMEHeaderKey(f.header)
		f.headerLower = strings.ToLower(f.header)
		return f, nil
	case "response":
		if phase != policy.PhaseResponse {
			return nil, fmt.Errorf("response fields exist only in the response phase; add phase: response, or write args.response for an argument")
		}
		f.root, f.segs = rootResponse, rest
		return f, nil
	}
	subs, closed := closedRoots[first.key]
	if !closed {
		f.root, f.segs = rootArgs, segs
		return f, nil
	}
	if len(rest) == 0 {
		return nil, fmt.Errorf("%s needs a subfield: %s (an argument named %s is args.%s)", first.key, closedRootHelp[first.key], first.key, first.key)
	}
	root, ok := subs[rest[0].key]
	if !ok {
		hint := ""
		if (first.key == "tool" || first.key == "prompt") && rest[0].key == "args" {
			hint = "; arguments are written without a prefix or as args.<name>"
		}
		return nil, fmt.Errorf("unknown field %s.%s: %s has %s%s", first.key, rest[0].key, first.key, closedRootHelp[first.key], hint)
	}
	f.root = root
	if root == rootAgentClaims || root == rootUserClaims {
		f.segs = rest[1:]
		return f, nil
	}
	if len(rest) > 1 {
		return nil, fmt.Errorf("%s.%s has no subfields", first.key, rest[0].key)
	}
	return f, nil
}

// isContextRoot reports whether a first segment names the context.
func isContextRoot(s string) bool {
	return contains(contextRoots, s)
}

// unknownToVisible reports whether the field is unknown when deciding visibility: arguments, the
// response and the threat score belong to a call that has not been made.
func (f *field) unknownToVisible() bool {
	return f.root == rootArgs || f.root == rootResponse || f.root == rootThreatScore
}

// valKind says what get found.
type valKind uint8

const (
	vMissing valKind = iota
	vString          // s
	vNumber          // f, a float64 from the context
	vStrings         // ss, a list of role names
	vAny             // a, a JSON value
)

// val is a looked-up field value. It is returned by value and never boxed, so that reading the context
// does not allocate.
type val struct {
	kind valKind
	s    string
	f    float64
	ss   []string
	a    any
}

// get reads the field from the input. Context strings that are empty (unknown to the caller) and
// empty role lists read as missing.
func (f *field) get(in *policy.Input) val {
	switch f.root {
	case rootArgs:
		return anyVal(walkRoot(in.Args(), f.segs))
	case rootResponse:
		if in.Response == nil {
			return val{}
		}
		return anyVal(walk(in.Response, f.segs))
	case rootAgentClaims:
		return claimVal(in.Agent.Claims, f.segs)
	case rootUserClaims:
		return claimVal(in.User.Claims, f.segs)
	case rootAgentRoles:
		return rolesVal(in.Agent.Roles)
	case rootUserRoles:
		return rolesVal(in.User.Roles)
	case rootThreatScore:
		return val{kind: vNumber, f: in.Threat.Score}
	case rootHeader:
		return f.headerVal(in.Headers)
	case rootAgentID:
		return strVal(in.Agent.ID)
	case rootUserID:
		return strVal(in.User.ID)
	case rootTenant:
		return strVal(in.Tenant)
	case rootRequestIP:
		return strVal(in.RequestIP)
	case rootSessionID:
		return strVal(in.Session.ID)
	case rootSessionRunID:
		return strVal(in.Session.RunID)
	case rootSessionWorkflowID:
		return strVal(in.Session.WorkflowID)
	case rootToolName:
		return strVal(in.Tool.Name)
	case rootToolServer:
		return strVal(in.Tool.Server)
	case rootResourceURI:
		return strVal(in.Resource.URI)
	case rootPromptName:
		return strVal(in.Prompt.Name)
	case rootMethod:
		return strVal(in.Kind)
	}
	return val{}
}

// walkRoot walks from an arguments map; a nil map has no fields at all.
func walkRoot(m map[string]any, segs []seg) (any, bool) {
	if m == nil {
		return nil, false
	}
	if len(segs) == 0 {
		return m, true
	}
	return walk(m, segs)
}

func claimVal(m map[string]any, segs []seg) val {
	return anyVal(walkRoot(m, segs))
}

func anyVal(v any, ok bool) val {
	if !ok {
		return val{}
	}
	return val{kind: vAny, a: v}
}

func strVal(s string) val {
	if s == "" {
		return val{}
	}
	return val{kind: vString, s: s}
}

func rolesVal(r []string) val {
	if len(r) == 0 {
		return val{}
	}
	return val{kind: vStrings, ss: r}
}

// headerVal looks a header up case-insensitively, as HTTP header names are.
func (f *field) headerVal(h map[string]string) val {
	if h == nil {
		return val{}
	}
	for _, k := range [...]string{f.header, f.headerCanon, f.headerLower} {
		if v, ok := h[k]; ok {
			return val{kind: vString, s: v}
		}
	}
	for k, v := range h {
		if strings.EqualFold(k, f.header) {
			return val{kind: vString, s: v}
		}
	}
	return val{}
}
