package pin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Action is what happens to a quarantined tool (one whose definition is not the approved one).
type Action string

// The actions.
const (
	// ActionHide removes the tool from tools/list results and refuses its calls (policy_deny), so
	// that what is listed is what may be called (SPEC §3.4).
	ActionHide Action = "hide"
	// ActionHold keeps the tool listed and holds its calls for approval (require_approval).
	ActionHold Action = "hold"
)

// ToolScanner scans a tool definition; *threat.Scanner (internal/policy/threat) implements it.
type ToolScanner interface {
	ScanTool(name, description string, schema any) policy.Threat
}

// Config is how the Pinner runs.
type Config struct {
	// Store keeps the pins; nil is a new MemoryStore.
	Store Store
	// Action is what happens to a quarantined tool: hide or hold (the default).
	Action Action
	// Scanner, when set, scans every definition the pinner sees for the first time (new tools and
	// changed definitions); the findings are reported in the Observation.
	Scanner ToolScanner
	// PoisonAt, with a Scanner, quarantines a new tool whose definition scores at least PoisonAt as
	// if it had changed (reason poisoned), until an operator approves it. 0 only reports.
	PoisonAt float64
	// Fail is the posture when the store cannot answer during a call or a list: closed (the
	// default) treats the tool as quarantined, open lets it through and logs at ERROR.
	Fail pipeline.Fail
	// Metrics are the pinner's metrics (NewMetrics); nil records none.
	Metrics *Metrics
	// Logger receives store failures; nil discards.
	Logger *slog.Logger
}

// Pinner pins tool definitions and quarantines the ones that change. It is safe for concurrent use.
type Pinner struct {
	store    Store
	action   Action
	scanner  ToolScanner
	poisonAt float64
	fail     pipeline.Fail
	metrics  *Metrics
	logger   *slog.Logger
}

// New returns a Pinner, or an error for an invalid configuration.
func New(cfg Config) (*Pinner, error) {
	p := &Pinner{store: cfg.Store, action: cfg.Action, scanner: cfg.Scanner, poisonAt: cfg.PoisonAt,
		fail: cfg.Fail, metrics: cfg.Metrics, logger: cfg.Logger}
	if p.store == nil {
		p.store = NewMemoryStore()
	}
	switch p.action {
	case "":
		p.action = ActionHold
	case ActionHide, ActionHold:
	default:
		return nil, fmt.Errorf("pin: action must be hide or hold, got %q", cfg.Action)
	}
	switch p.fail {
	case "":
		p.fail = pipeline.FailClosed
	case pipeline.FailClosed, pipeline.FailOpen:
	default:
		return nil, fmt.Errorf("pin: fail must be open or closed, got %q", cfg.Fail)
	}
	if cfg.PoisonAt < 0 || cfg.PoisonAt > 1 {
		return nil, fmt.Errorf("pin: poison_at must be between 0 and 1, got %v", cfg.PoisonAt)
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	return p, nil
}

// Action returns what happens to quarantined tools.
func (p *Pinner) Action() Action { return p.action }

// Status is what an observation concluded.
type Status string

// The statuses. New, Changed, Poisoned and Restored are transitions worth an audit record;
// Unchanged and Quarantined repeat what is already known.
const (
	// StatusNew: first sight, pinned.
	StatusNew Status = "new"
	// StatusUnchanged: the approved definition again.
	StatusUnchanged Status = "unchanged"
	// StatusChanged: a definition differing from the approved one, seen for the first time; the
	// tool is quarantined.
	StatusChanged Status = "changed"
	// StatusQuarantined: the same unapproved definition as last time.
	StatusQuarantined Status = "quarantined"
	// StatusPoisoned: first sight of a definition the scanner reads as poisoned; quarantined.
	StatusPoisoned Status = "poisoned"
	// StatusRestored: the server went back to the approved definition; the quarantine is lifted.
	StatusRestored Status = "restored"
)

// Report reports whether the status is a transition the gateway should audit.
func (s Status) Report() bool {
	return s == StatusNew || s == StatusChanged || s == StatusPoisoned || s == StatusRestored
}

// Observation is the pinner's conclusion about one tool definition.
type Observation struct {
	// Upstream and Tool name the tool observed.
	Upstream, Tool string
	// Digest is the digest of the definition observed.
	Digest string
	// Approved is the digest approved before this observation ("" when none was).
	Approved string
	// Status is what the observation concluded; Status.Report says whether to audit it.
	Status Status
	// Threat is the scanner's reading of the definition, for statuses New, Changed and Poisoned
	// when a Scanner is configured; zero otherwise.
	Threat policy.Threat
}

// Quarantined reports whether the tool is quarantined after the observation.
func (o Observation) Quarantined() bool {
	return o.Status == StatusChanged || o.Status == StatusQuarantined || o.Status == StatusPoisoned
}

// maxRetries bounds the compare-and-swap loop; more contention than this on one tool is an error.
const maxRetries = 16

// Observe pins or checks one tool definition (an element of a tools/list result's tools array) of
// upstream.
func (p *Pinner) Observe(ctx context.Context, upstream string, def map[string]any) (Observation, error) {
	t, err := p.newTool(upstream, def)
	if err != nil {
		return Observation{}, err
	}
	for range maxRetries {
		cur, ok, err := p.store.Load(ctx, upstream, t.o.Tool)
		if err != nil {
			return Observation{}, fmt.Errorf("pin: loading %s/%s: %w", upstream, t.o.Tool, err)
		}
		swap, write := t.plan(cur, ok)
		if !write {
			return t.o, nil
		}
		swapped, err := p.store.CompareAndSwap(ctx, upstream, swap.Tool, swap.Old, swap.Next)
		if err != nil {
			return Observation{}, fmt.Errorf("pin: storing %s/%s: %w", upstream, t.o.Tool, err)
		}
		if swapped {
			p.metrics.observed(t.o.Status)
			return t.o, nil
		}
	}
	return Observation{}, fmt.Errorf("pin: %s/%s: too much contention", upstream, t.o.Tool)
}

// ObserveList observes every tool of a decoded tools/list result ({"tools": [...]}) from upstream,
// in order. A malformed element is an error; the observations made before it are returned with it.
// With a BatchStore the changes of the whole list are stored at once (one write of a FileStore,
// not one per new tool); a swap that lost a race is retried alone, as Observe does. A list that
// names a tool twice is observed one definition at a time: each must be judged against what the
// one before it stored (a definition listed after the approved one stays quarantined).
func (p *Pinner) ObserveList(ctx context.Context, upstream string, result any) ([]Observation, error) {
	m, ok := result.(map[string]any)
	if !ok {
		return nil, errors.New("pin: tools/list result is not an object")
	}
	tools, ok := m["tools"].([]any)
	if !ok {
		return nil, errors.New("pin: tools/list result has no tools array")
	}
	batch, ok := p.store.(BatchStore)
	if !ok || repeatsAName(tools) {
		out := make([]Observation, 0, len(tools))
		for i, t := range tools {
			def, ok := t.(map[string]any)
			if !ok {
				return out, fmt.Errorf("pin: tools[%d] is not an object", i)
			}
			o, err := p.Observe(ctx, upstream, def)
			if err != nil {
				return out, err
			}
			out = append(out, o)
		}
		return out, nil
	}
	// Every well-formed definition before the first malformed one is observed; then the error.
	ts := make([]*toolSeen, 0, len(tools))
	var malformed error
	for i, t := range tools {
		def, ok := t.(map[string]any)
		if !ok {
			malformed = fmt.Errorf("pin: tools[%d] is not an object", i)
			break
		}
		ts2, err := p.newTool(upstream, def)
		if err != nil {
			malformed = err
			break
		}
		ts = append(ts, ts2)
	}
	var swaps []Swap
	var writes []int // the index in ts of each swap
	for i, t := range ts {
		cur, ok, err := p.store.Load(ctx, upstream, t.o.Tool)
		if err != nil {
			return nil, fmt.Errorf("pin: loading %s/%s: %w", upstream, t.o.Tool, err)
		}
		if swap, write := t.plan(cur, ok); write {
			swaps, writes = append(swaps, swap), append(writes, i)
		}
	}
	lost := make([]bool, len(ts)) // ts[i]'s observation could not be stored
	var failed error
	if len(swaps) > 0 {
		done, err := batch.CompareAndSwapMany(ctx, upstream, swaps)
		if err != nil {
			return nil, fmt.Errorf("pin: storing the tools of %s: %w", upstream, err)
		}
		for j, i := range writes {
			if done[j] {
				p.metrics.observed(ts[i].o.Status)
				continue
			}
			o, err := p.Observe(ctx, upstream, ts[i].def)
			if err != nil {
				// The others were stored: they are still reported, so that each is audited.
				lost[i] = true
				if failed == nil {
					failed = err
				}
				continue
			}
			ts[i].o = o
		}
	}
	out := make([]Observation, 0, len(ts))
	for i, t := range ts {
		if !lost[i] {
			out = append(out, t.o)
		}
	}
	if failed != nil {
		return out, failed
	}
	return out, malformed
}

// repeatsAName reports whether a tools array names a tool twice.
func repeatsAName(tools []any) bool {
	seen := make(map[string]bool, len(tools))
	for _, t := range tools {
		def, _ := t.(map[string]any)
		name, _ := def["name"].(string)
		if seen[name] {
			return true
		}
		seen[name] = true
	}
	return false
}

// toolSeen is one definition being observed: what Observe and ObserveList conclude from the
// stored record.
type toolSeen struct {
	p       *Pinner
	def     map[string]any
	o       Observation
	scanned bool
}

func (p *Pinner) newTool(upstream string, def map[string]any) (*toolSeen, error) {
	name, _ := def["name"].(string)
	if name == "" {
		return nil, errors.New("pin: tool definition without a name")
	}
	digest, err := Digest(def)
	if err != nil {
		return nil, fmt.Errorf("pin: %s: %w", name, err)
	}
	return &toolSeen{p: p, def: def, o: Observation{Upstream: upstream, Tool: name, Digest: digest}}, nil
}

// scan reads the definition with the scanner, once.
func (t *toolSeen) scan() {
	if t.p.scanner != nil && !t.scanned {
		desc, _ := t.def["description"].(string)
		t.o.Threat = t.p.scanner.ScanTool(t.o.Tool, desc, t.def["inputSchema"])
		t.scanned = true
	}
}

// plan sets t.o from the stored record (cur, if ok) and returns the swap that stores the
// observation, if one must.
func (t *toolSeen) plan(cur Record, ok bool) (Swap, bool) {
	digest := t.o.Digest
	swap := Swap{Tool: t.o.Tool}
	t.o.Approved = ""
	switch {
	case !ok:
		t.scan()
		swap.Next, t.o.Status = Record{Approved: digest, Seen: digest}, StatusNew
		if t.p.poisonAt > 0 && t.o.Threat.Score >= t.p.poisonAt {
			swap.Next, t.o.Status = Record{Seen: digest, Reason: ReasonPoisoned}, StatusPoisoned
		}
	case digest == cur.Approved && digest == cur.Seen:
		t.o.Approved, t.o.Status = cur.Approved, StatusUnchanged
		return Swap{}, false
	case digest == cur.Approved:
		swap.Old, t.o.Approved = &cur, cur.Approved
		swap.Next, t.o.Status = Record{Approved: digest, Seen: digest}, StatusRestored
	case digest == cur.Seen:
		t.o.Approved, t.o.Status = cur.Approved, StatusQuarantined
		return Swap{}, false
	default:
		t.scan()
		swap.Old, t.o.Approved = &cur, cur.Approved
		swap.Next, t.o.Status = Record{Approved: cur.Approved, Seen: digest, Reason: ReasonChanged}, StatusChanged
	}
	return swap, true
}

// ErrNotPinned is returned when approving a tool that was never seen.
var ErrNotPinned = errors.New("pin: tool was never seen")

// ErrDigestMismatch is returned by ApproveDigest when the definition seen last is not the one the
// operator reviewed.
var ErrDigestMismatch = errors.New("pin: the definition changed since it was reviewed")

// Approve approves the definition of tool seen last, lifting its quarantine, and returns its
// digest. Prefer ApproveDigest, which cannot approve a definition that changed again after the
// operator looked at it.
func (p *Pinner) Approve(ctx context.Context, upstream, tool string) (string, error) {
	return p.approve(ctx, upstream, tool, "")
}

// ApproveDigest approves the definition of tool with the given digest, which must be the one seen
// last (errors.Is ErrDigestMismatch otherwise).
func (p *Pinner) ApproveDigest(ctx context.Context, upstream, tool, digest string) error {
	_, err := p.approve(ctx, upstream, tool, digest)
	return err
}

func (p *Pinner) approve(ctx context.Context, upstream, tool, digest string) (string, error) {
	for range maxRetries {
		cur, ok, err := p.store.Load(ctx, upstream, tool)
		if err != nil {
			return "", fmt.Errorf("pin: loading %s/%s: %w", upstream, tool, err)
		}
		if !ok {
			return "", fmt.Errorf("%w: %s/%s", ErrNotPinned, upstream, tool)
		}
		if digest != "" && cur.Seen != digest {
			return "", fmt.Errorf("%w: %s/%s is now %s", ErrDigestMismatch, upstream, tool, cur.Seen)
		}
		if !cur.Quarantined() {
			return cur.Seen, nil
		}
		swapped, err := p.store.CompareAndSwap(ctx, upstream, tool, &cur, Record{Approved: cur.Seen, Seen: cur.Seen})
		if err != nil {
			return "", fmt.Errorf("pin: storing %s/%s: %w", upstream, tool, err)
		}
		if swapped {
			p.metrics.observed("approved")
			return cur.Seen, nil
		}
	}
	return "", fmt.Errorf("pin: %s/%s: too much contention", upstream, tool)
}

// Status returns the pin of tool on upstream, and whether there is one.
func (p *Pinner) Status(ctx context.Context, upstream, tool string) (Record, bool, error) {
	return p.store.Load(ctx, upstream, tool)
}

// quarantined reports whether calls to tool must be held or hidden, applying the fail posture to a
// store error.
func (p *Pinner) quarantined(ctx context.Context, upstream, tool string) (Record, bool) {
	r, ok, err := p.store.Load(ctx, upstream, tool)
	if err != nil {
		p.metrics.storeError()
		if p.fail == pipeline.FailOpen {
			p.logger.Error("pin store failed; failing open", "upstream", upstream, "tool", tool, "error", err)
			return Record{}, false
		}
		p.logger.Error("pin store failed; failing closed", "upstream", upstream, "tool", tool, "error", err)
		return Record{Reason: "store_error"}, true
	}
	return r, ok && r.Quarantined()
}
