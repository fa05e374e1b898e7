package rego

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// refused lists the built-in functions a gatehouse policy may not call: every built-in OPA marks
// non-deterministic (it reaches the network, the clock, randomness or the runtime: http.send,
// net.lookup_ip_addr, time.now_ns, uuid.rfc4122, opa.runtime, io.jwt.encode_sign, json.match_schema
// with remote references, ...). A decision must be a function of its input alone (STYLE principle 4),
// and must never wait on I/O while a request waits on it.
var refused = func() map[string]struct{} {
	out := map[string]struct{}{}
	for _, b := range ast.CapabilitiesForThisVersion().Builtins {
		if b.Nondeterministic {
			out[b.Name] = struct{}{}
		}
	}
	// Never allowed, whatever a future OPA decides to mark.
	for _, name := range []string{"http.send", "net.lookup_ip_addr", "opa.runtime", "time.now_ns"} {
		out[name] = struct{}{}
	}
	return out
}()

// RefusedBuiltins returns the names of the built-in functions a bundle may not call, sorted.
func RefusedBuiltins() []string {
	out := make([]string, 0, len(refused))
	for name := range refused {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// NewCompiler returns the OPA compiler gatehouse compiles policies with: OPA's own, with the refused
// built-ins (RefusedBuiltins) made unsafe so that a module calling one fails to compile, located at the
// call. `gatehouse test` uses it too, so a policy that passes its tests also loads.
func NewCompiler() *ast.Compiler {
	return ast.NewCompiler().WithUnsafeBuiltins(refused).WithEnablePrintStatements(false)
}

// Problem is one thing wrong with a bundle, located in the file it comes from when that is known.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// String formats the problem as file:line: message.
func (p Problem) String() string {
	switch {
	case p.File != "" && p.Line > 0:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
	case p.File != "":
		return p.File + ": " + p.Message
	}
	return p.Message
}

// CompileError lists every problem that kept a bundle from compiling.
type CompileError struct{ Problems []Problem }

// Error lists the problems, one per line.
func (e *CompileError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// unsafePrefix is how OPA's compiler words a call to an unsafe built-in.
const unsafePrefix = "unsafe built-in function calls in expression: "

// Located turns an error from reading or compiling a bundle into located problems. file maps a
// module's path inside the bundle (as OPA reports it, e.g. /gatehouse/main.rego) to the name a person
// should see (e.g. policies/gatehouse/main.rego); nil keeps the bundle path. OPA parse and compile
// errors keep their line; any other error becomes one unlocated problem.
func Located(err error, file func(path string) string) []Problem {
	if err == nil {
		return nil
	}
	if file == nil {
		file = func(p string) string { return p }
	}
	var ce *CompileError
	if errors.As(err, &ce) {
		out := make([]Problem, len(ce.Problems))
		for i, p := range ce.Problems {
			if p.File != "" {
				p.File = file(p.File)
			}
			out[i] = p
		}
		return out
	}
	var errs ast.Errors
	if errors.As(err, &errs) {
		return fromASTErrors(errs, file)
	}
	var one *ast.Error
	if errors.As(err, &one) {
		return fromASTErrors(ast.Errors{one}, file)
	}
	return []Problem{{Message: err.Error()}}
}

func fromASTErrors(errs ast.Errors, file func(string) string) []Problem {
	out := make([]Problem, 0, len(errs))
	for _, e := range errs {
		p := Problem{Message: e.Message}
		if e.Location != nil {
			p.File, p.Line = file(e.Location.File), e.Location.Row
		}
		if names, ok := strings.CutPrefix(e.Message, unsafePrefix); ok {
			p.Message = names + " is not allowed: gatehouse decisions do no I/O and read no clock, randomness " +
				"or environment (pass what the policy needs in the input or the bundle's data)"
		}
		out = append(out, p)
	}
	slices.SortStableFunc(out, func(a, b Problem) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	return out
}
