package threat

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// DefaultThreshold is the score at and above which a scan counts as a hit: the value the shipped
// example policy uses for min_threat_score, and the line the labelled corpus is measured against.
// A rule of weight 0.5 or more reaches it alone; weaker rules reach it only together.
const DefaultThreshold = 0.5

// Defaults for Config.
const (
	DefaultMaxBytes       = 8 << 20
	DefaultMaxDecodeDepth = 2
	DefaultMaxFindings    = 64
)

// Config tunes a Scanner. The zero value is the default scanner.
type Config struct {
	// MaxBytes is the most bytes of text one ScanValue or ScanTool call reads; text past it is not
	// scanned. Default 8 MiB (gatehouse refuses messages over 50 MiB before any stage runs).
	MaxBytes int
	// MaxDecodeDepth is how many layers of base64 and percent-encoding are peeled off candidate
	// spans (a double-encoded %252e%252e is two layers). Default 2; set NoDecode to switch decoding
	// off.
	MaxDecodeDepth int
	// NoDecode switches off the decoding of base64 and percent-encoded spans.
	NoDecode bool
	// MaxFindings caps the findings kept per scan; the first finding of every rule is always kept,
	// so the score does not depend on the cap. Default 64.
	MaxFindings int
	// Disable lists rule ids (see Rules) that are never reported.
	Disable []string
	// Weights overrides the weight of rule ids, each in (0, 1].
	Weights map[string]float64
}

// Scanner is a compiled threat scanner. It is pure (no I/O, clock or state between calls) and safe
// for concurrent use.
type Scanner struct {
	cp          *compiledPatterns
	weights     [numRules]float64
	disabled    [numRules]bool
	maxBytes    int
	maxDepth    int
	maxFindings int
	pool        sync.Pool
}

var compiled = sync.OnceValues(compile)

// New returns a scanner configured by cfg. It fails on an unknown rule id or a weight out of range.
func New(cfg Config) (*Scanner, error) {
	cp, err := compiled()
	if err != nil {
		return nil, fmt.Errorf("threat: compiling patterns: %w", err)
	}
	s := &Scanner{cp: cp, maxBytes: cfg.MaxBytes, maxDepth: cfg.MaxDecodeDepth, maxFindings: cfg.MaxFindings}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxBytes
	}
	if s.maxDepth <= 0 {
		s.maxDepth = DefaultMaxDecodeDepth
	}
	if cfg.NoDecode {
		s.maxDepth = 0
	}
	if s.maxFindings <= 0 {
		s.maxFindings = DefaultMaxFindings
	}
	byID := make(map[string]int, numRules)
	for i, r := range ruleTable {
		byID[r.ID] = i
		s.weights[i] = r.Weight
	}
	var problems []string
	for _, id := range cfg.Disable {
		i, ok := byID[id]
		if !ok {
			problems = append(problems, fmt.Sprintf("disable: unknown rule %q", id))
			continue
		}
		s.disabled[i] = true
	}
	ids := make([]string, 0, len(cfg.Weights))
	for id := range cfg.Weights {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		w := cfg.Weights[id]
		i, ok := byID[id]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("weights: unknown rule %q", id))
		case !(w > 0 && w <= 1):
			problems = append(problems, fmt.Sprintf("weights: %s must be in (0, 1], got %v", id, w))
		default:
			s.weights[i] = w
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("threat: %s", strings.Join(problems, "; "))
	}
	s.pool.New = func() any { return &scan{} }
	return s, nil
}

// Rules returns the scanner's rules with the weights it uses; disabled rules are left out.
func (s *Scanner) Rules() []Rule {
	out := make([]Rule, 0, numRules)
	for i, r := range ruleTable {
		if !s.disabled[i] {
			r.Weight = s.weights[i]
			out = append(out, r)
		}
	}
	return out
}

// ScanValue scans a decoded JSON value (map[string]any, []any, string, json.Number, bool, nil, as
// encoding/json produces with UseNumber; also map[string]string and []string) and returns its
// findings and score. Object keys are scanned as well as string values, objects in sorted key order
// so that the findings are deterministic. where names the value's root in findings, e.g.
// "arguments" or "result".
func (s *Scanner) ScanValue(where string, v any) policy.Threat {
	sc := s.get(false)
	defer s.put(sc)
	sc.value(where, v, 0)
	return sc.threat()
}

// ScanText scans one string; where is its JSON path (e.g. "arguments.cmd"). Findings locate the
// match as where@offset (a byte offset into text), with the decoding layers in parentheses when
// the match was inside an encoded span: "arguments.q@14 (base64)".
func (s *Scanner) ScanText(where, text string) []policy.Finding {
	sc := s.get(false)
	defer s.put(sc)
	sc.root = where
	sc.text(text)
	out := make([]policy.Finding, len(sc.findings))
	copy(out, sc.findings)
	return out
}

// ScanTool scans a tool definition as tools/list shows it: its name (tool.name), description
// (tool.description) and input schema (tool.inputSchema, property names and descriptions
// included). Instructions found in a definition are reported as tool_poisoning (see
// Rule.ToolCategory).
func (s *Scanner) ScanTool(name, description string, schema any) policy.Threat {
	sc := s.get(true)
	defer s.put(sc)
	sc.value("tool.name", name, 0)
	sc.value("tool.description", description, 0)
	if schema != nil {
		sc.value("tool.inputSchema", schema, 0)
	}
	return sc.threat()
}

func (s *Scanner) get(tool bool) *scan {
	sc := s.pool.Get().(*scan)
	sc.s, sc.tool, sc.remaining = s, tool, s.maxBytes
	sc.findings = sc.findings[:0]
	sc.ruleKept = [numRules]bool{}
	sc.path, sc.inKey, sc.keyBuf = sc.path[:0], false, sc.keyBuf[:0]
	return sc
}

func (s *Scanner) put(sc *scan) {
	// The pool keeps no text of a value ScanJSON read, and no huge buffers.
	clear(sc.toks)
	if cap(sc.n.lower) > 1<<20 || cap(sc.toks) > 1<<16 {
		*sc = scan{}
	}
	sc.s = nil
	s.pool.Put(sc)
}
