package plan

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// ErrUnsupported wraps the reason a plan cannot be run by a Program. The caller evaluates such a
// policy with OPA's own evaluator instead.
var ErrUnsupported = errors.New("plan not supported")

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// Program is a plan turned into instructions with every name resolved: functions by pointer,
// built-ins by their implementation, string constants as terms. It is immutable and safe for
// concurrent use.
type Program struct {
	entry  *function // the query's plan, run as a function without parameters
	funcs  []*function
	data   *ast.Term
	maxArg int // the most arguments any built-in call passes
	// clocked: some built-in called reads the evaluation's time (EvalOptions.Time).
	clocked bool
}

// Clocked reports whether the program calls a built-in that reads the time (EvalOptions.Time).
func (p *Program) Clocked() bool { return p.clocked }

// clocked are the built-ins that read the evaluation's time from their context.
var clocked = map[string]bool{"time.now_ns": true, "io.jwt.decode_verify": true, "http.send": true}

// function is a planned function (a rule, or a user function), or the query's plan.
type function struct {
	name   string
	index  int // position in Program.funcs, for memoization
	params []int32
	ret    int32
	size   int // locals used: one more than the highest local named
	blocks []*block
	// memo: a function of input and data alone (a rule without arguments) computes one value per
	// evaluation, kept after the first call (OPA's planner relies on it, as its Wasm target does).
	memo bool

	// What the function's value depends on, for folding: whether it reads the input (other than
	// passing it on to deps), calls a non-deterministic built-in, and the functions it passes the
	// input to.
	readsInput, nondeterministic bool
	deps                         []*function
	// folded: the function is a rule of data alone, evaluated once by Compile; constant is its value
	// (nil: undefined). A constant is shared by every evaluation and never changed.
	folded   bool
	constant *ast.Term
}

// dynamic reports whether fn's value can differ between two evaluations of the program.
func (fn *function) dynamic() bool { return fn.readsInput || fn.nondeterministic }

type block struct{ code []instr }

// opcode says what an instruction does. Each comes from one kind of IR statement.
type opcode uint8

const (
	opNop opcode = iota
	opAssign
	opAssignOnce
	opAssignInt
	opReset
	opBlocks
	opBreak
	opCall
	opBuiltin
	opDot
	opLen
	opScan
	opNot
	opWith
	opEqual
	opNotEqual
	opIsArray
	opIsObject
	opIsSet
	opIsDefined
	opIsUndefined
	opMakeNull
	opMakeConst
	opMakeArray
	opMakeObject
	opMakeSet
	opArrayAppend
	opObjectInsert
	opObjectInsertOnce
	opObjectMerge
	opSetAdd
	opReturn
	opResult
)

// operand is a local or, when term is set, a constant.
type operand struct {
	local int32
	term  *ast.Term
}

// instr is one statement of the plan, resolved. Which fields matter depends on op.
type instr struct {
	op     opcode
	a, b   operand
	c      operand // a second source (object insert: the value)
	target int32   // a local written, or a local read where the statement names one
	n      int32   // break depth, array capacity
	body   *block
	blocks []*block
	fn     *function
	bi     *builtin
	args   []operand
	path   []*ast.Term // with: the path below target
	loc    *ir.Location
}

// builtin is one of OPA's built-in functions, called with OPA's own implementation.
type builtin struct {
	name     string
	f        topdown.BuiltinFunc
	relation bool // gives a set of outputs, which the plan iterates: walk
	void     bool
	// nondeterministic: the output may differ for the same arguments (clock, randomness, I/O).
	nondeterministic bool
	clocked          bool // reads EvalOptions.Time
}

// Compile resolves p for evaluation against data (the bundle's base documents, or nil for none).
// A plan that uses something a Program does not implement is refused with ErrUnsupported: dynamic
// calls into data, built-ins OPA's evaluator does not provide, or more than one plan.
func Compile(p *ir.Policy, data ast.Value) (*Program, error) {
	if p.Plans == nil || len(p.Plans.Plans) != 1 {
		return nil, unsupported("a policy must have exactly one plan")
	}
	if len(p.UnplannedRules) > 0 {
		return nil, unsupported("OPA's planner left %d rules unplanned", len(p.UnplannedRules))
	}
	c := &compiler{
		prog:    &Program{},
		policy:  p,
		byName:  map[string]*function{},
		strings: make([]*ast.Term, len(p.Static.Strings)),
		bis:     map[string]*builtin{},
	}
	if data != nil {
		if k := numericKey(data); k != "" {
			// OPA's evaluator reads data[2] as data["2"] (through its store); a plan would not.
			return nil, unsupported("data has a member named %q, which OPA also finds by the number", k)
		}
		c.prog.data = ast.NewTerm(data)
	}
	for i, s := range p.Static.Strings {
		c.strings[i] = ast.StringTerm(s.Value)
	}
	if p.Funcs != nil {
		for i, f := range p.Funcs.Funcs {
			fn := &function{name: f.Name, index: i, ret: int32(f.Return), memo: len(f.Params) == 2}
			for _, l := range f.Params {
				fn.params = append(fn.params, int32(l))
			}
			c.byName[f.Name] = fn
			c.prog.funcs = append(c.prog.funcs, fn)
		}
		for i, f := range p.Funcs.Funcs {
			fn := c.prog.funcs[i]
			if err := c.body(fn, f.Params[0], max(int(f.Return), int(slicesMax(fn.params)))+1, f.Blocks); err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
		}
	}
	plan := p.Plans.Plans[0]
	c.prog.entry = &function{name: plan.Name, index: -1, ret: -1}
	if err := c.body(c.prog.entry, ir.Input, int(ir.Data)+1, plan.Blocks); err != nil {
		return nil, fmt.Errorf("plan %s: %w", plan.Name, err)
	}
	if !c.hasWith {
		// (with replaces the input or data for a part of the evaluation: under it, no rule's value
		// is known in advance.)
		c.prog.fold()
	}
	return c.prog, nil
}

// fold evaluates, once, each rule whose value depends on data alone (no input, no clock or
// randomness), such as a table of roles written in the policy: every evaluation then uses that
// value instead of building it again.
func (p *Program) fold() {
	for changed := true; changed; {
		changed = false
		for _, fn := range p.funcs {
			if fn.dynamic() {
				continue
			}
			for _, d := range fn.deps {
				if d.dynamic() {
					fn.readsInput, changed = true, true
					break
				}
			}
		}
	}
	for _, fn := range p.funcs {
		if fn.memo && !fn.dynamic() {
			if v, err := p.evalConstant(fn); err == nil {
				fn.folded, fn.constant = true, v
			}
		}
	}
}

// numericKey returns an object member name in v that reads as an integer, or "".
func numericKey(v ast.Value) string {
	found := ""
	var walk func(ast.Value)
	walk = func(v ast.Value) {
		switch v := v.(type) {
		case ast.Object:
			v.Foreach(func(k, e *ast.Term) {
				if s, ok := k.Value.(ast.String); ok && found == "" {
					if _, err := strconv.Atoi(string(s)); err == nil {
						found = string(s)
					}
				}
				walk(e.Value)
			})
		case *ast.Array:
			for i := range v.Len() {
				walk(v.Elem(i).Value)
			}
		}
	}
	walk(v)
	return found
}

func slicesMax(s []int32) int32 {
	m := int32(0)
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

type compiler struct {
	prog    *Program
	policy  *ir.Policy
	byName  map[string]*function
	strings []*ast.Term
	bis     map[string]*builtin
	size    int // locals of the function being compiled
	fn      *function
	input   ir.Local // the local that holds the input in fn
	hasWith bool
}

var (
	trueTerm  = ast.InternedTerm(true)
	falseTerm = ast.InternedTerm(false)
	nullTerm  = ast.InternedNullTerm
)

// body compiles fn's blocks. input is the local that holds the input in fn, size the number of
// locals its signature names; fn.size becomes the number its blocks use.
func (c *compiler) body(fn *function, input ir.Local, size int, blocks []*ir.Block) error {
	c.fn, c.input, c.size = fn, input, size
	var err error
	fn.blocks, err = c.blocks(blocks)
	fn.size = c.size
	return err
}

func (c *compiler) local(l ir.Local) int32 {
	if l == c.input {
		c.fn.readsInput = true
	}
	c.size = max(c.size, int(l)+1)
	return int32(l)
}

func (c *compiler) operand(o ir.Operand) (operand, error) {
	switch v := o.Value.(type) {
	case ir.Local:
		return operand{local: c.local(v)}, nil
	case ir.Bool:
		if v {
			return operand{term: trueTerm}, nil
		}
		return operand{term: falseTerm}, nil
	case ir.StringIndex:
		if int(v) < 0 || int(v) >= len(c.strings) {
			return operand{}, fmt.Errorf("string constant %d out of range", v)
		}
		return operand{term: c.strings[v]}, nil
	}
	return operand{}, unsupported("operand %T", o.Value)
}

func (c *compiler) block(b *ir.Block) (*block, error) {
	out := &block{code: make([]instr, 0, len(b.Stmts))}
	for _, s := range b.Stmts {
		in, err := c.stmt(s)
		if err != nil {
			return nil, err
		}
		out.code = append(out.code, in)
	}
	return out, nil
}

func (c *compiler) blocks(bs []*ir.Block) ([]*block, error) {
	out := make([]*block, 0, len(bs))
	for _, b := range bs {
		blk, err := c.block(b)
		if err != nil {
			return nil, err
		}
		out = append(out, blk)
	}
	return out, nil
}

// stmt turns one IR statement into an instruction. The operands are resolved in the same order for
// every statement kind: sources into a and b, a third source into c, the local written into target.
func (c *compiler) stmt(s ir.Stmt) (instr, error) {
	in := instr{loc: s.GetLocation()}
	var err error
	op := func(o ir.Operand) operand {
		if err != nil {
			return operand{}
		}
		var r operand
		r, err = c.operand(o)
		return r
	}
	switch s := s.(type) {
	case *ir.NopStmt:
		in.op = opNop
	case *ir.AssignVarStmt:
		in.op, in.a, in.target = opAssign, op(s.Source), c.local(s.Target)
	case *ir.AssignVarOnceStmt:
		in.op, in.a, in.target = opAssignOnce, op(s.Source), c.local(s.Target)
	case *ir.AssignIntStmt:
		in.op, in.a, in.target = opAssignInt, operand{term: ast.InternedTerm(int(s.Value))}, c.local(s.Target)
	case *ir.ResetLocalStmt:
		in.op, in.target = opReset, c.local(s.Target)
	case *ir.BlockStmt:
		in.op = opBlocks
		in.blocks, err = c.blocks(s.Blocks)
	case *ir.BreakStmt:
		in.op, in.n = opBreak, int32(s.Index)
	case *ir.CallStmt:
		in.target = c.local(s.Result)
		in.args = make([]operand, len(s.Args))
		fn, ok := c.byName[s.Func]
		for i, a := range s.Args {
			if l, isLocal := a.Value.(ir.Local); ok && i == 0 && isLocal && l == c.input {
				// The input passed on to a function: read only if the function reads it.
				in.args[0] = operand{local: int32(l)}
				c.fn.deps = append(c.fn.deps, fn)
				continue
			}
			in.args[i] = op(a)
		}
		if ok {
			if len(in.args) != len(fn.params) {
				return in, fmt.Errorf("call of %s with %d arguments, want %d", s.Func, len(in.args), len(fn.params))
			}
			in.op, in.fn = opCall, fn
			break
		}
		in.op = opBuiltin
		if in.bi, err = c.builtin(s.Func); err == nil {
			c.prog.maxArg = max(c.prog.maxArg, len(in.args))
			c.fn.nondeterministic = c.fn.nondeterministic || in.bi.nondeterministic
			c.prog.clocked = c.prog.clocked || in.bi.clocked
		}
	case *ir.CallDynamicStmt:
		return in, unsupported("dynamic call into data")
	case *ir.DotStmt:
		in.op, in.a, in.b, in.target = opDot, op(s.Source), op(s.Key), c.local(s.Target)
	case *ir.LenStmt:
		in.op, in.a, in.target = opLen, op(s.Source), c.local(s.Target)
	case *ir.ScanStmt:
		in.op, in.a, in.b, in.target = opScan, operand{local: c.local(s.Source)}, operand{local: c.local(s.Key)}, c.local(s.Value)
		in.body, err = c.block(s.Block)
	case *ir.NotStmt:
		if n := len(s.Block.Stmts); n > 0 {
			if _, ok := s.Block.Stmts[n-1].(*ir.IsDefinedStmt); ok {
				// not { body } (rego.v2): OPA's planner sets a condition at each success of the
				// body but never clears it, so inside a loop one success outlives its iteration
				// and later ones read it: OPA's evaluator decides those iterations differently.
				return in, unsupported("not { ... } blocks")
			}
		}
		in.op = opNot
		in.body, err = c.block(s.Block)
	case *ir.WithStmt:
		c.hasWith = true
		in.op, in.target, in.a = opWith, c.local(s.Local), op(s.Value)
		for _, i := range s.Path {
			if i < 0 || i >= len(c.strings) {
				return in, fmt.Errorf("with: string constant %d out of range", i)
			}
			in.path = append(in.path, c.strings[i])
		}
		if err == nil {
			in.body, err = c.block(s.Block)
		}
	case *ir.EqualStmt:
		in.op, in.a, in.b = opEqual, op(s.A), op(s.B)
	case *ir.NotEqualStmt:
		in.op, in.a, in.b = opNotEqual, op(s.A), op(s.B)
	case *ir.IsArrayStmt:
		in.op, in.a = opIsArray, op(s.Source)
	case *ir.IsObjectStmt:
		in.op, in.a = opIsObject, op(s.Source)
	case *ir.IsSetStmt:
		in.op, in.a = opIsSet, op(s.Source)
	case *ir.IsDefinedStmt:
		in.op, in.target = opIsDefined, c.local(s.Source)
	case *ir.IsUndefinedStmt:
		in.op, in.target = opIsUndefined, c.local(s.Source)
	case *ir.MakeNullStmt:
		in.op, in.a, in.target = opMakeConst, operand{term: nullTerm}, c.local(s.Target)
	case *ir.MakeNumberIntStmt:
		in.op, in.a, in.target = opMakeConst, operand{term: ast.InternedTerm(int(s.Value))}, c.local(s.Target)
	case *ir.MakeNumberRefStmt:
		if s.Index < 0 || s.Index >= len(c.strings) {
			return in, fmt.Errorf("number constant %d out of range", s.Index)
		}
		// The number keeps the constant's text, exactly as written in the policy.
		in.op, in.a, in.target = opMakeConst, operand{term: ast.NewTerm(ast.Number(c.policy.Static.Strings[s.Index].Value))}, c.local(s.Target)
	case *ir.MakeArrayStmt:
		in.op, in.n, in.target = opMakeArray, s.Capacity, c.local(s.Target)
	case *ir.MakeObjectStmt:
		in.op, in.target = opMakeObject, c.local(s.Target)
	case *ir.MakeSetStmt:
		in.op, in.target = opMakeSet, c.local(s.Target)
	case *ir.ArrayAppendStmt:
		in.op, in.a, in.target = opArrayAppend, op(s.Value), c.local(s.Array)
	case *ir.ObjectInsertStmt:
		in.op, in.a, in.c, in.target = opObjectInsert, op(s.Key), op(s.Value), c.local(s.Object)
	case *ir.ObjectInsertOnceStmt:
		in.op, in.a, in.c, in.target = opObjectInsertOnce, op(s.Key), op(s.Value), c.local(s.Object)
	case *ir.ObjectMergeStmt:
		in.op, in.a, in.b, in.target = opObjectMerge, operand{local: c.local(s.A)}, operand{local: c.local(s.B)}, c.local(s.Target)
	case *ir.SetAddStmt:
		in.op, in.a, in.target = opSetAdd, op(s.Value), c.local(s.Set)
	case *ir.ReturnLocalStmt:
		in.op, in.target = opReturn, c.local(s.Source)
	case *ir.ResultSetAddStmt:
		in.op, in.target = opResult, c.local(s.Value)
	default:
		return in, unsupported("statement %T", s)
	}
	return in, err
}

func (c *compiler) builtin(name string) (*builtin, error) {
	if b, ok := c.bis[name]; ok {
		return b, nil
	}
	decl, ok := ast.BuiltinMap[name]
	if !ok {
		return nil, unsupported("built-in %s is not one of OPA's", name)
	}
	f := topdown.GetBuiltin(name)
	if f == nil {
		return nil, unsupported("built-in %s has no implementation in OPA's evaluator", name)
	}
	b := &builtin{name: name, f: f, relation: decl.Relation, void: decl.Decl.Result() == nil,
		nondeterministic: decl.Nondeterministic, clocked: clocked[name]}
	c.bis[name] = b
	return b, nil
}
