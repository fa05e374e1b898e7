package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/redact"
)

func orEmbedded(path string) string {
	if path == "" {
		return config.EmbeddedName
	}
	return path
}

// printBanner tells the person who started serve what runs and how to call it: one command they can
// paste (SPEC §1.3). It goes to stdout; the JSON log goes to stderr.
func printBanner(w io.Writer, configFile string, cfg *config.ServeConfig, endpoint string, eng *engines) {
	fmt.Fprintf(w, "gatehouse serve: %s\n", orEmbedded(configFile))
	fmt.Fprintf(w, "  MCP endpoint  %s", endpoint)
	if cfg.Tenancy.Enabled {
		if cfg.Tenancy.Default != "" {
			fmt.Fprintf(w, " (engagement %q; %s for another)", cfg.Tenancy.Default, strings.Replace(endpoint, cfg.Path, "/e/<engagement>"+cfg.Path, 1))
		} else {
			fmt.Fprintf(w, " (%s per engagement)", strings.Replace(endpoint, cfg.Path, "/e/<engagement>"+cfg.Path, 1))
		}
	}
	fmt.Fprintln(w)
	if cfg.Admin.Listen != "" {
		scheme := "http"
		if cfg.TLS.Cert != "" {
			scheme = "https"
		}
		fmt.Fprintf(w, "  admin         %s://%s  (/metrics /healthz /readyz /admin/v1/...)\n", scheme, cfg.Admin.Listen)
		fmt.Fprintf(w, "  approvals     %s://%s/admin/  (the admin web page)\n", scheme, cfg.Admin.Listen)
	}
	var fsRoot string
	for _, u := range cfg.Upstreams {
		switch {
		case u.Builtin == "fs":
			fsRoot = u.FS.DataRoot
			fmt.Fprintf(w, "  upstream      %s: built-in file tools %s.read %s.write %s.list, jailed in %s/<engagement>/\n", u.Name, u.PrefixOf(), u.PrefixOf(), u.PrefixOf(), u.FS.DataRoot)
		case u.URL != "":
			// Redacted like a log line: a URL or a command may carry a credential from ${NAME}.
			fmt.Fprintf(w, "  upstream      %s: %s\n", u.Name, redact.Text(u.URL))
		default:
			fmt.Fprintf(w, "  upstream      %s: %s\n", u.Name, redact.Text(strings.Join(u.Command, " ")))
		}
	}
	policy := eng.modes()
	if cfg.Policy.Bundle == config.BuiltinStarter {
		policy += " (the starter Rego policies)"
	}
	fmt.Fprintf(w, "  policy        %s; fail %s\n", policy, cfg.Fail)
	fmt.Fprintf(w, "  audit         %s (gatehouse verify --audit %s)\n", cfg.Audit.Path, cfg.Audit.Path)
	if r := cfg.Replicas; r.Enabled() {
		others := len(r.Peers)
		if _, self := r.Peers[r.Name]; self {
			others--
		}
		fmt.Fprintf(w, "  replicas      this is %s; legacy sessions of %d other replicas are forwarded to them\n", r.Name, others)
	}
	if !cfg.MCPEnabled() {
		fmt.Fprintln(w, "  MCP is disabled (enabled: false / MCP_ENABLED=false): every MCP request gets 503")
		return
	}
	fmt.Fprintln(w, "Try it:")
	if fsRoot != "" {
		fmt.Fprintf(w, "  %s\n", curlCall(endpoint, "fs.write", `{"path":"hello.md","content":"# Hello from gatehouse\n"}`))
		fmt.Fprintf(w, "  %s\n", curlCall(endpoint, "fs.read", `{"path":"hello.md"}`))
		return
	}
	fmt.Fprintf(w, "  %s\n", curlRequest(endpoint, "tools/list", "", `{}`))
}

// curlCall is a curl command that calls tool with args (JSON) in one stateless 2026-07-28 request.
func curlCall(endpoint, tool, args string) string {
	return curlRequest(endpoint, "tools/call", tool, `{"name":"`+tool+`","arguments":`+args+`}`)
}

func curlRequest(endpoint, method, name, params string) string {
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	if params == "{}" {
		params = "{" + meta + "}"
	} else {
		params = strings.TrimSuffix(params, "}") + "," + meta + "}"
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"` + method + `","params":` + params + `}`
	cmd := "curl -s " + endpoint + " -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream'" +
		" -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: " + method + "'"
	if name != "" {
		cmd += " -H 'Mcp-Name: " + name + "'"
	}
	return cmd + " -d '" + strings.ReplaceAll(body, "'", `'\''`) + "'"
}
