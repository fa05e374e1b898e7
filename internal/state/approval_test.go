package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/testpeer/redistest"
)

// approvalStart is when the approval tests' clocks start.
var approvalStart = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// approvalsOf makes an empty store of mk on clk's clock, as an ApprovalStore.
func approvalsOf(t *testing.T, mk maker, clk *clock) ApprovalStore {
	t.Helper()
	s, ok := mk(clk.now, 0, 0).(ApprovalStore)
	if !ok {
		t.Fatal("the store is not an ApprovalStore")
	}
	return s
}

// heldCall is the approval the gateway would make for a call of tool by caller held at created for
// ttl: calls of the same tool by the same caller share a binding.
func heldCall(id, caller, tool string, created time.Time, ttl time.Duration) Approval {
	digest := sha256.Sum256([]byte("tools/call " + tool + " {}"))
	return Approval{ID: id, Digest: hex.EncodeToString(digest[:]), Caller: caller, Tenant: "acme",
		Upstream: "payments", Method: "tools/call", Tool: tool, RuleID: "hold-" + tool,
		DecisionID: "d-" + id, Created: created, Expires: created.Add(ttl)}
}

// holdWant holds a and checks the outcome and which approval, in which status, came back.
func holdWant(t *testing.T, s ApprovalStore, a Approval, maxPending int, want HoldOutcome, wantID, wantStatus string) Approval {
	t.Helper()
	got, out, err := s.Hold(context.Background(), a, PendingLimits{Total: maxPending})
	if err != nil {
		t.Fatalf("Hold(%s): %v", a.ID, err)
	}
	if out != want || got.ID != wantID || got.Status != wantStatus {
		t.Fatalf("Hold(%s) = %s %s, outcome %d; want %s %s, outcome %d", a.ID, got.ID, got.Status, out, wantID, wantStatus, want)
	}
	return got
}

// statusWant checks that approval id reads as status.
func statusWant(t *testing.T, s ApprovalStore, id, status string) Approval {
	t.Helper()
	got, err := s.Approval(context.Background(), id)
	if err != nil {
		t.Fatalf("Approval(%s): %v", id, err)
	}
	if got.ID != id || got.Status != status {
		t.Fatalf("Approval(%s) = %s %s, want %s %s", id, got.ID, got.Status, id, status)
	}
	return got
}

// decide decides approval id and fails the test if that fails.
func decide(t *testing.T, s ApprovalStore, id string, approve bool) Approval {
	t.Helper()
	a, err := s.DecideApproval(context.Background(), id, approve, "user:ops", "")
	if err != nil {
		t.Fatalf("DecideApproval(%s, %v): %v", id, approve, err)
	}
	return a
}

// Each outcome of Hold: a new call is held, a retry finds it pending, an approval lets one call
// through once, a denial is reported once and unbinds.
func testApprovalHoldOutcomes(t *testing.T, mk maker) {
	clk := &clock{t: approvalStart}
	s := approvalsOf(t, mk, clk)
	ctx := context.Background()
	call := func(id string) Approval { return heldCall(id, "agent:alice", "pay", clk.t, 10*time.Minute) }

	first := holdWant(t, s, call("a1"), 0, HoldCreated, "a1", ApprovalPending)
	got := holdWant(t, s, call("a2"), 0, HoldPending, "a1", ApprovalPending)
	if !reflect.DeepEqual(got, first) {
		t.Errorf("a retry got %+v, want the first approval unchanged %+v", got, first)
	}
	if _, err := s.Approval(ctx, "a2"); !errors.Is(err, ErrNoApproval) {
		t.Errorf("the retry's own approval was stored: %v", err)
	}
	bob := call("b1")
	bob.Caller = "agent:bob"
	holdWant(t, s, bob, 0, HoldCreated, "b1", ApprovalPending) // another caller's call: its own approval

	decide(t, s, "a1", true)
	holdWant(t, s, call("a3"), 0, HoldApproved, "a1", ApprovalUsed)
	statusWant(t, s, "a1", ApprovalUsed)
	// Single use: the same call again is held anew.
	holdWant(t, s, call("a4"), 0, HoldCreated, "a4", ApprovalPending)

	decide(t, s, "a4", false)
	holdWant(t, s, call("a5"), 0, HoldDenied, "a4", ApprovalDenied)
	// The denial unbound the call: the next one is held anew; the denial stays to read.
	holdWant(t, s, call("a6"), 0, HoldCreated, "a6", ApprovalPending)
	statusWant(t, s, "a4", ApprovalDenied)
	statusWant(t, s, "b1", ApprovalPending)
}

// Every field of an approval comes back as it was stored, its times in UTC at microsecond
// precision; a held approval starts pending and undecided whatever it was given.
func testApprovalRoundTrip(t *testing.T, mk maker) {
	zone := time.FixedZone("UTC+2", 2*3600)
	clk := &clock{t: time.Date(2026, 11, 20, 12, 0, 0, 123456789, zone)}
	s := approvalsOf(t, mk, clk)
	ctx := context.Background()
	in := Approval{ID: "ap-1", Digest: strings.Repeat("ab", 32), Caller: "session:s 1", Tenant: "acme",
		Upstream: "pay:eu", Method: "tools/call", Tool: "wire_transfer", RuleID: "hold-wire",
		Reason: "a human signs off wires ✓", Revision: "rules v3, bundle r7, pack 9f2c",
		Arguments: `{"amount":1e6,"to":"\n\u0000"}`, Params: `{"arguments":{"amount":1e6}}`, DecisionID: "dec-42",
		Created: clk.t, Expires: clk.t.Add(5*time.Minute + 999), Status: ApprovalApproved,
		Approver: "user:mallory", Note: "pre-approved", Decided: clk.t}
	want := in
	want.Created = time.Date(2026, 11, 20, 10, 0, 0, 123456000, time.UTC)
	want.Expires = time.Date(2026, 11, 20, 10, 5, 0, 123457000, time.UTC) // 123456789 + 999 ns, cut
	want.Status, want.Approver, want.Note, want.Decided = ApprovalPending, "", "", time.Time{}
	check := func(what string, got Approval) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", what, got, want)
		}
	}

	got, out, err := s.Hold(ctx, in, PendingLimits{Total: 0})
	if err != nil || out != HoldCreated {
		t.Fatalf("Hold: outcome %d, %v", out, err)
	}
	check("Hold", got)
	got, _ = s.Approval(ctx, in.ID)
	check("Approval", got)
	list, _ := s.Approvals(ctx)
	if len(list) != 1 {
		t.Fatalf("Approvals listed %d, want 1", len(list))
	}
	check("Approvals", list[0])

	clk.t = clk.t.Add(90*time.Second + 999)
	want.Status, want.Approver, want.Note = ApprovalApproved, "user:ops ✓", "ok: checked\nwith finance"
	want.Decided = time.Date(2026, 11, 20, 10, 1, 30, 123457000, time.UTC)
	got, err = s.DecideApproval(ctx, in.ID, true, want.Approver, want.Note)
	if err != nil {
		t.Fatal(err)
	}
	check("DecideApproval", got)
	got, _ = s.Approval(ctx, in.ID)
	check("Approval after the decision", got)
	want.Status = ApprovalUsed
	got, ok, err := s.ConsumeApproval(ctx, in.ID)
	if !ok || err != nil {
		t.Fatalf("ConsumeApproval: %v %v", ok, err)
	}
	check("ConsumeApproval", got)
	list, _ = s.Approvals(ctx)
	check("Approvals after use", list[0])
}

// A pending or approved approval is live until its Expires, then reads as expired: it can no longer
// be decided or used, and the call is held anew. A denial does not expire.
func testApprovalExpiry(t *testing.T, mk maker) {
	clk := &clock{t: approvalStart}
	s := approvalsOf(t, mk, clk)
	ctx := context.Background()
	call := func(id string) Approval { return heldCall(id, "agent:alice", "pay", clk.t, 5*time.Minute) }

	p := holdWant(t, s, call("p1"), 0, HoldCreated, "p1", ApprovalPending)
	clk.t = p.Expires
	statusWant(t, s, "p1", ApprovalPending) // at Expires, still live
	clk.t = p.Expires.Add(time.Microsecond)
	statusWant(t, s, "p1", ApprovalExpired)
	if got, err := s.DecideApproval(ctx, "p1", true, "user:ops", ""); !errors.Is(err, ErrNotPending) || got.Status != ApprovalExpired {
		t.Errorf("deciding an expired approval: %s, %v; want expired, ErrNotPending", got.Status, err)
	}
	holdWant(t, s, call("p2"), 0, HoldCreated, "p2", ApprovalPending)
	statusWant(t, s, "p1", ApprovalExpired)

	a := decide(t, s, "p2", true)
	clk.t = a.Expires.Add(time.Microsecond)
	if got, ok, err := s.ConsumeApproval(ctx, "p2"); ok || err != nil || got.Status != ApprovalExpired {
		t.Errorf("using an expired approval: %s %v %v; want expired, false", got.Status, ok, err)
	}
	holdWant(t, s, call("p3"), 0, HoldCreated, "p3", ApprovalPending)
	statusWant(t, s, "p2", ApprovalExpired)

	d := decide(t, s, "p3", false)
	clk.t = d.Expires.Add(time.Minute)
	statusWant(t, s, "p3", ApprovalDenied)
	holdWant(t, s, call("p4"), 0, HoldDenied, "p3", ApprovalDenied)
	holdWant(t, s, call("p5"), 0, HoldCreated, "p5", ApprovalPending)
}

// PerCaller bounds the approvals one caller has pending in one engagement: others are not affected,
// and a decided or expired approval frees its place.
func testApprovalMaxPendingPerCaller(t *testing.T, mk maker) {
	clk := &clock{t: approvalStart}
	s := approvalsOf(t, mk, clk)
	ctx := context.Background()
	limits := PendingLimits{Total: 10, PerCaller: 2}
	hold := func(id, caller, tenant string) error {
		a := heldCall(id, caller, id, clk.t, time.Minute)
		a.Tenant = tenant
		_, _, err := s.Hold(ctx, a, limits)
		return err
	}
	for _, id := range []string{"m1", "m2"} {
		if err := hold(id, "agent:mallory", "evil"); err != nil {
			t.Fatal(err)
		}
	}
	if err := hold("m3", "agent:mallory", "evil"); !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("mallory's third pending approval: %v, want ErrTooManyPending", err)
	}
	for _, c := range [][3]string{{"a1", "agent:alice", "acme"}, {"m4", "agent:mallory", "acme"}} {
		if err := hold(c[0], c[1], c[2]); err != nil {
			t.Errorf("%s in %s after mallory filled her share in evil: %v", c[1], c[2], err)
		}
	}
	decide(t, s, "m1", false)
	if err := hold("m5", "agent:mallory", "evil"); err != nil {
		t.Errorf("after one of mallory's was decided: %v", err)
	}
	clk.t = clk.t.Add(2 * time.Minute)
	for _, id := range []string{"m6", "m7"} {
		if err := hold(id, "agent:mallory", "evil"); err != nil {
			t.Errorf("after mallory's expired: %v", err)
		}
	}
}

// maxPending bounds the approvals pending at once, counting neither decided nor expired ones, and
// never refuses a retry of a call already pending.
func testApprovalMaxPending(t *testing.T, mk maker) {
	clk := &clock{t: approvalStart}
	s := approvalsOf(t, mk, clk)
	ctx := context.Background()
	call := func(i int) Approval {
		return heldCall(fmt.Sprint("m", i, "@", clk.t.Unix()), "agent:alice", fmt.Sprint("tool", i), clk.t, 5*time.Minute)
	}
	tooMany := func(i int) {
		t.Helper()
		if _, _, err := s.Hold(ctx, call(i), PendingLimits{Total: 2}); !errors.Is(err, ErrTooManyPending) {
			t.Fatalf("call %d with 2 pending: %v, want ErrTooManyPending", i, err)
		}
	}
	first := holdWant(t, s, call(0), 2, HoldCreated, call(0).ID, ApprovalPending)
	holdWant(t, s, call(1), 2, HoldCreated, call(1).ID, ApprovalPending)
	tooMany(2)
	holdWant(t, s, call(0), 2, HoldPending, first.ID, ApprovalPending) // a retry is no new approval
	if _, out, err := s.Hold(ctx, call(2), PendingLimits{Total: 0}); out != HoldCreated || err != nil {
		t.Fatalf("with no bound: outcome %d, %v", out, err)
	}
	tooMany(3)
	decide(t, s, first.ID, false)
	tooMany(3) // still two pending: 1 and 2
	decide(t, s, call(1).ID, true)
	holdWant(t, s, call(3), 2, HoldCreated, call(3).ID, ApprovalPending)
	tooMany(4)

	clk.t = clk.t.Add(5*time.Minute + time.Microsecond) // 2 and 3 expire, uncounted
	holdWant(t, s, call(4), 2, HoldCreated, call(4).ID, ApprovalPending)
	holdWant(t, s, call(5), 2, HoldCreated, call(5).ID, ApprovalPending)
	tooMany(6)
}

// Approvals lists every approval kept, oldest first (then by id), expired ones as expired, until
// ApprovalRetention after each expired; then it is gone for every operation.
func testApprovalListAndRetention(t *testing.T, mk maker) {
	clk := &clock{t: approvalStart}
	s := approvalsOf(t, mk, clk)
	ctx := context.Background()
	t0 := approvalStart
	for _, a := range []Approval{
		heldCall("b", "agent:alice", "t1", t0, 10*time.Minute),
		heldCall("a", "agent:alice", "t2", t0, 2*time.Hour),
		heldCall("d", "agent:alice", "t3", t0.Add(time.Minute), 10*time.Minute),
		heldCall("c", "agent:alice", "t4", t0.Add(-time.Minute), 5*time.Minute),
	} {
		if _, out, err := s.Hold(ctx, a, PendingLimits{Total: 0}); out != HoldCreated || err != nil {
			t.Fatalf("Hold(%s): outcome %d, %v", a.ID, out, err)
		}
	}
	listWant := func(want ...string) {
		t.Helper()
		list, err := s.Approvals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range list {
			got = append(got, a.ID+":"+a.Status)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("at %v: Approvals = %q, want %q", clk.t.Sub(t0), got, want)
		}
	}
	listWant("c:pending", "a:pending", "b:pending", "d:pending")
	decide(t, s, "d", true)
	clk.t = t0.Add(10*time.Minute + time.Microsecond)
	listWant("c:expired", "a:pending", "b:expired", "d:approved")

	cGone := t0.Add(4*time.Minute + ApprovalRetention)
	clk.t = cGone
	listWant("c:expired", "a:pending", "b:expired", "d:expired")
	clk.t = cGone.Add(time.Microsecond)
	listWant("a:pending", "b:expired", "d:expired")
	if _, err := s.Approval(ctx, "c"); !errors.Is(err, ErrNoApproval) {
		t.Errorf("Approval of a dropped approval: %v, want ErrNoApproval", err)
	}
	if _, err := s.DecideApproval(ctx, "c", true, "user:ops", ""); !errors.Is(err, ErrNoApproval) {
		t.Errorf("DecideApproval of a dropped approval: %v, want ErrNoApproval", err)
	}
	if _, _, err := s.ConsumeApproval(ctx, "c"); !errors.Is(err, ErrNoApproval) {
		t.Errorf("ConsumeApproval of a dropped approval: %v, want ErrNoApproval", err)
	}

	clk.t = t0.Add(11*time.Minute + ApprovalRetention + time.Microsecond)
	listWant("a:pending")
	clk.t = t0.Add(2*time.Hour + time.Microsecond)
	listWant("a:expired")
	clk.t = t0.Add(2*time.Hour + ApprovalRetention + time.Microsecond)
	listWant()
	// The dropped approval's call is held anew.
	holdWant(t, s, heldCall("a2", "agent:alice", "t2", clk.t, time.Hour), 0, HoldCreated, "a2", ApprovalPending)
	listWant("a2:pending")
}

// The errors: an unknown approval, a decision of one no longer pending, a use of one not approved,
// and a hold that is not a well-formed new approval.
func testApprovalErrors(t *testing.T, mk maker) {
	clk := &clock{t: approvalStart}
	s := approvalsOf(t, mk, clk)
	ctx := context.Background()
	if _, err := s.Approval(ctx, "nope"); !errors.Is(err, ErrNoApproval) {
		t.Errorf("Approval: %v, want ErrNoApproval", err)
	}
	if _, err := s.DecideApproval(ctx, "nope", true, "user:ops", ""); !errors.Is(err, ErrNoApproval) {
		t.Errorf("DecideApproval: %v, want ErrNoApproval", err)
	}
	if _, ok, err := s.ConsumeApproval(ctx, "nope"); ok || !errors.Is(err, ErrNoApproval) {
		t.Errorf("ConsumeApproval: %v %v, want false, ErrNoApproval", ok, err)
	}

	a := heldCall("x", "agent:alice", "pay", clk.t, time.Minute)
	holdWant(t, s, a, 0, HoldCreated, "x", ApprovalPending)
	if got, ok, err := s.ConsumeApproval(ctx, "x"); ok || err != nil || got.Status != ApprovalPending {
		t.Errorf("using a pending approval: %s %v %v, want pending, false", got.Status, ok, err)
	}
	if _, err := s.DecideApproval(ctx, "x", true, "user:first", "yes"); err != nil {
		t.Fatal(err)
	}
	got, err := s.DecideApproval(ctx, "x", false, "user:second", "no")
	if !errors.Is(err, ErrNotPending) || got.Status != ApprovalApproved || got.Approver != "user:first" || got.Note != "yes" {
		t.Errorf("a second decision: %+v, %v; want the first decision, ErrNotPending", got, err)
	}
	if got, ok, err := s.ConsumeApproval(ctx, "x"); !ok || err != nil || got.Status != ApprovalUsed {
		t.Errorf("using the approval: %s %v %v, want used, true", got.Status, ok, err)
	}
	if got, ok, err := s.ConsumeApproval(ctx, "x"); ok || err != nil || got.Status != ApprovalUsed {
		t.Errorf("using it again: %s %v %v, want used, false", got.Status, ok, err)
	}
	if got, err := s.DecideApproval(ctx, "x", true, "user:ops", ""); !errors.Is(err, ErrNotPending) || got.Status != ApprovalUsed {
		t.Errorf("deciding a used approval: %s, %v; want used, ErrNotPending", got.Status, err)
	}

	holdWant(t, s, heldCall("y", "agent:alice", "refund", clk.t, time.Minute), 0, HoldCreated, "y", ApprovalPending)
	decide(t, s, "y", false)
	if got, ok, err := s.ConsumeApproval(ctx, "y"); ok || err != nil || got.Status != ApprovalDenied {
		t.Errorf("using a denied approval: %s %v %v, want denied, false", got.Status, ok, err)
	}

	for name, bad := range map[string]Approval{
		"no id":        heldCall("", "agent:alice", "other", clk.t, time.Minute),
		"no expiry":    {ID: "z", Caller: "agent:alice", Tool: "other", Created: clk.t},
		"an id in use": heldCall("y", "agent:bob", "other", clk.t, time.Minute),
	} {
		if _, out, err := s.Hold(ctx, bad, PendingLimits{Total: 0}); err == nil || errors.Is(err, ErrTooManyPending) {
			t.Errorf("Hold of an approval with %s: outcome %d, %v; want an error", name, out, err)
		}
	}
	statusWant(t, s, "y", ApprovalDenied) // the hold with its id changed nothing
}

// An approval is decided once and used once, however many try at the same time.
func testApprovalConcurrency(t *testing.T, mk maker) {
	clk := &clock{t: approvalStart}
	s := approvalsOf(t, mk, clk)
	ctx := context.Background()
	const n = 20
	holdWant(t, s, heldCall("x", "agent:alice", "pay", clk.t, time.Hour), 0, HoldCreated, "x", ApprovalPending)

	var mu sync.Mutex
	var winners []string
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			who := fmt.Sprint("user:", i)
			_, err := s.DecideApproval(ctx, "x", true, who, "")
			switch {
			case err == nil:
				mu.Lock()
				winners = append(winners, who)
				mu.Unlock()
			case !errors.Is(err, ErrNotPending):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d concurrent decisions succeeded (%q), want exactly 1", len(winners), winners)
	}
	if got := statusWant(t, s, "x", ApprovalApproved); got.Approver != winners[0] {
		t.Errorf("approver %q, want the one decision that succeeded, %q", got.Approver, winners[0])
	}

	var used sync.Map
	count := func(m *sync.Map) map[any]int {
		c := map[any]int{}
		m.Range(func(k, v any) bool { c[v]++; return true })
		return c
	}
	for i := range n {
		wg.Go(func() {
			_, ok, err := s.ConsumeApproval(ctx, "x")
			if err != nil {
				t.Error(err)
			}
			used.Store(i, ok)
		})
	}
	wg.Wait()
	if c := count(&used); c[true] != 1 {
		t.Errorf("%d concurrent uses of one approval succeeded, want exactly 1", c[true])
	}

	holdWant(t, s, heldCall("y", "agent:alice", "refund", clk.t, time.Hour), 0, HoldCreated, "y", ApprovalPending)
	decide(t, s, "y", true)
	var outcomes, ids sync.Map
	for i := range n {
		wg.Go(func() {
			got, out, err := s.Hold(ctx, heldCall(fmt.Sprint("y", i), "agent:alice", "refund", clk.t, time.Hour), PendingLimits{})
			if err != nil {
				t.Error(err)
			}
			outcomes.Store(i, out)
			if out == HoldCreated || out == HoldPending {
				ids.Store(i, got.ID)
			}
		})
	}
	wg.Wait()
	c := count(&outcomes)
	if c[HoldApproved] != 1 || c[HoldCreated] != 1 || c[HoldPending] != n-2 {
		t.Errorf("outcomes of %d concurrent holds of an approved call: %d approved, %d created, %d pending; want 1, 1, %d",
			n, c[HoldApproved], c[HoldCreated], c[HoldPending], n-2)
	}
	if c := count(&ids); len(c) != 1 {
		t.Errorf("the holds after the use found %d approvals, want the one created: %v", len(c), c)
	}
}

// The memory store drops approvals ApprovalRetention after they expire, and their bindings, so
// that it holds no more than the approvals of the last retention period.
func TestMemoryApprovalsBounded(t *testing.T) {
	clk := &clock{t: approvalStart}
	m := NewMemory(clk.now)
	ctx := context.Background()
	for i := range 100 {
		a := heldCall(fmt.Sprint("a", i), "agent:alice", fmt.Sprint("tool", i), clk.t, time.Minute)
		if _, _, err := m.Hold(ctx, a, PendingLimits{Total: 0}); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			decide(t, m, a.ID, i%2 == 0)
		}
	}
	clk.t = clk.t.Add(time.Minute + ApprovalRetention + time.Microsecond)
	holdWant(t, m, heldCall("new", "agent:alice", "pay", clk.t, time.Minute), 0, HoldCreated, "new", ApprovalPending)
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.approvals) != 1 || len(m.bindings) != 1 {
		t.Errorf("kept %d approvals and %d bindings after the rest were dropped, want 1 and 1", len(m.approvals), len(m.bindings))
	}
}

// The Redis store keeps an approval in keys under its prefix that Redis expires a while after the
// approval is dropped, and prunes its indexes of what was dropped.
func TestRedisApprovalKeys(t *testing.T) {
	rdb := redisClient(t)
	clk := &clock{t: time.Now()}
	s := NewRedis(rdb, RedisOptions{Prefix: "gh:", Now: clk.now})
	ctx := context.Background()
	a := heldCall("ap-1", "agent:alice", "pay", clk.t, 10*time.Minute)
	holdWant(t, s, a, 0, HoldCreated, a.ID, ApprovalPending)

	keys := rdb.Keys(ctx, "*").Val()
	want := []string{"gh:ab:" + a.Binding(), "gh:ap:ap-1", "gh:approvals", "gh:approvals:pending", s.callerPendingKey(&a)}
	if !sameSet(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
	most := 10*time.Minute + ApprovalRetention + 2*time.Minute
	for _, k := range want {
		if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 || ttl > most {
			t.Errorf("%s lives %v in Redis, want until the approval is dropped and a minute", k, ttl)
		}
	}
	decide(t, s, a.ID, false)
	if n := rdb.ZCard(ctx, "gh:approvals:pending").Val(); n != 0 {
		t.Errorf("the index of pending approvals has %d after the decision, want 0", n)
	}
	holdWant(t, s, heldCall("ap-2", "agent:alice", "pay", clk.t, 10*time.Minute), 0, HoldDenied, a.ID, ApprovalDenied)
	if n := rdb.Exists(ctx, "gh:ab:"+a.Binding()).Val(); n != 0 {
		t.Error("the binding of a denied approval was kept after the hold that reported it")
	}

	clk.t = clk.t.Add(10*time.Minute + ApprovalRetention + time.Microsecond)
	holdWant(t, s, heldCall("ap-3", "agent:bob", "pay", clk.t, 10*time.Minute), 0, HoldCreated, "ap-3", ApprovalPending)
	if got := rdb.ZRange(ctx, "gh:approvals", 0, -1).Val(); !reflect.DeepEqual(got, []string{"ap-3"}) {
		t.Errorf("the index of approvals holds %q, want the one not dropped", got)
	}
}

// sameSet reports whether a and b hold the same strings.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	in := map[string]bool{}
	for _, s := range a {
		in[s] = true
	}
	for _, s := range b {
		if !in[s] {
			return false
		}
	}
	return true
}

// An approval held through one replica is decided through another and lets the call through once
// on either; a gateway with another prefix sees none of it.
func TestRedisReplicasShareApprovals(t *testing.T) {
	srv := redistest.Start(t)
	a, b, other := redisReplica(t, srv, "gh:"), redisReplica(t, srv, "gh:"), redisReplica(t, srv, "other:")
	ctx := context.Background()
	call := func(id string) Approval { return heldCall(id, "agent:alice", "pay", time.Now(), time.Hour) }
	holdWant(t, a, call("r1"), 0, HoldCreated, "r1", ApprovalPending)
	holdWant(t, b, call("r2"), 0, HoldPending, "r1", ApprovalPending)
	if _, err := other.Approval(ctx, "r1"); !errors.Is(err, ErrNoApproval) {
		t.Errorf("a gateway with another prefix: %v, want ErrNoApproval", err)
	}
	decide(t, b, "r1", true)
	holdWant(t, a, call("r3"), 0, HoldApproved, "r1", ApprovalUsed)
	statusWant(t, b, "r1", ApprovalUsed)
	holdWant(t, b, call("r4"), 0, HoldCreated, "r4", ApprovalPending)
}

// The least-privileged ACL of docs/operations.md is enough for every approval operation.
func TestRedisApprovalsLeastPrivilegeACL(t *testing.T) {
	s := leastPrivilegeStore(t)
	ctx := context.Background()
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	call := func(id string) Approval { return heldCall(id, "agent:alice", "pay", time.Now(), time.Hour) }
	_, _, err := s.Hold(ctx, call("acl-1"), PendingLimits{Total: 10})
	step("Hold", err)
	_, err = s.Approval(ctx, "acl-1")
	step("Approval", err)
	_, err = s.Approvals(ctx)
	step("Approvals", err)
	_, err = s.DecideApproval(ctx, "acl-1", true, "user:ops", "")
	step("DecideApproval", err)
	_, _, err = s.ConsumeApproval(ctx, "acl-1")
	step("ConsumeApproval", err)
	_, _, err = s.Hold(ctx, call("acl-2"), PendingLimits{Total: 10})
	step("Hold again", err)
	_, err = s.DecideApproval(ctx, "acl-2", false, "user:ops", "")
	step("DecideApproval (deny)", err)
	_, _, err = s.Hold(ctx, call("acl-3"), PendingLimits{Total: 10})
	step("Hold of a denied call", err)
}
