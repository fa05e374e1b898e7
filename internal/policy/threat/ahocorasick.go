package threat

import "fmt"

// automaton is an Aho-Corasick matcher compiled into a dense DFA: one table lookup per input byte,
// whatever the number of patterns, so the cost of a scan grows with the text and not with the rule
// set. Bytes that occur in no pattern share one class, which keeps the table small.
//
// A space in a pattern matches a run of one or more spaces in the text: a state entered by a space
// loops on further spaces. That is how "rm  -rf" and "rm\t-rf" meet "rm -rf" without a pass that
// collapses white space (and without losing the 1:1 byte offsets of ASCII text).
type automaton struct {
	class  [256]uint8
	stride int
	// delta holds, for the row of state s (which starts at s*stride) and byte class c, the row start
	// of the next state: rows are pre-multiplied so that a step is one load and one add.
	delta []uint32
	// States are numbered so that every state with an output has a row at or after firstOut: the hot
	// loop tests for a match with one comparison.
	firstOut uint32
	// out[s] lists the patterns that end when the automaton enters state s (its own and those of its
	// suffix states), as a span of outs; indexed by row start / stride.
	outStart []int32
	outEnd   []int32
	outs     []int32
}

// maxStates bounds the automaton so that row offsets fit in an int32 comfortably.
const maxStates = 1 << 20

// newAutomaton compiles patterns; the id reported for a match is the pattern's index. Patterns must
// be non-empty and must not start with a space.
func newAutomaton(patterns []string) (*automaton, error) {
	a := &automaton{}
	// Byte classes: every byte used by some pattern gets its own class; class 0 is "any other byte".
	n := 1
	for _, p := range patterns {
		if p == "" || p[0] == ' ' {
			return nil, fmt.Errorf("pattern %q is empty or starts with a space", p)
		}
		for i := 0; i < len(p); i++ {
			if a.class[p[i]] == 0 {
				if n == 255 {
					return nil, fmt.Errorf("too many byte classes")
				}
				a.class[p[i]] = uint8(n)
				n++
			}
		}
	}
	n++ // one spare class, for callers that add a column (squeezeOver)
	a.stride = n

	// The trie, with goto edges in a sparse map while building.
	type node struct {
		next  map[uint8]int32
		fail  int32
		out   []int32
		space bool // entered by a space
	}
	nodes := []node{{next: map[uint8]int32{}}}
	for id, p := range patterns {
		s := int32(0)
		for i := 0; i < len(p); i++ {
			c := a.class[p[i]]
			nx, ok := nodes[s].next[c]
			if !ok {
				nx = int32(len(nodes))
				nodes = append(nodes, node{next: map[uint8]int32{}, space: p[i] == ' '})
				nodes[s].next[c] = nx
			}
			s = nx
		}
		nodes[s].out = append(nodes[s].out, int32(id))
	}
	if len(nodes) > maxStates {
		return nil, fmt.Errorf("%d states, more than %d", len(nodes), maxStates)
	}

	// Breadth-first: fail links and the dense transition table, in state numbers for now.
	delta := make([]int32, len(nodes)*n)
	queue := make([]int32, 0, len(nodes))
	for c := 0; c < n; c++ {
		if nx, ok := nodes[0].next[uint8(c)]; ok {
			delta[c] = nx
			queue = append(queue, nx)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		f := nodes[s].fail
		nodes[s].out = append(nodes[s].out, nodes[f].out...)
		for c := 0; c < n; c++ {
			if nx, ok := nodes[s].next[uint8(c)]; ok {
				nodes[nx].fail = delta[int(f)*n+c]
				delta[int(s)*n+c] = nx
				queue = append(queue, nx)
			} else {
				delta[int(s)*n+c] = delta[int(f)*n+c]
			}
		}
	}
	// Runs of spaces: a state entered by a space stays put on more spaces (no pattern has two
	// spaces in a row, so there is no edge to keep).
	if sp := a.class[' ']; sp != 0 {
		for s := range nodes {
			if nodes[s].space {
				delta[s*n+int(sp)] = int32(s)
			}
		}
	}

	// Renumber: states without output first (the root stays 0, as it has none), then pre-multiply.
	newID := make([]int32, len(nodes))
	next := int32(0)
	for pass := 0; pass < 2; pass++ {
		if pass == 1 {
			a.firstOut = uint32(next) * uint32(n)
		}
		for s := range nodes {
			if (len(nodes[s].out) > 0) == (pass == 1) {
				newID[s] = next
				next++
			}
		}
	}
	a.delta = make([]uint32, len(delta))
	for s := range nodes {
		row, old := int(newID[s])*n, s*n
		for c := 0; c < n; c++ {
			a.delta[row+c] = uint32(newID[delta[old+c]]) * uint32(n)
		}
	}
	a.outStart = make([]int32, len(nodes))
	a.outEnd = make([]int32, len(nodes))
	for s := range nodes {
		id := newID[s]
		a.outStart[id] = int32(len(a.outs))
		a.outs = append(a.outs, nodes[s].out...)
		a.outEnd[id] = int32(len(a.outs))
	}
	return a, nil
}

// matches returns the ids of the patterns that end on entering the state whose row starts at row.
func (a *automaton) matches(row uint32) []int32 {
	s := row / uint32(a.stride)
	return a.outs[a.outStart[s]:a.outEnd[s]]
}

// each calls f(id, end) for every occurrence of every pattern in text, in order of end offset (end
// is exclusive). It is the reference loop; the scanner inlines its own.
func (a *automaton) each(text []byte, f func(id, end int)) {
	s := uint32(0)
	for i := 0; i < len(text); i++ {
		s = a.delta[s+uint32(a.class[text[i]])]
		if s >= a.firstOut {
			for _, id := range a.matches(s) {
				f(int(id), i+1)
			}
		}
	}
}

// squeezeOver returns a copy of a whose input is the lower view rather than the squeezed view: a
// lower-view byte that the squeezed view drops leaves the state unchanged (the spare column is a
// self-loop), and the others step as their squeezed byte would. This lets one loop drive both
// automatons without a branch per byte.
func (a *automaton) squeezeOver() *automaton {
	b := *a
	skip := a.stride - 1
	b.delta = append([]uint32(nil), a.delta...)
	for row := 0; row < len(b.delta); row += a.stride {
		b.delta[row+skip] = uint32(row)
	}
	for c := 0; c < 256; c++ {
		if q := squeezeByte[c]; q != 0 {
			b.class[c] = a.class[q]
		} else {
			b.class[c] = uint8(skip)
		}
	}
	return &b
}
