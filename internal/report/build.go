package report

import (
	"bufio"
	"cmp"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
)

// Options says which audit files to report on and how to verify them.
type Options struct {
	// Files are the audit files, rotated ones in any order.
	Files []string
	// PublicKey, when set, must have signed every checkpoint (as gatehouse verify --pubkey).
	PublicKey ed25519.PublicKey
	// AllowUnsealed accepts a log that does not end with a closing checkpoint (as gatehouse verify
	// --allow-unsealed).
	AllowUnsealed bool
}

// maxLine bounds the lines read, as the verifier does: a record is at most 10 KB, so a longer
// line is not a record, and refusing it bounds the memory a hostile file can take.
const maxLine = 1 << 20

// Reason codes and statuses the report counts specially. They are the stable values of the audit
// schema (see docs/errors.md and docs/audit.md).
const (
	codeThreat = "threat_detected"
	redacted   = "[REDACTED"
)

// Build verifies the files and reads every record in them. A chain that is not intact is not an
// error: the report says so in Integrity. The error is for what prevents a report at all: no
// files, a file that cannot be read, a public key of the wrong size.
func Build(opts Options) (*Report, error) {
	if len(opts.Files) == 0 {
		return nil, errors.New("report: no audit files")
	}
	chain, err := auditlog.Verify(opts.Files, auditlog.VerifyOptions{PublicKey: opts.PublicKey, AllowUnsealed: opts.AllowUnsealed})
	var problem *auditlog.Problem
	if err != nil && !errors.As(err, &problem) {
		return nil, err
	}
	r := &Report{Files: append([]string(nil), opts.Files...)}
	r.Integrity = Integrity{Intact: err == nil, Problem: problem}
	if chain != nil {
		r.Integrity.Chain = *chain
	}
	if opts.PublicKey != nil {
		r.Integrity.KeyID = auditlog.KeyID(opts.PublicKey)
	}
	a := newAggregate()
	seen := map[string]bool{}
	for _, path := range opts.Files {
		if clean := filepath.Clean(path); seen[clean] {
			continue
		} else {
			seen[clean] = true
		}
		if err := readFile(path, a.add, &r.Records.Unreadable); err != nil {
			return nil, err
		}
	}
	a.finish(r)
	return r, nil
}

// readFile calls add for every record in path and counts the lines that are not records.
func readFile(path string, add func(*auditlog.Record), unreadable *int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				if len(long) <= maxLine { // beyond it the line is not a record: stop keeping it
					long = append(long, line...)
				}
			}
			line = long
		}
		if n := len(line); n > 0 && line[n-1] == '\n' {
			line = line[:n-1]
		}
		if len(line) > 0 {
			if rec, perr := parse(line); perr == nil {
				add(rec)
			} else {
				*unreadable++
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
	}
}

// parse reads one line as a record, refusing over-long lines without parsing them.
func parse(line []byte) (*auditlog.Record, error) {
	if len(line) > maxLine {
		return nil, errors.New("line too long")
	}
	return auditlog.ParseLine(line)
}

// aggregate accumulates the statistics while records are read.
type aggregate struct {
	counts                                   RecordCounts
	first, last                              time.Time
	agents, tenants                          map[string]*activity
	effects, would, engines, methods, tools  map[string]int
	statuses, codes, failPostures            map[string]int
	threatEngines, threatAgents, threatTools map[string]int
	threatEffects, threatRules               map[string]int
	rules                                    map[RuleCount]int
	redacted, threats, threatsMonitor        int
	flagged                                  int
	approvals                                []Approval
	eventKinds                               map[string]int
	changes                                  []Event
}

// activity is an Activity being accumulated, with the sets behind its distinct counts.
type activity struct {
	Activity
	tools, agents, roles map[string]bool
}

func newAggregate() *aggregate {
	m := func() map[string]int { return map[string]int{} }
	return &aggregate{
		agents: map[string]*activity{}, tenants: map[string]*activity{},
		effects: m(), would: m(), engines: m(), methods: m(), tools: m(),
		statuses: m(), codes: m(), failPostures: m(),
		threatEngines: m(), threatAgents: m(), threatTools: m(), threatEffects: m(), threatRules: m(),
		rules: map[RuleCount]int{}, eventKinds: m(),
	}
}

func (a *aggregate) add(rec *auditlog.Record) {
	a.counts.Records++
	if a.first.IsZero() || rec.Time.Before(a.first) {
		a.first = rec.Time
	}
	if rec.Time.After(a.last) {
		a.last = rec.Time
	}
	switch rec.Type {
	case auditlog.TypeCheckpoint:
		a.counts.Checkpoints++
		return
	case auditlog.TypeRecovery:
		a.counts.Recoveries++
		return
	case auditlog.TypeEvent:
		a.counts.Events++
		a.eventKinds[rec.Method]++
		if rec.Engine == "admin" || rec.Effect != "allow" {
			a.changes = append(a.changes, Event{Time: rec.Time, Seq: rec.Seq, Method: rec.Method, Tenant: rec.Tenant,
				Upstream: rec.Upstream, Tool: rec.Tool, User: rec.User, Effect: rec.Effect, Detail: rec.Detail})
		}
		return
	}
	a.counts.Decisions++
	a.activity(a.agents, rec.Agent, rec)
	a.activity(a.tenants, rec.Tenant, rec)
	a.effects[rec.Effect]++
	if rec.WouldEffect != "" {
		a.would[rec.WouldEffect]++
	}
	a.engines[rec.Engine]++
	a.methods[rec.Method]++
	if rec.Tool != "" {
		a.tools[rec.Tool]++
	}
	a.statuses[rec.Status]++
	a.rules[RuleCount{Engine: rec.Engine, Rule: rec.RuleID, Effect: rec.Effect}]++
	if rec.Code != "" {
		a.codes[rec.Code]++
	}
	if rec.Fail != "" {
		a.failPostures[rec.Fail]++
	}
	if strings.Contains(rec.ArgsPreview, redacted) || strings.Contains(rec.ResultPreview, redacted) {
		a.redacted++
	}
	if rec.Code == codeThreat {
		a.threats++
		if rec.WouldEffect != "" {
			a.threatsMonitor++
		}
		a.threatEngines[rec.Engine]++
	}
	if rec.ThreatScore > 0 {
		a.flagged++
		a.threatEffects[rec.Effect]++
		for _, rule := range rec.Threats {
			a.threatRules[rule]++
		}
	}
	if threatened(rec) {
		a.threatAgents[rec.Agent]++
		a.threatTools[rec.Tool]++
	}
	if rec.ApprovalID != "" {
		a.approvals = append(a.approvals, Approval{
			Time: rec.Time, Seq: rec.Seq, ApprovalID: rec.ApprovalID, Agent: rec.Agent, Tenant: rec.Tenant,
			Tool: rec.Tool, Effect: rec.Effect, Code: rec.Code, Status: rec.Status,
		})
	}
}

// activity adds rec to the activity of name in m.
func (a *aggregate) activity(m map[string]*activity, name string, rec *auditlog.Record) {
	act := m[name]
	if act == nil {
		act = &activity{Activity: Activity{Name: name, First: rec.Time, Last: rec.Time},
			tools: map[string]bool{}, agents: map[string]bool{}, roles: map[string]bool{}}
		m[name] = act
	}
	act.Decisions++
	switch rec.Effect {
	case "allow", "redact", "patch":
		act.Forwarded++
	case "deny":
		act.Denied++
	case "require_approval":
		act.Held++
	case "kill_session":
		act.Killed++
	}
	if threatened(rec) {
		act.Threats++
	}
	if rec.Tool != "" {
		act.tools[rec.Tool] = true
	}
	if rec.Agent != "" {
		act.agents[rec.Agent] = true
	}
	for _, role := range rec.Roles {
		act.roles[role] = true
	}
	if rec.Time.Before(act.First) {
		act.First = rec.Time
	}
	if rec.Time.After(act.Last) {
		act.Last = rec.Time
	}
}

// threatened reports whether a decision was flagged by the threat scanner or refused for a threat.
func threatened(rec *auditlog.Record) bool { return rec.ThreatScore > 0 || rec.Code == codeThreat }

// finish moves the accumulated statistics into r, sorted.
func (a *aggregate) finish(r *Report) {
	r.Records = RecordCounts{
		Records: a.counts.Records, Decisions: a.counts.Decisions, Events: a.counts.Events, Checkpoints: a.counts.Checkpoints,
		Recoveries: a.counts.Recoveries, Unreadable: r.Records.Unreadable,
	}
	r.First, r.Last = a.first, a.last
	r.Agents = activities(a.agents, false)
	r.Tenants = activities(a.tenants, true)
	r.Effects, r.Would, r.Engines = counts(a.effects), counts(a.would), counts(a.engines)
	r.Methods, r.Tools, r.Statuses = counts(a.methods), counts(a.tools), counts(a.statuses)
	r.Codes, r.FailPostures = counts(a.codes), counts(a.failPostures)
	r.Redacted = a.redacted
	r.Threats = Threats{Flagged: a.flagged, Detected: a.threats, Monitor: a.threatsMonitor,
		ByEffect: counts(a.threatEffects), ByRule: counts(a.threatRules),
		ByEngine: counts(a.threatEngines), ByAgent: counts(a.threatAgents), ByTool: counts(a.threatTools)}
	for rc, n := range a.rules {
		rc.N = n
		r.Rules = append(r.Rules, rc)
	}
	slices.SortFunc(r.Rules, func(x, y RuleCount) int {
		return cmp.Or(cmp.Compare(y.N, x.N), cmp.Compare(x.Engine, y.Engine), cmp.Compare(x.Rule, y.Rule), cmp.Compare(x.Effect, y.Effect))
	})
	r.EventKinds = counts(a.eventKinds)
	r.Changes = a.changes
	slices.SortFunc(r.Changes, func(x, y Event) int { return cmp.Compare(x.Seq, y.Seq) })
	r.Approvals = a.approvals
	slices.SortFunc(r.Approvals, func(x, y Approval) int {
		return cmp.Or(cmp.Compare(x.Seq, y.Seq), x.Time.Compare(y.Time), cmp.Compare(x.ApprovalID, y.ApprovalID))
	})
}

// counts turns a map into Counts, most frequent first, then by key.
func counts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		out = append(out, Count{Key: k, N: n})
	}
	slices.SortFunc(out, func(x, y Count) int { return cmp.Or(cmp.Compare(y.N, x.N), cmp.Compare(x.Key, y.Key)) })
	return out
}

// activities turns accumulated activities into a sorted list, most decisions first.
func activities(m map[string]*activity, tenants bool) []Activity {
	out := make([]Activity, 0, len(m))
	for _, act := range m {
		a := act.Activity
		a.Tools = len(act.tools)
		if tenants {
			a.Agents = len(act.agents)
		} else {
			a.Roles = sortedKeys(act.roles)
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(x, y Activity) int {
		return cmp.Or(cmp.Compare(y.Decisions, x.Decisions), cmp.Compare(x.Name, y.Name))
	})
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
