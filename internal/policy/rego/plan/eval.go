package plan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
)

// How a block ended, besides "n more enclosing blocks to leave" (0 and up).
const (
	completed = -1 // ran to its end
	returned  = -2 // a return statement: leave the function
)

// checkEvery is how many loop turns and calls pass between two looks at the cancel.
const checkEvery = 64

var noMetrics = metrics.NoOp()

// EvalOptions are what an evaluation takes from outside the policy and its input.
type EvalOptions struct {
	// Cancel, when set, stops the evaluation with an error once it is cancelled (a timer arms it),
	// inside long-running built-ins too.
	Cancel topdown.Cancel
	// Time is the clock reading (nanoseconds since the epoch) for the built-ins that read one
	// (Program.Clocked), and Seed the randomness for those that draw some. Gatehouse refuses those
	// built-ins, so it sets neither; a built-in that needs Time is an error without it.
	Time *ast.Term
	Seed io.Reader
}

// Eval runs the program for input (nil: no input, which leaves OPA's input undefined) and returns
// the query's results, each an object of the query's variables. The evaluation stops with an error
// when ctx is done or opts.Cancel is cancelled.
//
// The plan is OPA's, run with OPA's semantics: built-in functions are OPA's own implementations and
// an error from one makes its call undefined (OPA's default, non-strict, behaviour); a rule that
// gives two values, or an object built with one key twice, is an evaluation error.
func (p *Program) Eval(ctx context.Context, input ast.Value, opts EvalOptions) (_ []*ast.Term, err error) {
	st := p.start(ctx, opts)
	defer st.release()
	defer func() {
		// A panic (in a built-in, or here) fails this decision, which the fail posture then decides;
		// it must not take the gateway down with it.
		if r := recover(); r != nil {
			err = &topdown.Error{Code: topdown.InternalErr, Message: fmt.Sprintf("plan evaluation panicked: %v", r)}
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st.grow(p.entry.size)
	if input != nil {
		st.stack[ir.Input] = ast.NewTerm(input)
	}
	st.stack[ir.Data] = p.dataTerm()
	if _, err := st.run(p.entry, 0); err != nil {
		return nil, err
	}
	return slices.Clone(st.results), nil
}

// foldTimeout bounds the evaluation of one rule by Compile. A rule that takes longer is left to be
// evaluated with each decision, under the decision's own bound.
const foldTimeout = time.Second

// evalConstant evaluates fn, a rule that reads no input, once.
func (p *Program) evalConstant(fn *function) (v *ast.Term, err error) {
	cancel := topdown.NewCancel()
	timer := time.AfterFunc(foldTimeout, cancel.Cancel)
	defer timer.Stop()
	st := p.start(context.Background(), EvalOptions{Cancel: cancel})
	defer st.release()
	defer func() {
		if r := recover(); r != nil { // a built-in that panics on the bundle's data: not folded
			v, err = nil, fmt.Errorf("evaluating %s panicked: %v", fn.name, r)
		}
	}()
	base := st.grow(int(ir.Data) + 1)
	st.stack[base+int(ir.Data)] = p.dataTerm()
	return st.call(fn, []operand{{local: int32(ir.Input)}, {local: int32(ir.Data)}}, base)
}

func (p *Program) dataTerm() *ast.Term {
	if p.data == nil {
		return emptyData
	}
	return p.data
}

// emptyData is the data document of a program without data. Nothing changes it: with copies.
var emptyData = ast.NewTerm(ast.NewObject())

// start takes a state from the pool, ready for an evaluation of p.
func (p *Program) start(ctx context.Context, opts EvalOptions) *state {
	st := states.Get().(*state)
	st.ctx, st.cancel = ctx, opts.Cancel
	st.bctx = topdown.BuiltinContext{Context: ctx, Cancel: opts.Cancel, Metrics: noMetrics, Cache: st.cache,
		Time: opts.Time, Seed: opts.Seed}
	if cap(st.memo) < len(p.funcs) {
		st.memo = make([]memoEntry, len(p.funcs))
	}
	st.memo = st.memo[:len(p.funcs)]
	if cap(st.args) < p.maxArg {
		st.args = make([]*ast.Term, p.maxArg)
	}
	return st
}

type memoEntry struct {
	done  bool
	value *ast.Term // nil: undefined
}

// state is one evaluation's working memory, pooled: the locals of every active function in one
// stack, the memo of rule values, scratch for built-in calls.
type state struct {
	ctx     context.Context
	cancel  topdown.Cancel
	bctx    topdown.BuiltinContext
	cache   builtins.Cache
	stack   []*ast.Term
	memo    []memoEntry
	results []*ast.Term
	args    []*ast.Term
	ret     *ast.Term // the value of the last return statement
	ticks   uint32
	fresh   map[*ast.Term]uint32 // the collections this evaluation made, with the call that made each
	frame   uint32               // the running function call
	frames  uint32               // calls so far

	// A built-in's outputs: the first (a function), or all of them (a relation).
	out      *ast.Term
	outs     []*ast.Term
	relation bool
	iter     func(*ast.Term) error
}

var states = sync.Pool{New: func() any {
	st := &state{cache: builtins.Cache{}, fresh: map[*ast.Term]uint32{}}
	st.iter = st.output
	return st
}}

func (st *state) output(t *ast.Term) error {
	switch {
	case st.relation:
		st.outs = append(st.outs, t)
	case st.out == nil:
		st.out = t
	}
	return nil
}

func (st *state) release() {
	clear(st.stack)
	st.stack = st.stack[:0]
	clear(st.memo)
	clear(st.results)
	st.results = st.results[:0]
	clear(st.cache)
	clear(st.fresh)
	st.frame, st.frames = 0, 0
	clear(st.outs)
	st.outs, st.out, st.ret = st.outs[:0], nil, nil
	st.ctx, st.cancel, st.bctx = nil, nil, topdown.BuiltinContext{}
	states.Put(st)
}

// grow adds n undefined locals to the stack and returns the first one's index.
// make returns a new collection's term, remembered as this evaluation's own: the only kind a plan
// may change in place. Every other value may be shared (the input, the bundle's data, a folded
// rule's value, used by every evaluation at once), and changing one would change it everywhere, so
// an append or insert into one fails the evaluation instead. OPA's planner never asks for that.
func (st *state) make(v ast.Value) *ast.Term {
	t := ast.NewTerm(v)
	st.fresh[t] = st.frame
	return t
}

// made reports whether t is a collection the running function call made. A value made by another
// call (a rule's value, memoized and read by others) is as shared as the input.
func (st *state) made(t *ast.Term) bool {
	f, ok := st.fresh[t]
	return ok && f == st.frame
}

func (st *state) grow(n int) int {
	base := len(st.stack)
	st.stack = slices.Grow(st.stack, n)[:base+n]
	clear(st.stack[base:])
	return base
}

func (st *state) get(base int, o operand) *ast.Term {
	if o.term != nil {
		return o.term
	}
	return st.stack[base+int(o.local)]
}

func (st *state) tick() error {
	st.ticks++
	if st.ticks%checkEvery != 0 {
		return nil
	}
	return st.stopped()
}

func (st *state) stopped() error {
	if st.cancel != nil && st.cancel.Cancelled() {
		return &topdown.Error{Code: topdown.CancelErr, Message: "caller cancelled query execution"}
	}
	return st.ctx.Err()
}

// run executes fn's blocks in a frame at base (its parameters already there) and returns its value.
func (st *state) run(fn *function, base int) (*ast.Term, error) {
	for _, b := range fn.blocks {
		r, err := st.exec(b, base)
		if err != nil {
			return nil, err
		}
		if r == returned {
			return st.ret, nil
		}
		if r > 0 {
			break
		}
	}
	if fn.ret < 0 {
		return nil, nil
	}
	return st.stack[base+int(fn.ret)], nil
}

// call evaluates fn with args read from the caller's frame at base.
func (st *state) call(fn *function, args []operand, base int) (*ast.Term, error) {
	if fn.folded {
		return fn.constant, nil
	}
	if fn.memo {
		if m := st.memo[fn.index]; m.done {
			return m.value, nil
		}
	}
	if err := st.tick(); err != nil {
		return nil, err
	}
	nb := st.grow(fn.size)
	for i, a := range args {
		st.stack[nb+int(fn.params[i])] = st.get(base, a)
	}
	caller := st.frame
	st.frames++
	st.frame = st.frames
	v, err := st.run(fn, nb)
	st.frame = caller
	clear(st.stack[nb:])
	st.stack = st.stack[:nb]
	if err != nil {
		return nil, err
	}
	if fn.memo {
		st.memo[fn.index] = memoEntry{done: true, value: v}
	}
	return v, nil
}

// exec runs a block. It returns completed, returned, or how many blocks enclosing this one to
// leave: 0 when a statement was undefined (the block stops) or a break left just this block.
func (st *state) exec(b *block, base int) (int, error) {
	for i := range b.code {
		in := &b.code[i]
		switch in.op {
		case opNop:
		case opAssign:
			st.stack[base+int(in.target)] = st.get(base, in.a)
		case opAssignOnce:
			v := st.get(base, in.a)
			cur := st.stack[base+int(in.target)]
			if cur != nil && (v == nil || cur.Value.Compare(v.Value) != 0) {
				return 0, conflict(in, "complete rules must not produce multiple outputs")
			}
			st.stack[base+int(in.target)] = v
		case opAssignInt, opMakeConst:
			st.stack[base+int(in.target)] = in.a.term
		case opReset:
			st.stack[base+int(in.target)] = nil
		case opBlocks:
			for _, inner := range in.blocks {
				r, err := st.exec(inner, base)
				if err != nil || r == returned {
					return r, err
				}
				if r > 0 {
					return r - 1, nil
				}
			}
		case opBreak:
			return int(in.n), nil
		case opCall:
			v, err := st.call(in.fn, in.args, base)
			if err != nil {
				return 0, err
			}
			if v == nil {
				return 0, nil
			}
			st.stack[base+int(in.target)] = v
		case opBuiltin:
			ok, err := st.builtin(in, base)
			if err != nil {
				return 0, err
			}
			if !ok {
				return 0, nil
			}
		case opDot:
			src, key := st.get(base, in.a), st.get(base, in.b)
			if src == nil || key == nil {
				return 0, nil
			}
			v := dot(src, key)
			if v == nil {
				return 0, nil
			}
			st.stack[base+int(in.target)] = v
		case opLen:
			st.stack[base+int(in.target)] = ast.InternedTerm(length(st.get(base, in.a)))
		case opScan:
			r, err := st.scan(in, base)
			if err != nil || r != completed {
				return r, err
			}
		case opNot:
			r, err := st.exec(in.body, base)
			switch {
			case err != nil || r == returned:
				return r, err
			case r == completed:
				return 0, nil
			case r > 0:
				return r - 1, nil
			}
		case opWith:
			r, err := st.with(in, base)
			switch {
			case err != nil || r == returned:
				return r, err
			case r == 0:
				return 0, nil
			case r > 0:
				return r - 1, nil
			}
		case opEqual:
			a, b := st.get(base, in.a), st.get(base, in.b)
			if a == nil || b == nil || a.Value.Compare(b.Value) != 0 {
				return 0, nil
			}
		case opNotEqual:
			a, b := st.get(base, in.a), st.get(base, in.b)
			if a == nil || b == nil || a.Value.Compare(b.Value) == 0 {
				return 0, nil
			}
		case opIsArray:
			if v := st.get(base, in.a); v == nil || !isArray(v) {
				return 0, nil
			}
		case opIsObject:
			if v := st.get(base, in.a); v == nil || !isObject(v) {
				return 0, nil
			}
		case opIsSet:
			if v := st.get(base, in.a); v == nil || !isSet(v) {
				return 0, nil
			}
		case opIsDefined:
			if st.stack[base+int(in.target)] == nil {
				return 0, nil
			}
		case opIsUndefined:
			if st.stack[base+int(in.target)] != nil {
				return 0, nil
			}
		case opMakeArray:
			st.stack[base+int(in.target)] = st.make(ast.NewArrayWithCapacity(int(in.n)))
		case opMakeObject:
			st.stack[base+int(in.target)] = st.make(ast.NewObject())
		case opMakeSet:
			st.stack[base+int(in.target)] = st.make(ast.NewSet())
		case opArrayAppend:
			t := st.stack[base+int(in.target)]
			arr, ok := value[*ast.Array](t)
			v := st.get(base, in.a)
			if !ok || v == nil || !st.made(t) {
				return 0, malformed(in, "append to a local that holds no array of this evaluation's")
			}
			// The array grows in its term, as it does in place in OPA's Wasm target.
			t.Value = arr.Append(v)
		case opObjectInsert, opObjectInsertOnce:
			t := st.stack[base+int(in.target)]
			obj, ok := value[ast.Object](t)
			k, v := st.get(base, in.a), st.get(base, in.c)
			if !ok || k == nil || v == nil || !st.made(t) {
				return 0, malformed(in, "insert into a local that holds no object of this evaluation's")
			}
			if in.op == opObjectInsertOnce {
				if cur := obj.Get(k); cur != nil && cur.Value.Compare(v.Value) != 0 {
					return 0, conflict(in, "object keys must be unique")
				}
			}
			obj.Insert(k, v)
		case opObjectMerge:
			st.stack[base+int(in.target)] = merge(st.get(base, in.a), st.get(base, in.b))
		case opSetAdd:
			t := st.stack[base+int(in.target)]
			set, ok := value[ast.Set](t)
			v := st.get(base, in.a)
			if !ok || v == nil || !st.made(t) {
				return 0, malformed(in, "add to a local that holds no set of this evaluation's")
			}
			set.Add(v)
		case opReturn:
			st.ret = st.stack[base+int(in.target)]
			return returned, nil
		case opResult:
			if v := st.stack[base+int(in.target)]; v != nil {
				st.results = append(st.results, v)
			}
		default:
			return 0, malformed(in, fmt.Sprintf("unknown instruction %d", in.op))
		}
	}
	return completed, nil
}

// scan runs the body for each member of a collection: key and value of an object, index and
// element of an array, element (as both) of a set. Anything else has no members. The body's end,
// an undefined statement or a break out of the body itself goes on to the next member; a break one
// level further ends the scan.
func (st *state) scan(in *instr, base int) (int, error) {
	src := st.stack[base+int(in.a.local)]
	if src == nil {
		return completed, nil
	}
	kl, vl := base+int(in.b.local), base+int(in.target)
	result := completed
	var err error
	each := func(k, v *ast.Term) bool {
		if err = st.tick(); err != nil {
			return true
		}
		st.stack[kl], st.stack[vl] = k, v
		var r int
		r, err = st.exec(in.body, base)
		switch {
		case err != nil || r == returned:
			result = r
			return true
		case r == 1:
			return true
		case r > 1:
			result = r - 2
			return true
		}
		return false
	}
	switch v := src.Value.(type) {
	case *ast.Array:
		for i := range v.Len() {
			if each(ast.InternedTerm(i), v.Elem(i)) {
				break
			}
		}
	case ast.Object:
		v.Until(each)
	case ast.Set:
		v.Until(func(t *ast.Term) bool { return each(t, t) })
	}
	return result, err
}

// with runs the body with a local (input or data) replaced, or replaced below a path, and rule
// values computed afresh: what a rule gave without the replacement may not hold with it.
func (st *state) with(in *instr, base int) (int, error) {
	l := base + int(in.target)
	saved, savedMemo := st.stack[l], slices.Clone(st.memo)
	clear(st.memo)
	st.stack[l] = upsert(saved, in.path, st.get(base, in.a))
	r, err := st.exec(in.body, base)
	st.stack[l] = saved
	copy(st.memo, savedMemo)
	return r, err
}

// builtin calls one of OPA's built-in functions. It reports false when the call is undefined: an
// argument is undefined, the function gave no output, or it failed (OPA's evaluator, unless asked
// to be strict, treats a built-in's error as undefined).
func (st *state) builtin(in *instr, base int) (bool, error) {
	args := st.args[:len(in.args)]
	for i, a := range in.args {
		v := st.get(base, a)
		if v == nil {
			clear(args)
			return false, nil
		}
		args[i] = v
	}
	if in.bi.clocked && st.bctx.Time == nil {
		clear(args)
		return false, fmt.Errorf("%s reads the time, and this evaluation was given none", in.bi.name)
	}
	st.out, st.relation = nil, in.bi.relation
	err := in.bi.f(st.bctx, args, st.iter)
	clear(args)
	if err != nil && st.stopped() != nil {
		return false, st.stopped() // the built-in gave up because the evaluation was stopped
	}
	if err != nil {
		var halt topdown.Halt
		if errors.As(err, &halt) {
			return false, halt.Err
		}
		return false, nil
	}
	switch {
	case in.bi.void:
	case in.bi.relation:
		st.stack[base+int(in.target)] = ast.ArrayTerm(slices.Clone(st.outs)...)
		clear(st.outs)
		st.outs = st.outs[:0]
	case st.out == nil:
		return false, nil
	default:
		st.stack[base+int(in.target)] = st.out
		st.out = nil
	}
	return true, nil
}

func value[T ast.Value](t *ast.Term) (T, bool) {
	var zero T
	if t == nil {
		return zero, false
	}
	v, ok := t.Value.(T)
	return v, ok
}

func isArray(t *ast.Term) bool  { _, ok := t.Value.(*ast.Array); return ok }
func isObject(t *ast.Term) bool { _, ok := t.Value.(ast.Object); return ok }
func isSet(t *ast.Term) bool    { _, ok := t.Value.(ast.Set); return ok }

// dot looks key up in src: an object's member, an array's element, a set's element (itself).
func dot(src, key *ast.Term) *ast.Term {
	switch v := src.Value.(type) {
	case ast.Object:
		return v.Get(key)
	case *ast.Array:
		return v.Get(key)
	case ast.Set:
		if v.Contains(key) {
			return key
		}
	}
	return nil
}

// length is a collection's size, or a string's length in bytes (as OPA's Wasm target counts it;
// the planner asks only for collections).
func length(t *ast.Term) int {
	if t == nil {
		return 0
	}
	switch v := t.Value.(type) {
	case *ast.Array:
		return v.Len()
	case ast.Object:
		return v.Len()
	case ast.Set:
		return v.Len()
	case ast.String:
		return len(v)
	}
	return 0
}

// merge combines a base document a with a virtual document b at the same path: members of both
// are merged when both are objects, a's value wins otherwise.
func merge(a, b *ast.Term) *ast.Term {
	if a == nil {
		return b
	}
	ao, ok1 := a.Value.(ast.Object)
	bo, ok2 := value[ast.Object](b)
	if !ok1 || !ok2 {
		return a
	}
	out := ast.NewObject()
	ao.Foreach(func(k, v *ast.Term) {
		if o := bo.Get(k); o != nil {
			out.Insert(k, merge(v, o))
		} else {
			out.Insert(k, v)
		}
	})
	bo.Foreach(func(k, v *ast.Term) {
		if ao.Get(k) == nil {
			out.Insert(k, v)
		}
	})
	return ast.NewTerm(out)
}

// upsert returns root with v at path, copying each object on the way (root itself is not changed).
// A missing or non-object member on the way becomes an object.
func upsert(root *ast.Term, path []*ast.Term, v *ast.Term) *ast.Term {
	if len(path) == 0 {
		return v
	}
	out := ast.NewObject()
	var child *ast.Term
	if obj, ok := value[ast.Object](root); ok {
		obj.Foreach(out.Insert)
		child = obj.Get(path[0])
	}
	out.Insert(path[0], upsert(child, path[1:], v))
	return ast.NewTerm(out)
}

func located(in *instr, msg string) string {
	if in.loc == nil {
		return msg
	}
	return fmt.Sprintf("%d:%d: %s", in.loc.Row, in.loc.Col, msg)
}

// conflict is the error OPA's evaluator gives for the same conflict.
func conflict(in *instr, msg string) error {
	return &topdown.Error{Code: topdown.ConflictErr, Message: located(in, msg)}
}

// malformed reports a plan that breaks the IR's own rules: a bug in the planner or here, never the
// policy's doing.
func malformed(in *instr, msg string) error {
	return &topdown.Error{Code: topdown.InternalErr, Message: located(in, "malformed plan: "+msg)}
}
