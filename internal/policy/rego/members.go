package rego

import (
	"github.com/open-policy-agent/opa/v1/ast"
)

// readMembers walks the compiled modules for the top-level input members they can read: input.tool,
// input["response"], an import of input.user. A read of input whole (bound to a variable, passed to a
// function) or with a variable key (input[k]) can reach any member, and yields allMembers. The target
// of a `with` modifier is not a read (tests replace input that way); its value is. The walk errs on the
// side of reading: building a member no rule reads costs a little time, while leaving out one a rule
// does read would change the decision.
//
// Two things follow from it: HasResponsePhase (results are decoded only for policies that can read
// input.response), and the members the input document is built with on every decision.
func readMembers(modules map[string]*ast.Module) memberSet {
	var set memberSet
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		if set == allMembers {
			return true
		}
		switch n := x.(type) {
		case *ast.With:
			vis.Walk(n.Value)
			return true
		case ast.Ref:
			set |= refMembers(n)
			for _, t := range n[1:] {
				vis.Walk(t)
			}
			return true
		case ast.Var:
			// input outside a reference: passed whole to a function or bound to a variable.
			if n.Equal(ast.InputRootDocument.Value) {
				set = allMembers
			}
		}
		return false
	})
	for _, m := range modules {
		vis.Walk(m)
	}
	return set
}

// refMembers is the members a reference can read.
func refMembers(r ast.Ref) memberSet {
	if len(r) == 0 || !r[0].Equal(ast.InputRootDocument) {
		return 0
	}
	if len(r) == 1 {
		return allMembers
	}
	s, ok := r[1].Value.(ast.String)
	if !ok {
		return allMembers
	}
	return memberSet(memberByName[string(s)]) // an unknown member is undefined: nothing to build
}
