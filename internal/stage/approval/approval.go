// Package approval is the stage that turns a hold (require_approval, hold_for_approval) into an
// approval a human decides (SPEC §10.1–10.3).
//
// A held call gets an approval record bound to the exact call: the SHA-256 of its canonical method,
// tool and arguments, its caller, its engagement and its upstream. The client then either waits (the
// request stays open up to approvals.wait, with progress notifications where it asked for them) or,
// with no wait configured, is answered approval_required with the approval's id at once and retries
// the same call once a human has approved it. A 2026-07-28 client that declares form elicitation is
// answered, instead of approval_required (or approval_timeout after a wait), with an input_required
// result that asks its human to retry (Decision.Ask); its retry comes back with gatehouse's
// requestState, which the gateway takes off before the call is decided again, and a retry its
// human declined withdraws the approval. An approval lets exactly one identical call through, once,
// before it expires; a denied or expired one is answered approval_denied or approval_timeout.
//
// The stage sits after the decision and before budgets, so an approved call is counted against its
// budgets like any forwarded call, and a kill made while a call waited still stops it.
package approval

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/canonjson"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/redact"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/kill"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// Store is what the stage keeps approvals in, and reads kills from.
type Store interface {
	state.ApprovalStore
	Killed(ctx context.Context, scopes ...string) (scope, reason string, err error)
}

// Defaults of Options.
const (
	DefaultTTL        = time.Hour
	DefaultMaxPending = 1000
	// DefaultMaxPendingPerCaller bounds the approvals one caller has pending in one engagement.
	DefaultMaxPendingPerCaller = 20
	DefaultPoll                = 250 * time.Millisecond
	// ProgressEvery is how often a waiting client that asked for progress is told it still waits.
	ProgressEvery = 10 * time.Second
)

// Options configure the stage.
type Options struct {
	Store Store
	// Wait is how long a held request stays open for a decision; 0 answers approval_required at
	// once, and the client retries the call once it is approved.
	Wait time.Duration
	// TTL is how long a hold may be decided, and an approval used, after the hold was made.
	TTL time.Duration
	// MaxPending bounds the approvals pending at once, and MaxPendingPerCaller those of one caller
	// in one engagement; a hold past either is answered approval_required with no approval to wait
	// for.
	MaxPending, MaxPendingPerCaller int
	// Poll is how often a waiting call reads its approval's state.
	Poll time.Duration
	// Notify is told of every new hold (the webhook) once the hold's audit record is on disk; it
	// must not block. May be nil.
	Notify func(state.Approval)
	// Now is the clock (time.Now).
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics *Metrics
}

// Stage handles holds.
type Stage struct{ o Options }

var _ pipeline.Stage = (*Stage)(nil)

// New returns the approval stage.
func New(o Options) *Stage {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.MaxPendingPerCaller <= 0 {
		o.MaxPendingPerCaller = DefaultMaxPendingPerCaller
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Metrics.source(o.Store)
	return &Stage{o: o}
}

// Name implements pipeline.Stage.
func (*Stage) Name() string { return "approval" }

// Handle implements pipeline.Stage.
func (s *Stage) Handle(ctx context.Context, c *pipeline.Call, next pipeline.Handler) error {
	if (c.HoldAnswer == "decline" || c.HoldAnswer == "cancel") && (c.Decision.Forwards() || c.Decision.Effect == policy.EffectRequireApproval) {
		// The retry that an input_required answer asked for, sent although its human declined:
		// not forwarded even if the policies would now let it through, and it uses no approval.
		// The approval it was held for is withdrawn, so that nobody approves a call its user gave
		// up, and no later identical call goes through on it.
		ruleID := c.Decision.RuleID
		reason := "the client's user declined to retry this held call, so it is not forwarded"
		id := ""
		if how := s.withdraw(ctx, c); how != "" {
			reason += "; " + how
			id = c.HoldApproval
		}
		c.Refuse(s.Name(), policy.CodeApprovalRequired, reason)
		c.Decision.RuleID, c.Decision.ApprovalID = ruleID, id
		return nil
	}
	if c.Decision.Effect != policy.EffectRequireApproval {
		return next(ctx, c)
	}
	c.Decision.Code = policy.CodeApprovalRequired
	if c.Decision.Reason == "" {
		c.Decision.Reason = "this call needs a human approval"
	}
	a, err := s.approvalFor(c)
	if err != nil {
		s.o.Logger.Warn("a held call opens no approval; it stays held", "decision_id", c.DecisionID, "error", err)
		c.Decision.Reason += " (no approval could be opened: " + err.Error() + ")"
		return nil
	}
	got, outcome, err := s.o.Store.Hold(ctx, a, state.PendingLimits{Total: s.o.MaxPending, PerCaller: s.o.MaxPendingPerCaller})
	switch {
	case errors.Is(err, state.ErrTooManyPending):
		s.o.Logger.Warn("too many approvals pending: a held call gets no approval", "decision_id", c.DecisionID, "caller", a.Caller, "error", err)
		c.Decision.Reason += " (no approval could be opened: too many are pending already)"
		return nil
	case err != nil:
		// Fail closed: the call stays held, with no approval that could let it through.
		s.o.Logger.Error("approval state unavailable: a held call gets no approval", "decision_id", c.DecisionID, "error", err)
		c.Decision.Reason += " (the approval state is unavailable)"
		return nil
	}
	c.Decision.ApprovalID = got.ID
	switch outcome {
	case state.HoldApproved:
		return s.approved(ctx, c, got, next)
	case state.HoldDenied:
		denied(c, got)
		return nil
	case state.HoldCreated:
		s.o.Logger.Info("call held for approval", "approval_id", got.ID, "tool", got.Tool, "caller", got.Caller, "decision_id", c.DecisionID)
		if s.o.Notify != nil {
			c.Decision.OnDurable(func() { s.o.Notify(got) }) // announced once the hold is on record
		}
	}
	c.Decision.Reason = fmt.Sprintf("%s; approval %s is pending until %s", c.Decision.Reason, got.ID, got.Expires.UTC().Format(time.RFC3339))
	c.Decision.Ask = c.Request != nil && c.Request.Elicits
	if s.o.Wait > 0 {
		c.Wait = func(ctx context.Context, progress func(string)) error { return s.await(ctx, c, got, next, progress) }
	}
	return nil
}

// Withdrawn is the note of an approval its caller withdrew: its user declined to retry the call.
const Withdrawn = "withdrawn: the caller's user declined to retry the held call"

// withdraw withdraws the approval that a declined retry names, if it is bound to this very call
// (the retry's state is the client's word), and says how: a pending one is denied, its caller the
// approver of record; one already granted is used up, unforwarded. "" when there is none to
// withdraw.
func (s *Stage) withdraw(ctx context.Context, c *pipeline.Call) string {
	if c.HoldApproval == "" {
		return ""
	}
	want, err := s.approvalFor(c)
	if err != nil {
		return ""
	}
	a, err := s.o.Store.Approval(ctx, c.HoldApproval)
	if err != nil || a.Binding() != want.Binding() {
		return ""
	}
	switch a.Status {
	case state.ApprovalPending:
		approver := want.Caller
		if approver == "" {
			approver = "anonymous caller"
		}
		_, err = s.o.Store.DecideApproval(ctx, a.ID, false, approver, Withdrawn)
	case state.ApprovalApproved:
		var used bool
		if _, used, err = s.o.Store.ConsumeApproval(ctx, a.ID); err == nil && !used {
			return "" // an identical call used it meanwhile, or it expired
		}
	default:
		return ""
	}
	if err != nil {
		// Decided meanwhile, or the state is unavailable: the retry is refused all the same.
		s.o.Logger.Warn("a declined retry's approval could not be withdrawn", "approval_id", a.ID, "decision_id", c.DecisionID, "error", err)
		return ""
	}
	s.o.Logger.Info("approval withdrawn by its caller", "approval_id", a.ID, "was", a.Status, "caller", want.Caller, "decision_id", c.DecisionID)
	if a.Status == state.ApprovalApproved {
		return fmt.Sprintf("approval %s, granted by %s, is used up without the call being forwarded", a.ID, a.Approver)
	}
	return fmt.Sprintf("approval %s is withdrawn (denied)", a.ID)
}

// Bounds of what an approval keeps of a call: its parameters are shown whole to the human deciding,
// so a call whose parameters are larger opens no approval; names and reasons are cut.
const (
	MaxParams = 64 << 10
	maxName   = 256
	maxReason = 1024
)

// approvalFor is the approval a held call would open.
func (s *Stage) approvalFor(c *pipeline.Call) (state.Approval, error) {
	params, err := CallParams(c.Msg.Params)
	if err != nil {
		return state.Approval{}, err
	}
	digest, err := Digest(c.Input.Kind, params)
	if err != nil {
		return state.Approval{}, err
	}
	var shown bytes.Buffer
	if err := canonjson.AppendVerbatim(&shown, maskSecrets(params)); err != nil {
		return state.Approval{}, err
	}
	if shown.Len() > MaxParams {
		return state.Approval{}, fmt.Errorf("its parameters (%d bytes) are too large to show a human in full (at most %d)", shown.Len(), MaxParams)
	}
	now := s.o.Now()
	a := state.Approval{
		ID: "apr_" + rand.Text(), Digest: digest, Caller: Caller(&c.Input), Tenant: c.Input.Tenant, Upstream: c.Upstream,
		Method: c.Input.Kind, Tool: redact.Clip(c.Input.Target(), maxName), RuleID: redact.Clip(c.Decision.RuleID, maxName),
		Reason: redact.Clip(redact.Text(c.Decision.Reason), maxReason), Revision: revision(c.Decision.Revisions), Params: shown.String(),
		DecisionID: c.DecisionID, Created: now, Expires: now.Add(s.o.TTL),
	}
	if c.Request != nil && c.Request.RawArguments != nil {
		a.Arguments = redact.Preview(c.Request.RawArguments)
	}
	return a, nil
}

// CallParams are the parameters of a call that an approval is bound to: its params without _meta,
// except the _meta members gatehouse reads as workflow attributes (gatehouse/…), which can change a
// decision. A progress token or trace context in _meta changes from one try of a call to the next.
func CallParams(raw []byte) (map[string]any, error) {
	params := map[string]any{}
	if len(raw) > 0 {
		p, err := mcp.DecodeObject(raw)
		if err != nil {
			return nil, fmt.Errorf("params: %w", err)
		}
		params = p
	}
	meta, _ := params["_meta"].(map[string]any)
	delete(params, "_meta")
	kept := map[string]any{}
	for k, v := range meta {
		if strings.HasPrefix(k, mcp.MetaPrefix) {
			kept[k] = v
		}
	}
	if len(kept) > 0 {
		params["_meta"] = kept
	}
	return params, nil
}

// Digest is the call digest of SPEC §10.1: the hex SHA-256 of the canonical JSON (canonjson's exact
// form) of {"method": method, "params": params}, params as CallParams reads them (for tools/call:
// the tool's name and its arguments).
func Digest(method string, params map[string]any) (string, error) {
	var b bytes.Buffer
	if err := canonjson.AppendExact(&b, map[string]any{"method": method, "params": params}); err != nil {
		return "", fmt.Errorf("call digest: %w", err)
	}
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:]), nil
}

// maskSecrets is v with every string that reads as a secret by its form (a token, a key, a card
// number; redact.Text) masked. Member names are kept, and so are the values under names that
// merely sound secret: the human deciding must see the call that an approval lets through.
func maskSecrets(v any) any {
	switch x := v.(type) {
	case string:
		return redact.Text(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = maskSecrets(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = maskSecrets(e)
		}
		return out
	}
	return v
}

// Caller names who made a call, for binding an approval to it: the agent, else the user, else the
// legacy session; "" for an anonymous 2026-07-28 caller.
func Caller(in *policy.Input) string {
	switch {
	case in.Agent.ID != "":
		return "agent:" + in.Agent.ID
	case in.User.ID != "":
		return "user:" + in.User.ID
	case in.Session.ID != "":
		return "session:" + in.Session.ID
	}
	return ""
}

func revision(r pipeline.Revisions) string {
	var parts []string
	for _, p := range [][2]string{{"rules", r.Rules}, {"bundle", r.Bundle}, {"pack", r.Pack}} {
		if p[1] != "" {
			parts = append(parts, p[0]+"="+p[1])
		}
	}
	return strings.Join(parts, " ")
}

// approved lets a call through on the approval a, which the store has already marked used: the
// engines' verdicts are combined again with the holds counted as allows (so other engines' rewrites
// still apply), a kill made meanwhile still stops it, and the rest of the chain (budgets) runs.
func (s *Stage) approved(ctx context.Context, c *pipeline.Call, a state.Approval, next pipeline.Handler) error {
	if scope, why, err := s.o.Store.Killed(ctx, kill.Scopes(&c.Input)...); err != nil || scope != "" {
		if err != nil {
			why = "kill state unavailable"
		}
		c.Refuse(s.Name(), policy.CodeSessionKilled, fmt.Sprintf("approval %s was granted, but %s is killed: %s", a.ID, orAll(scope), why))
		c.Decision.ApprovalID = a.ID
		return nil
	}
	held := c.Decision
	vs := make([]pipeline.Verdict, len(c.Verdicts))
	for i, v := range c.Verdicts {
		if v.Effect == policy.EffectRequireApproval && !v.Monitor {
			v.Effect, v.Code = policy.EffectAllow, ""
		}
		vs[i] = v
	}
	d := pipeline.Combine(vs)
	d.Revisions, d.ApprovalID = held.Revisions, a.ID
	d.RuleID, d.Engine = held.RuleID, held.Engine
	d.Reason = fmt.Sprintf("approved by %s (approval %s)", a.Approver, a.ID)
	if a.Note != "" {
		d.Reason += ": " + a.Note
	}
	c.Decision = d
	s.o.Logger.Info("held call approved", "approval_id", a.ID, "approver", a.Approver, "decision_id", c.DecisionID)
	return next(ctx, c)
}

func orAll(scope string) string {
	if scope == "" {
		return "its scope"
	}
	return scope
}

// denied answers a call whose approval a human denied.
func denied(c *pipeline.Call, a state.Approval) {
	ruleID := c.Decision.RuleID
	reason := fmt.Sprintf("approval %s was denied by %s", a.ID, a.Approver)
	if a.Note != "" {
		reason += ": " + a.Note
	}
	c.Refuse("approval", policy.CodeApprovalDenied, reason)
	c.Decision.RuleID, c.Decision.ApprovalID = ruleID, a.ID
}

// await waits for a human to decide a, until s.o.Wait has passed, a expires, or ctx ends.
func (s *Stage) await(ctx context.Context, c *pipeline.Call, a state.Approval, next pipeline.Handler, progress func(string)) error {
	s.o.Metrics.waiting(1)
	defer s.o.Metrics.waiting(-1)
	start := s.o.Now()
	deadline := min(s.o.Wait, a.Expires.Sub(start))
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	poll := time.NewTicker(s.o.Poll)
	defer poll.Stop()
	var tick <-chan time.Time
	if progress != nil {
		t := time.NewTicker(ProgressEvery)
		defer t.Stop()
		tick = t.C
		progress(fmt.Sprintf("waiting for approval %s", a.ID))
	}
	for {
		select {
		case <-ctx.Done():
			c.Decision.Ask = false // a client that stopped waiting is not asked to retry
			s.timedOut(c, a, "the client stopped waiting")
			return nil
		case <-timer.C:
			s.timedOut(c, a, fmt.Sprintf("no decision within %s", deadline.Round(time.Second)))
			return nil
		case <-tick:
			progress(fmt.Sprintf("waiting for approval %s (%s so far)", a.ID, s.o.Now().Sub(start).Round(time.Second)))
		case <-poll.C:
			now, err := s.o.Store.Approval(ctx, a.ID)
			if err != nil {
				s.o.Logger.Warn("approval state unavailable while a call waits", "approval_id", a.ID, "error", err)
				continue
			}
			switch now.Status {
			case state.ApprovalApproved:
				got, ok, err := s.o.Store.ConsumeApproval(ctx, a.ID)
				switch {
				case err != nil:
					s.o.Logger.Warn("approval state unavailable while a call waits", "approval_id", a.ID, "error", err)
					continue
				case !ok:
					// An identical call retried meanwhile, and used the approval.
					denied(c, now)
					c.Decision.Reason = fmt.Sprintf("approval %s was used by an identical call", a.ID)
					return nil
				}
				return s.approved(ctx, c, got, next)
			case state.ApprovalDenied:
				denied(c, now)
				return nil
			case state.ApprovalExpired, state.ApprovalUsed:
				s.timedOut(c, now, "it expired undecided")
				return nil
			}
		}
	}
}

// timedOut answers a call nobody decided in time; its approval stays pending until it expires, so
// the client may retry once it is approved (and a client that can be asked, is: Decision.Ask).
func (s *Stage) timedOut(c *pipeline.Call, a state.Approval, why string) {
	c.Decision.Code = policy.CodeApprovalTimeout
	c.Decision.Reason = fmt.Sprintf("approval %s: %s", a.ID, why)
	if a.Status == state.ApprovalPending && a.Expires.After(s.o.Now()) {
		c.Decision.Reason += fmt.Sprintf("; it stays pending until %s, and the same call retried after it is approved goes through", a.Expires.UTC().Format(time.RFC3339))
	} else {
		c.Decision.Ask = false
	}
}
