package cli

import (
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
)

// readiness is /readyz: ready (200) when this gateway can serve MCP requests now, 503 when not, with
// the detail an operator needs to see why (docs/operations.md documents the shape). It is not ready
// when the MCP endpoint is disabled, when an enforcing policy engine has no policy loaded under
// fail: closed (every call would be refused), or when no upstream is usable.
type readiness struct {
	cfg *config.ServeConfig
	eng *engines
	// sessions, requestPath and upstreams are read at each probe.
	sessions    func() int
	requestPath []string
	upstreams   func() []map[string]any
}

// report is the readiness and its detail.
func (rd *readiness) report() (bool, map[string]any) {
	problems := []string{}
	if !rd.cfg.MCPEnabled() {
		problems = append(problems, "the MCP endpoint is disabled (enabled: false or MCP_ENABLED=false)")
	}
	if rd.cfg.Fail == string(pipeline.FailClosed) {
		for _, st := range rd.eng.stages() {
			if st.Mode() == pipeline.ModeEnforce && st.Current() == nil {
				problems = append(problems, "the "+st.Name()+" engine enforces under fail: closed and has no policy loaded: every call is refused")
			}
		}
	}
	ups := rd.upstreams()
	usable := 0
	for _, u := range ups {
		if u["usable"] == true {
			usable++
		}
	}
	if usable == 0 {
		problems = append(problems, "no upstream is usable")
	}
	pol := map[string]any{"mode": rd.cfg.Mode, "fail": rd.cfg.Fail, "engines": rd.eng.modes(), "rules": rd.cfg.Policy.Rules,
		"rules_revision": rd.eng.rulesRevision(), "bundle": rd.eng.rego.where(), "bundle_revision": rd.eng.rego.revision(),
		"pack": rd.cfg.Policy.Pack, "pack_sha256": rd.eng.packRevision()}
	if rg := rd.eng.rego; rg != nil {
		pol["rego"] = rg.readiness(rd.cfg.Fail)
	}
	return len(problems) == 0, map[string]any{"ready": len(problems) == 0, "problems": problems, "mcp_enabled": rd.cfg.MCPEnabled(),
		"sessions": rd.sessions(), "request_path": rd.requestPath, "policy": pol, "upstreams": ups}
}

// detail is the body of /readyz; adminHandler answers 503 when its ready member is not true.
func (rd *readiness) detail() any {
	_, d := rd.report()
	return d
}

// readiness is the Rego engine's part of /readyz: its mode and posture, and the state of its bundle
// source, including why the last load was refused (SPEC §5.5).
func (rg *regoEngine) readiness(fail string) map[string]any {
	out := map[string]any{"mode": string(rg.stage.Mode()), "fail": rg.posture(fail), "loaded": rg.stage.Current() != nil && rg.revision() != "none"}
	if rg.source == nil {
		out["source"] = ""
		out["last_error"] = "no bundle is named"
		return out
	}
	st := rg.source.Status()
	out["source"], out["revision"] = st.Source, rg.revision()
	if !st.LoadedAt.IsZero() {
		out["loaded_at"] = st.LoadedAt.UTC().Format(time.RFC3339)
	}
	if !st.LastAttempt.IsZero() {
		out["last_attempt"] = st.LastAttempt.UTC().Format(time.RFC3339)
	}
	if st.LastError != "" {
		out["last_error"] = st.LastError
	}
	return out
}
