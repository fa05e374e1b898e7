package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
)

// TestAdminPage (SPEC §10.3, §15): a human decides approvals on the admin web page, in a real
// headless Chromium, against a real gatehouse serve. The page asks for the admin token and says when
// it is refused; it lists the held calls and shows one whole, with what an agent wrote shown as text
// (no markup runs, bidi overrides are escapes) and its numbers exact; its approval lets the call
// through once, its denial refuses it, and a decision another operator made first is reported, not
// overwritten. The page runs under its Content-Security-Policy without a violation or an exception,
// and every decision is in the audit log under the name the human gave.
func TestAdminPage(t *testing.T) {
	chromium := chromiumPath(t)
	dir := t.TempDir()
	record := filepath.Join(dir, "received.jsonl")
	policy := filepath.Join(dir, "rules.yaml")
	os.WriteFile(policy, []byte(refundApprovalRules), 0o644)
	const adminToken = "admin-token-for-the-page"
	gw, admin, cfg, audit := freeAddr(t), freeAddr(t), filepath.Join(dir, "serve.yaml"), filepath.Join(dir, "audit.jsonl")
	writeApprovalsServeConfig(t, cfg, gw, admin, sha256.Sum256([]byte(adminToken)), policy, audit, record, "")
	_, stop := startServe(t, cfg, gw)

	// A refund whose amount a float64 would round, with a fee written with a trailing zero, a memo
	// that is markup, a file name that a right-to-left override would show as "evil.exe" read
	// backwards, characters that show nothing (a variation selector, a Hangul filler, a braille
	// blank), and an account number whose digit groups a right-to-left letter would reorder.
	const bigAmount = "9007199254740993"
	const memo = `<img src=x onerror="document.title='pwned'"> invoice-` + "\u202e" + `fdp.exe ok` + "\ufe0f\u3164\u2800"
	big := map[string]any{"amount": json.Number(bigAmount), "fee": json.Number("1000.50"), "memo": memo, "account": "\u0627 1111 2222"}
	refundArgs := func(args map[string]any) (reason, approvalID, text string) {
		t.Helper()
		frames := modernFrames(t, "http://"+gw+"/mcp", "alice-key", map[string]any{"name": "refund", "arguments": args})
		return answerOf(t, frames[len(frames)-1])
	}
	refund := func(amount int) (reason, approvalID, text string) {
		t.Helper()
		return refundArgs(map[string]any{"amount": amount})
	}
	ids := map[int]string{}
	for _, amount := range []int{700, 800, 650} {
		reason, id, _ := refund(amount)
		if reason != "approval_required" {
			t.Fatalf("a refund of %d: %s, want approval_required", amount, reason)
		}
		ids[amount] = id
	}
	reason, x, _ := refundArgs(big)
	if reason != "approval_required" {
		t.Fatalf("the big refund: %s, want approval_required", reason)
	}
	y, z, w := ids[700], ids[800], ids[650]

	ctx, problems := startChromium(t, chromium)
	pageURL := "http://" + admin + "/admin"
	waitFor := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v\nthe page reads:\n%s", what, err, body)
		}
	}
	message := `(document.getElementById('message').hidden ? '' : document.getElementById('message').textContent)`
	// fill types text into the input with id. It sets the value from JavaScript rather than with
	// chromedp.SendKeys, which reads a node's attributes without their lock (chromedp v0.23.0,
	// query.go) and races the page changing them, failing the race detector.
	fill := func(id, text string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`{ const e = document.getElementById(%q); e.focus(); e.value = %q; }`, id, text))
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	run("open the page", chromedp.Navigate(pageURL))
	waitFor("the page asks for the token", message+`.includes('needs its token')`)
	run("a wrong token", fill("token", "not-the-token"), chromedp.Click(chromedp.ID("use-token")))
	waitFor("the page says the token was refused", message+`.includes('refused the token')`)
	run("the token and a name", fill("token", adminToken),
		fill("approver", "Alice Admin"), chromedp.Click(chromedp.ID("use-token")))
	for _, id := range []string{x, y, z, w} {
		waitFor("the pending approval "+id+" is listed", fmt.Sprintf(`document.querySelector('tr[data-id=%q]') !== null`, id))
	}
	stored := evaluate[map[string]any](t, ctx, `({cookie: document.cookie, local: localStorage.getItem('gatehouse.admin.token'),
		session: sessionStorage.getItem('gatehouse.admin.token'), field: document.getElementById('token').value})`)
	if stored["cookie"] != "" || stored["local"] != nil || stored["session"] != adminToken || stored["field"] != "" {
		t.Errorf("the token is kept in %v, want this tab's sessionStorage only", stored)
	}

	// The held call, whole, as text.
	run("review the big refund", chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-id=%q] button.review`, x))))
	waitFor("the big refund is shown", `!document.getElementById('detail').hidden && document.getElementById('params').textContent.includes('amount')`)
	type page struct {
		Params, Body      string
		Images, Marks     int
		MarkTexts         []string
		Title             string
		ApproveDisabled   bool
		DetailStatus      string
		RowArgumentsShown string
		Bidi, Direction   string
	}
	shown := evaluate[page](t, ctx, fmt.Sprintf(`({
		params: document.getElementById('params').textContent,
		body: document.body.innerText,
		images: document.querySelectorAll('img').length,
		marks: document.querySelectorAll('mark.esc').length,
		markTexts: [...document.querySelectorAll('#params mark.esc, #rows mark.esc')].map(m => m.textContent),
		title: document.title,
		approveDisabled: document.getElementById('approve').disabled,
		detailStatus: document.querySelector('#fields dd.status-pending') ? 'pending' : '',
		rowArgumentsShown: document.querySelector('tr[data-id=%q]').children[5].textContent,
		bidi: getComputedStyle(document.getElementById('params')).unicodeBidi,
		direction: getComputedStyle(document.getElementById('params')).direction,
	})`, x))
	if !strings.Contains(shown.Params, `"amount": `+bigAmount) || !strings.Contains(shown.Params, `"fee": 1000.50`) {
		t.Errorf("the numbers are not shown as the call wrote them (%s, 1000.50):\n%s", bigAmount, shown.Params)
	}
	for _, esc := range []string{`\ufe0f`, `\u3164`, `\u2800`} {
		if !slices.Contains(shown.MarkTexts, esc) {
			t.Errorf("the invisible character %s is not shown as an escape: marks %q", esc, shown.MarkTexts)
		}
	}
	if shown.Bidi != "bidi-override" || shown.Direction != "ltr" {
		t.Errorf("the params are laid out %s %s: right-to-left letters could reorder the digits around them", shown.Bidi, shown.Direction)
	}
	if !strings.Contains(shown.Params, `<img src=x onerror=`) || shown.Images != 0 || shown.Title == "pwned" {
		t.Errorf("the memo's markup was not shown as text: %d img elements, title %q\n%s", shown.Images, shown.Title, shown.Params)
	}
	if strings.ContainsRune(shown.Body, '\u202e') || !slices.Contains(shown.MarkTexts, `\u202e`) {
		t.Errorf("the right-to-left override is not shown as an escape: marks %q", shown.MarkTexts)
	}
	if !strings.Contains(shown.RowArgumentsShown, "invoice-") {
		t.Errorf("the listing's arguments preview: %q", shown.RowArgumentsShown)
	}
	if shown.ApproveDisabled || shown.DetailStatus != "pending" {
		t.Errorf("a pending approval cannot be approved on the page: %+v", shown)
	}

	run("approve it", fill("note", "checked with billing"), chromedp.Click(chromedp.ID("approve")))
	waitFor("the page says it is approved", message+`.includes('Approved `+x+` as Alice Admin')`)
	waitFor("the detail shows it approved", `document.querySelector('#fields dd.status-approved') !== null && document.getElementById('approve').disabled`)

	run("review the refund of 700", chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-id=%q] button.review`, y))))
	waitFor("the refund of 700 is shown", `document.getElementById('params').textContent.includes('700')`)
	run("deny it", fill("note", "no"), chromedp.Click(chromedp.ID("deny")))
	waitFor("the page says it is denied", message+`.includes('Denied `+y+` as Alice Admin')`)

	// Another operator approves the refund of 800 while the page shows it, before the page looks
	// again (its refresh paused): the page's denial is refused, and the page says what happened.
	run("review the refund of 800", chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-id=%q] button.review`, z))))
	waitFor("the refund of 800 is shown", `document.getElementById('params').textContent.includes('800')`)
	evaluate[bool](t, ctx, `Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'}) !== null`)
	if st, body := adminAs(t, admin, adminToken, "POST", "/admin/v1/approvals/approve", `{"id":"`+z+`","approver":"bob"}`); st != 200 {
		t.Fatalf("bob's approval: %d %s", st, body)
	}
	run("deny it on the page", chromedp.Click(chromedp.ID("deny")))
	waitFor("the page says bob came first", message+`.includes('409') && `+message+`.includes('approved, not pending')`)
	waitFor("the detail shows bob's approval", `document.getElementById('fields').textContent.includes('bob')`)
	evaluate[bool](t, ctx, `delete document.visibilityState`)

	// Bob denies the refund of 650 while the page shows it: the page's own refresh shows the denial,
	// with no decision left to make.
	run("review the refund of 650", chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-id=%q] button.review`, w))))
	waitFor("the refund of 650 is shown", `document.getElementById('params').textContent.includes('650')`)
	if st, body := adminAs(t, admin, adminToken, "POST", "/admin/v1/approvals/deny", `{"id":"`+w+`","approver":"bob"}`); st != 200 {
		t.Fatalf("bob's denial: %d %s", st, body)
	}
	waitFor("the page shows bob's denial by itself", `document.querySelector('#fields dd.status-denied') !== null && document.getElementById('fields').textContent.includes('bob') && document.getElementById('deny').disabled`)

	// The calls retried: the approved ones go through once, exactly as shown; the denied one is refused.
	if reason, _, text := refundArgs(big); reason != "ok" || !strings.HasPrefix(text, "refunded ") {
		t.Errorf("the big refund retried after the page's approval: %s %q", reason, text)
	}
	if reason, _, _ := refundArgs(big); reason != "approval_required" {
		t.Errorf("a second retry: %s, want approval_required (single use)", reason)
	}
	expect := expecter(t)
	expect("the refund of 700 retried after the page's denial", first(refund(700)), "approval_denied")
	expect("the refund of 800 retried after bob's approval", first(refund(800)), "ok")
	expect("the refund of 650 retried after bob's denial", first(refund(650)), "approval_denied")
	if got := recordedRefunds(t, record); strings.Join(got, ",") != bigAmount+",800" {
		t.Errorf("the server received refunds %v, want %s then 800", got, bigAmount)
	}

	for _, p := range problems() {
		t.Errorf("the page: %s", p)
	}
	stop()
	if out, err := exec.Command(gatehouseBin, "verify", "--audit", audit).CombinedOutput(); err != nil {
		t.Errorf("verify: %v\n%s", err, out)
	}
	decided := map[string]string{}
	for _, rec := range readAuditAll(t, audit) {
		if rec.Type == auditlog.TypeEvent && strings.HasPrefix(rec.Method, "admin/approvals.") && rec.Status == "applied" {
			decided[rec.ApprovalID] = rec.Method + " by " + rec.User
		}
	}
	want := map[string]string{x: "admin/approvals.approve by Alice Admin", y: "admin/approvals.deny by Alice Admin", z: "admin/approvals.approve by bob",
		w: "admin/approvals.deny by bob"}
	if fmt.Sprint(decided) != fmt.Sprint(want) {
		t.Errorf("audited decisions: %v, want %v", decided, want)
	}
}

// chromiumPath finds headless Chromium (the Debian package chromium, which .ci/run installs), or
// GATEHOUSE_CHROMIUM. Without it the test fails: the admin web page would go untested.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GATEHOUSE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("headless Chromium is needed to test the admin web page: apt-get install -y chromium (or set GATEHOUSE_CHROMIUM)")
	return ""
}

// evaluate runs a JavaScript expression on the page and decodes its value.
func evaluate[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %.80s: %v", js, err)
	}
	return v
}

// startChromium starts a headless Chromium for the test and returns its context and a function that
// lists what went wrong on its pages so far: uncaught exceptions, errors the page logged, and
// Content-Security-Policy violations.
func startChromium(t *testing.T, path string) (context.Context, func() []string) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	// Bounds the whole browser's life, not one action.
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	var mu sync.Mutex
	var problems []string
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`1`)); err != nil {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") ||
				(m.Type == chromedp.ConsoleError && m.Source != "network") {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc(); <-done })
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(problems)
	}
}
