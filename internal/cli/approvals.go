package cli

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf16"

	"github.com/spf13/cobra"

	"github.com/gatehouse-mcp/gatehouse/internal/secretfile"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// EnvAdminURL and EnvAdminToken give `gatehouse approvals` the admin listener and its token.
const (
	EnvAdminURL   = "GATEHOUSE_ADMIN_URL"
	EnvAdminToken = "GATEHOUSE_ADMIN_TOKEN"
)

// adminClient is what `gatehouse approvals` needs to reach a gatehouse serve's admin API.
type adminClient struct {
	url, tokenFile, caFile, serverName string
	timeout                            time.Duration
	s                                  streams
}

func newApprovalsCommand(s streams) *cobra.Command {
	c := &adminClient{s: s}
	cmd := &cobra.Command{
		Use:   "approvals list|show|approve|deny",
		Short: "List and decide held calls through a gatehouse serve's admin API",
		Long: `approvals talks to the admin API of a running gatehouse serve (SPEC §10.3). A call held by policy
(require_approval, a pack's hold_for_approval, a quarantined tool) opens an approval bound to the
exact call: its method, tool and arguments, its caller, engagement and upstream. An approved approval
lets that one call through once, before it expires; see docs/approvals.md.

Every decision is written to the audit log (approver, note, time) before it takes effect.

The admin listener is --admin, else $GATEHOUSE_ADMIN_URL, else http://127.0.0.1:9090. Its bearer token
(admin.token_sha256) is read from --token-file, else $GATEHOUSE_ADMIN_TOKEN.

Exit status: 0 done, 1 the approval is unknown or no longer pending, 2 bad usage, 3 the admin API
could not be reached or refused the request.`,
		Example: `  gatehouse approvals list
  gatehouse approvals show apr_5WQ2X7ZJ3H4K
  gatehouse approvals approve apr_5WQ2X7ZJ3H4K --approver alice --note "refund checked with billing"
  gatehouse approvals deny apr_5WQ2X7ZJ3H4K --approver alice --note "not this customer"`,
	}
	c.flags(cmd, 10*time.Second)

	var status string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--status pending]",
		Short: "List approvals, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := "/admin/v1/approvals"
			if status != "" {
				path += "?status=" + url.QueryEscape(status)
			}
			var out struct {
				Approvals []state.Approval `json:"approvals"`
			}
			if err := c.do(http.MethodGet, path, nil, &out); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(s.out, out)
			}
			printApprovals(s.out, out.Approvals)
			return nil
		},
	}
	list.Flags().StringVar(&status, "status", "", "only approvals in this status: pending, approved, denied, used, expired")
	list.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one approval, with the redacted preview of the call's arguments",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var a state.Approval
			if err := c.do(http.MethodGet, "/admin/v1/approvals/"+url.PathEscape(args[0]), nil, &a); err != nil {
				return err
			}
			return writeJSON(s.out, a)
		},
	}
	cmd.AddCommand(list, show, c.decideCommand("approve", "Approve a pending approval: the held call (or its retry) goes through, once"),
		c.decideCommand("deny", "Deny a pending approval: the held call is answered approval_denied"))
	return cmd
}

func (c *adminClient) decideCommand(action, short string) *cobra.Command {
	var approver, note string
	cmd := &cobra.Command{
		Use:   action + " ID [--approver NAME] [--note TEXT]",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if approver == "" {
				approver, _ = envLookup(c.s.env, "USER")
			}
			if strings.TrimSpace(approver) == "" {
				return fail(ExitUsage, "say who decides with --approver NAME ($USER is not set)")
			}
			body, _ := json.Marshal(map[string]string{"id": args[0], "approver": approver, "note": note})
			var a state.Approval
			if err := c.do(http.MethodPost, "/admin/v1/approvals/"+action, body, &a); err != nil {
				return err
			}
			fmt.Fprintf(c.s.out, "%s %s: %s %s for %s, by %s\n", a.Status, orDash(a.ID), a.Method, orDash(a.Tool), orDash(a.Caller), orDash(a.Approver))
			return nil
		},
	}
	cmd.Flags().StringVar(&approver, "approver", "", "who decides, as the audit log records it (default $USER)")
	cmd.Flags().StringVar(&note, "note", "", "why, as the audit log records it")
	return cmd
}

// flags adds the flags that say how to reach the admin API to cmd and its subcommands.
func (c *adminClient) flags(cmd *cobra.Command, timeout time.Duration) {
	cmd.PersistentFlags().StringVar(&c.url, "admin", "", "base URL of the admin listener (default $"+EnvAdminURL+", else http://127.0.0.1:9090)")
	cmd.PersistentFlags().StringVar(&c.tokenFile, "token-file", "", "file holding the admin bearer token (default $"+EnvAdminToken+")")
	cmd.PersistentFlags().StringVar(&c.caFile, "ca-file", "", "PEM CA certificate(s) to verify an https admin listener with, besides the system's")
	cmd.PersistentFlags().StringVar(&c.serverName, "server-name", "", "the name an https admin listener's certificate must be valid for, when it is not the URL's host")
	cmd.PersistentFlags().DurationVar(&c.timeout, "timeout", timeout, "bound on each request to the admin API")
}

// do sends a request to the admin API and decodes a 200 answer into out. Other answers become
// errors with the exit codes the command documents.
func (c *adminClient) do(method, path string, body []byte, out any) error {
	status, data, err := c.send(method, path, body)
	if err != nil {
		return err
	}
	if status == http.StatusOK {
		if err := json.Unmarshal(data, out); err != nil {
			return fail(ExitRuntime, "admin API: the answer is not what gatehouse serves: %v", err)
		}
		return nil
	}
	return c.refused(status, data)
}

// send sends a request to the admin API (its URL, token and TLS settings from the flags and the
// environment) and returns the answer's status and body, or an error with the exit code the command
// documents when there is no answer.
func (c *adminClient) send(method, path string, body []byte) (int, []byte, error) {
	base := c.url
	if base == "" {
		base, _ = envLookup(c.s.env, EnvAdminURL)
	}
	if base == "" {
		base = "http://127.0.0.1:9090"
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return 0, nil, fail(ExitUsage, "the admin URL must be http://host:port or https://host:port (got %q)", base)
	}
	token, err := c.token()
	if err != nil {
		return 0, nil, err
	}
	if token != "" && u.Scheme == "http" && !isLoopbackAddr(u.Host) {
		fmt.Fprintf(c.s.err, "gatehouse: warning: sending the admin token to %s without TLS\n", u.Host)
	}
	client := &http.Client{Timeout: c.timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if c.caFile != "" || c.serverName != "" {
		tc := &tls.Config{ServerName: c.serverName, MinVersion: tls.VersionTLS13}
		if c.caFile != "" {
			pool, err := caPool(c.caFile)
			if err != nil {
				return 0, nil, fail(ExitUsage, "--ca-file: %v", err)
			}
			tc.RootCAs = pool
		}
		client.Transport = &http.Transport{TLSClientConfig: tc}
	}
	req, err := http.NewRequest(method, strings.TrimRight(u.String(), "/")+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fail(ExitUsage, "%v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fail(ExitRuntime, "admin API: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, nil, fail(ExitRuntime, "admin API: reading the answer: %v", err)
	}
	return resp.StatusCode, data, nil
}

// refused turns an answer other than 200 into an error with the exit code the command documents.
func (c *adminClient) refused(status int, data []byte) error {
	var e struct {
		Error string `json:"error"`
	}
	msg := strings.TrimSpace(string(data))
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	switch status {
	case http.StatusNotFound, http.StatusConflict:
		return fail(ExitProblem, "%s", msg)
	case http.StatusBadRequest:
		return fail(ExitUsage, "%s", msg)
	case http.StatusUnauthorized, http.StatusForbidden:
		return fail(ExitRuntime, "admin API refused the request (%d): %s; give its token with --token-file or $%s", status, msg, EnvAdminToken)
	}
	return fail(ExitRuntime, "admin API answered %d: %s", status, msg)
}

// token reads the admin token: --token-file (not readable by group or others), else the environment.
func (c *adminClient) token() (string, error) {
	if c.tokenFile != "" {
		data, err := secretfile.Read(c.tokenFile, "admin token file")
		if err != nil {
			return "", fail(ExitUsage, "--token-file: %v", err)
		}
		return strings.TrimSpace(string(data)), nil
	}
	t, _ := envLookup(c.s.env, EnvAdminToken)
	return t, nil
}

// writeJSON prints v as indented JSON for a terminal: every character that is not shown (C1
// controls, bidirectional overrides that would reorder an amount or an address on screen, invisible
// characters; see shown) is written as a \u escape, which JSON reads as the same string.
func writeJSON(w io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, r := range string(data) {
		switch {
		case r == '\n' || shown(r):
			b.WriteRune(r)
		case r > 0xFFFF:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, "\\u%04x\\u%04x", r1, r2)
		default:
			fmt.Fprintf(&b, "\\u%04x", r)
		}
	}
	b.WriteByte('\n')
	_, err = io.WriteString(w, b.String())
	return err
}

// printApprovals prints one line per approval.
func printApprovals(w io.Writer, as []state.Approval) {
	if len(as) == 0 {
		fmt.Fprintln(w, "no approvals")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tMETHOD\tTOOL\tCALLER\tTENANT\tRULE\tEXPIRES\tAPPROVER")
	for _, a := range as {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", orDash(a.ID), a.Status, orDash(a.Method), orDash(a.Tool), orDash(a.Caller), orDash(a.Tenant),
			orDash(a.RuleID), a.Expires.UTC().Format(time.RFC3339), orDash(a.Approver))
	}
	tw.Flush()
}

// orDash shows s for a terminal: "-" when empty, and anything that is not printable (an escape
// sequence in a tool name an agent chose, say) as '?'.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if !shown(r) {
			return '?'
		}
		return r
	}, s)
}

// shown says whether r may be put on a terminal as it is: printable (unicode.IsPrint: no controls,
// format characters such as bidirectional overrides and zero-width joiners, or spaces other than
// U+0020), and not one of the printable characters that show nothing: variation selectors, the
// other default-ignorable code points (Hangul fillers, the combining grapheme joiner), and the
// braille blank. The admin web page escapes the same characters.
func shown(r rune) bool {
	return unicode.IsPrint(r) && !unicode.Is(unicode.Variation_Selector, r) &&
		!unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) && r != '\u2800'
}
