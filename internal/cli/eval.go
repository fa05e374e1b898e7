package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rules"
)

// evalParams are the inputs of `gatehouse eval`.
type evalParams struct {
	policy string
	input  string
	agent  string
	roles  []string
	format string
	expect string
}

func newEvalCommand(s streams) *cobra.Command {
	p := &evalParams{}
	cmd := &cobra.Command{
		Use:   "eval --policy FILE --input call.json",
		Short: "Decide one call with a policy and explain which rule matched and why",
		Long: `eval decides one message with a rules policy, without any upstream, and prints the decision, the
rule that made it, and for every rule tried before it, why it did not match.

The input is either the decision input document (the same shape the Rego engine sees: kind, tool,
agent, user, tenant, session, threat, and response for the response phase) or a JSON-RPC request as
a client would send it, in which case --agent and --roles give the caller. Budgets and rate limits
are stateful and are shown as the claim the call would make, not checked.

With --expect EFFECT, the exit status is 1 when the decision's effect differs: a policy test in CI.`,
		Example: `  echo '{"kind":"tools/call","tool":{"name":"refund","args":{"amount":600}}}' > call.json
  gatehouse eval --policy examples/policies/refunds.yaml --input call.json

  gatehouse eval --policy p.yaml --agent billing-bot --roles finance --expect allow \
    --input <(echo '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"refund","arguments":{"amount":20}}}')`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runEval(p, s) },
	}
	f := cmd.Flags()
	f.StringVar(&p.policy, "policy", "", "rules policy file (required)")
	f.StringVar(&p.input, "input", "", "input file, or - for stdin (required)")
	f.StringVar(&p.agent, "agent", "", "agent id, for a JSON-RPC input or to override the document's")
	f.StringSliceVar(&p.roles, "roles", nil, "agent roles, for a JSON-RPC input or to override the document's")
	f.StringVar(&p.format, "format", "text", "text or json")
	f.StringVar(&p.expect, "expect", "", "exit 1 unless the decision's effect is this one")
	return cmd
}

func runEval(p *evalParams, s streams) error {
	if p.policy == "" || p.input == "" {
		return fail(ExitUsage, "eval needs --policy FILE and --input FILE")
	}
	if p.format != "text" && p.format != "json" {
		return fail(ExitUsage, "--format must be text or json")
	}
	if p.expect != "" {
		if _, ok := policy.ParseEffect(p.expect); !ok {
			return fail(ExitUsage, "--expect %q is not an effect", p.expect)
		}
	}
	data, err := os.ReadFile(p.policy)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	pol, err := rules.Load(p.policy, data)
	if err != nil {
		return fail(ExitProblem, "policy %s does not load:\n%v", p.policy, err)
	}
	var raw []byte
	if p.input == "-" {
		raw, err = io.ReadAll(s.in)
	} else {
		raw, err = os.ReadFile(p.input)
	}
	if err != nil {
		return fail(ExitUsage, "input: %v", err)
	}
	in, err := evalInput(raw, p)
	if err != nil {
		return fail(ExitUsage, "input %s: %v", p.input, err)
	}
	v, steps := pol.Explain(in)
	if p.format == "json" {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"phase": in.Phase, "verdict": v, "trace": steps})
	} else {
		printVerdict(s.out, in, v, steps)
	}
	want, _ := policy.ParseEffect(p.expect)
	if p.expect != "" && v.Effect != want {
		return fail(ExitProblem, "expected %s, got %s", want, v.Effect)
	}
	return nil
}

// evalInput reads either a decision input document or a JSON-RPC request.
func evalInput(raw []byte, p *evalParams) (*policy.Input, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	in := &policy.Input{Phase: policy.PhaseRequest}
	if _, isFrame := probe["jsonrpc"]; isFrame {
		msg, err := jsonrpc.Parse(bytes.TrimSpace(raw), jsonrpc.Limits{})
		if err != nil {
			return nil, err
		}
		if msg.Kind() != jsonrpc.KindRequest {
			return nil, fmt.Errorf("a JSON-RPC input must be a request")
		}
		req, err := mcp.DecodeRequest(msg.Method, msg.Params)
		if err != nil {
			return nil, err
		}
		in.Kind = msg.Method
		in.Session = policy.Session{RunID: req.RunID, WorkflowID: req.WorkflowID}
		switch msg.Method {
		case mcp.MethodToolsCall:
			in.Tool.Name, in.Tool.Args = req.Name, req.Arguments
		case mcp.MethodPromptsGet:
			in.Prompt.Name, in.Prompt.Args = req.Name, req.Arguments
		default:
			in.Resource.URI = req.URI
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		dec.DisallowUnknownFields()
		if err := dec.Decode(in); err != nil {
			return nil, fmt.Errorf("not a decision input document (kind, user, agent, tenant, tool, resource, prompt, request_ip, headers, session, threat, response): %w", err)
		}
		if in.Kind == "" {
			return nil, fmt.Errorf("kind is required (the MCP method, e.g. tools/call)")
		}
		if in.Response != nil {
			in.Phase = policy.PhaseResponse
		}
	}
	if p.agent != "" {
		in.Agent.ID, in.User.ID = p.agent, p.agent
	}
	if p.roles != nil {
		in.Agent.Roles, in.User.Roles = p.roles, p.roles
	}
	return in, nil
}

func printVerdict(w io.Writer, in *policy.Input, v policy.Verdict, steps []rules.Step) {
	effect := string(v.Effect)
	if v.Code != "" {
		effect += " (" + string(v.Code) + ")"
	}
	fmt.Fprintf(w, "decision:  %s\n", effect)
	target := in.Target()
	if target == "" {
		target = "-"
	}
	fmt.Fprintf(w, "call:      %s %s (%s phase)\n", in.Kind, target, in.Phase)
	if v.RuleID != "" {
		fmt.Fprintf(w, "rule:      %s\n", v.RuleID)
	} else {
		fmt.Fprintf(w, "rule:      (none matched: default effect)\n")
	}
	if v.Reason != "" {
		fmt.Fprintf(w, "reason:    %s\n", v.Reason)
	}
	for _, op := range v.Ops {
		val := ""
		if op.Kind == policy.OpSet {
			b, _ := json.Marshal(op.Value)
			val = " = " + string(b)
		}
		fmt.Fprintf(w, "rewrite:   %s %s%s\n", op.Kind, strings.Join(op.Path, "."), val)
	}
	if b := v.Budget; b != nil {
		window := "lifetime of the " + string(b.Scope)
		if b.Window > 0 {
			window = "every " + b.Window.String()
		}
		fmt.Fprintf(w, "budget:    claims %v of %q (limit %v per %s, %s)\n", b.Amount, b.Key, b.Limit, b.Scope, window)
	}
	if r := v.Rate; r != nil {
		fmt.Fprintf(w, "rate:      takes 1 of %d calls per %s per %s\n", r.Limit, r.Per, r.Scope)
	}
	fmt.Fprintf(w, "revision:  %s\n", v.Revision)
	if len(steps) > 0 {
		fmt.Fprintln(w, "trace:")
		for _, st := range steps {
			mark := "no "
			if st.Matched {
				mark = "YES"
			}
			fmt.Fprintf(w, "  %s  %-28s line %-4d %s\n", mark, st.RuleID, st.Line, st.Why)
		}
	}
}
