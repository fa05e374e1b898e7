package threat

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	scanner "github.com/gatehouse-mcp/gatehouse/internal/policy/threat"
)

// Defaults for Config.
const (
	DefaultClassifierTimeout = 2 * time.Second
	DefaultMaxClassifyBytes  = 64 << 10
)

// Config is how the stage runs.
type Config struct {
	// Scanner is the threat scanner. Required.
	Scanner *scanner.Scanner
	// Phases lists the phases scanned: policy.PhaseRequest (arguments, prompt arguments, resource
	// URIs) and policy.PhaseResponse (results). Empty means both.
	Phases []policy.Phase
	// RefuseAt is an optional hard threshold: a message whose score is at least RefuseAt is refused
	// with reason threat_detected, whatever the policies say. 0, the default, never refuses: the
	// policies decide through min_threat_score and input.threat.
	RefuseAt float64
	// Classifier, when set, is asked about every scanned message whose scanner score is at least
	// ClassifyAt; its findings are merged into input.threat.
	Classifier scanner.Classifier
	// ClassifyAt is the scanner score from which the Classifier is consulted; 0 consults it on every
	// scanned message.
	ClassifyAt float64
	// ClassifierTimeout bounds one Classifier call. Default 2 s.
	ClassifierTimeout time.Duration
	// ClassifierFail is the posture when the Classifier errors or times out: closed (the default,
	// as for policy engines) refuses the message with policy_error; open continues with the
	// scanner's findings and logs at ERROR.
	ClassifierFail pipeline.Fail
	// MaxClassifyBytes bounds the text sent to the Classifier (the message as compact JSON, cut).
	// Default 64 KiB.
	MaxClassifyBytes int
	// Metrics are the stage's metrics (NewMetrics); nil records none.
	Metrics *Metrics
	// Logger receives classifier failures and hits; nil discards.
	Logger *slog.Logger
}

// Stage scans calls and results.
type Stage struct {
	cfg      Config
	request  bool
	response bool
}

var _ pipeline.Stage = (*Stage)(nil)

// New returns the stage, or an error naming every problem in cfg.
func New(cfg Config) (*Stage, error) {
	var problems []string
	if cfg.Scanner == nil {
		problems = append(problems, "a scanner is required")
	}
	if cfg.RefuseAt < 0 || cfg.RefuseAt > 1 {
		problems = append(problems, fmt.Sprintf("refuse_at must be between 0 and 1, got %v", cfg.RefuseAt))
	}
	if cfg.ClassifyAt < 0 || cfg.ClassifyAt > 1 {
		problems = append(problems, fmt.Sprintf("classify_at must be between 0 and 1, got %v", cfg.ClassifyAt))
	}
	switch cfg.ClassifierFail {
	case "":
		cfg.ClassifierFail = pipeline.FailClosed
	case pipeline.FailClosed, pipeline.FailOpen:
	default:
		problems = append(problems, fmt.Sprintf("classifier fail must be open or closed, got %q", cfg.ClassifierFail))
	}
	s := &Stage{}
	for _, p := range cfg.Phases {
		switch p {
		case policy.PhaseRequest:
			s.request = true
		case policy.PhaseResponse:
			s.response = true
		default:
			problems = append(problems, fmt.Sprintf("unknown phase %q", p))
		}
	}
	if len(cfg.Phases) == 0 {
		s.request, s.response = true, true
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("threat stage: %s", strings.Join(problems, "; "))
	}
	if cfg.ClassifierTimeout <= 0 {
		cfg.ClassifierTimeout = DefaultClassifierTimeout
	}
	if cfg.MaxClassifyBytes <= 0 {
		cfg.MaxClassifyBytes = DefaultMaxClassifyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s.cfg = cfg
	return s, nil
}

// Name implements pipeline.Stage.
func (*Stage) Name() string { return "threat" }

// ScansResults reports whether the stage reads results, so that the gateway decodes them even when
// no policy engine has response-phase rules.
func (s *Stage) ScansResults() bool { return s.response }

// Handle implements pipeline.Stage: it sets c.Input.Threat for the message's phase and calls next,
// unless the hard threshold or a failing classifier (fail closed) refuses the message.
func (s *Stage) Handle(ctx context.Context, c *pipeline.Call, next pipeline.Handler) error {
	phase := c.Input.Phase
	if phase == "" {
		phase = policy.PhaseRequest
	}
	if phase == policy.PhaseRequest && !s.request || phase == policy.PhaseResponse && !s.response {
		return next(ctx, c)
	}
	root, v, raw, ok := subject(c, phase)
	if !ok {
		return next(ctx, c)
	}
	var start time.Time
	if s.cfg.Metrics != nil {
		start = time.Now()
	}
	var t policy.Threat
	scanned := false
	if raw != nil {
		t, scanned = s.cfg.Scanner.ScanJSON(root, raw)
	}
	if !scanned {
		// A result ScanJSON leaves to a full decoder, and arguments, which are decoded already.
		if v == nil && raw != nil {
			if v, ok = decodeResult(c, raw); !ok {
				return nil
			}
		}
		t = s.cfg.Scanner.ScanValue(root, v)
	}
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.observe(phase, time.Since(start))
	}

	if s.cfg.Classifier != nil && t.Score >= s.cfg.ClassifyAt {
		if v == nil && raw != nil {
			if v, ok = decodeResult(c, raw); !ok {
				return nil
			}
		}
		more, err := s.classify(ctx, root, v)
		if err != nil {
			s.cfg.Metrics.classifierError()
			if s.cfg.ClassifierFail == pipeline.FailClosed {
				s.cfg.Logger.Error("threat classifier failed; failing closed", "decision_id", c.DecisionID, "phase", phase, "error", err)
				c.Refuse("threat", policy.CodePolicyError, "threat classifier error")
				return nil
			}
			s.cfg.Logger.Error("threat classifier failed; failing open", "decision_id", c.DecisionID, "phase", phase, "error", err)
		} else {
			t = scanner.Merge(t, more...)
		}
	}
	s.cfg.Metrics.findings(t.Findings)
	c.Input.Threat = t
	if t.Score >= scanner.DefaultThreshold {
		c.Threats.Add(t)
	}
	if t.Score >= scanner.DefaultThreshold {
		s.cfg.Logger.Info("threat findings", "decision_id", c.DecisionID, "phase", phase, "score", t.Score, "rules", rules(t.Findings, 8))
	}
	if s.cfg.RefuseAt > 0 && t.Score >= s.cfg.RefuseAt {
		s.cfg.Metrics.refused(phase)
		c.Refuse("threat", policy.CodeThreatDetected,
			fmt.Sprintf("threat score %.2f is at least %.2f: %s", t.Score, s.cfg.RefuseAt, rules(t.Findings, 3)))
		return nil
	}
	return next(ctx, c)
}

// decodeResult decodes a result the gateway did not decode (no policy reads results), as the gateway
// would have; a result that is not JSON is refused as the gateway refuses it.
func decodeResult(c *pipeline.Call, raw []byte) (any, bool) {
	v, err := mcp.DecodeValue(raw)
	if err != nil {
		c.Refuse("codec", policy.CodeMalformed, "upstream result is not valid JSON")
		return nil, false
	}
	return v, true
}

// subject returns what a message's phase scans: the arguments of tools/call and prompts/get or the
// URI of a resource request, and the result in the response phase. A result is scanned from its
// JSON (raw, the response's result member) when the call has it: the gateway decodes it into
// in.Response only when a policy reads results.
func subject(c *pipeline.Call, phase policy.Phase) (root string, v any, raw []byte, ok bool) {
	in := &c.Input
	if phase == policy.PhaseResponse {
		if c.Msg != nil {
			raw = c.Msg.Result
		}
		return "result", in.Response, raw, raw != nil || in.Response != nil
	}
	switch in.Kind {
	case "tools/call":
		return "arguments", in.Tool.Args, nil, true
	case "prompts/get":
		return "arguments", in.Prompt.Args, nil, true
	case "resources/read", "resources/subscribe":
		return "resource.uri", in.Resource.URI, nil, in.Resource.URI != ""
	}
	return "", nil, nil, false
}

// classify asks the external classifier about v, bounded in time and size.
func (s *Stage) classify(ctx context.Context, root string, v any) ([]policy.Finding, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding %s for the classifier: %w", root, err)
	}
	if len(b) > s.cfg.MaxClassifyBytes {
		b = b[:s.cfg.MaxClassifyBytes]
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ClassifierTimeout)
	defer cancel()
	type answer struct {
		fs  []policy.Finding
		err error
	}
	done := make(chan answer, 1)
	go func() {
		fs, err := s.cfg.Classifier.Classify(ctx, string(b))
		done <- answer{fs, err}
	}()
	select {
	case a := <-done:
		if a.err != nil {
			return nil, a.err
		}
		return sanitize(a.fs, root), nil
	case <-ctx.Done():
		// A classifier that ignores its context does not hold the call past the timeout.
		return nil, fmt.Errorf("classifier: %w", context.Cause(ctx))
	}
}

// sanitize keeps a classifier's findings within the scanner's vocabulary: weights in (0, 1], one of
// the six categories (an unknown one is read as prompt_injection, what classifiers detect), a rule
// id and a location.
func sanitize(fs []policy.Finding, root string) []policy.Finding {
	out := make([]policy.Finding, 0, len(fs))
	for _, f := range fs {
		if !(f.Weight > 0) {
			continue
		}
		f.Weight = min(f.Weight, 1)
		known := false
		for _, c := range scanner.Categories {
			known = known || f.Category == c
		}
		if !known {
			f.Category = scanner.PromptInjection
		}
		if f.Rule == "" {
			f.Rule = "classifier"
		}
		if f.Where == "" {
			f.Where = root + " (classifier)"
		}
		out = append(out, f)
	}
	return out
}

// rules lists up to n distinct rule ids of findings with their categories, for logs and the reason
// of a refusal (locations only, never the matched text).
func rules(fs []policy.Finding, n int) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, f := range fs {
		if seen[f.Rule] {
			continue
		}
		if len(seen) == n {
			b.WriteString(", ...")
			break
		}
		seen[f.Rule] = true
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%s) at %s", f.Rule, f.Category, f.Where)
	}
	return b.String()
}
