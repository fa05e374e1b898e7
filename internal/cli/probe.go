package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newProbeCommand(s streams) *cobra.Command {
	c := &adminClient{s: s}
	cmd := &cobra.Command{
		Use:   "probe live|ready",
		Short: "Ask a gatehouse serve whether it is alive or ready, for health checks",
		Long: `probe asks the admin listener of a running gatehouse serve whether it is alive (/healthz) or ready to
serve MCP requests (/readyz), and says so in its exit status. It is meant for health checks that run a command:
a Kubernetes exec probe, a container HEALTHCHECK, a systemd watchdog script. With admin.token_sha256 set, /readyz
says why it is not ready only to the token; /healthz never needs it.

The admin listener is --admin, else $GATEHOUSE_ADMIN_URL, else http://127.0.0.1:9090. Its bearer token
is read from --token-file (readable by no one else; or root's file readable by a group gatehouse runs
in, as a Kubernetes Secret volume with fsGroup presents it), else $GATEHOUSE_ADMIN_TOKEN.

Exit status: 0 alive or ready, 1 not ready (the reasons /readyz gives are printed), 2 bad usage,
3 the admin listener could not be reached, or refused the request.`,
		Example: `  gatehouse probe live
  gatehouse probe ready --token-file /var/run/secrets/gatehouse/admin-token
  gatehouse probe ready --admin https://127.0.0.1:9090 --ca-file ca.crt --server-name gatehouse.example.com`,
	}
	c.flags(cmd, 3*time.Second)
	cmd.AddCommand(&cobra.Command{
		Use:   "live",
		Short: "Exit 0 when the process answers /healthz",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			status, data, err := c.send(http.MethodGet, "/healthz", nil)
			if err != nil {
				return err
			}
			if status != http.StatusOK {
				return c.refused(status, data)
			}
			fmt.Fprintln(s.out, "alive")
			return nil
		},
	}, &cobra.Command{
		Use:   "ready",
		Short: "Exit 0 when /readyz says the gateway can serve MCP requests, 1 when it cannot",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			status, data, err := c.send(http.MethodGet, "/readyz", nil)
			if err != nil {
				return err
			}
			var r struct {
				Ready    *bool    `json:"ready"`
				Problems []string `json:"problems"`
			}
			if status != http.StatusOK && status != http.StatusServiceUnavailable {
				return c.refused(status, data)
			}
			if err := json.Unmarshal(data, &r); err != nil || r.Ready == nil {
				return fail(ExitRuntime, "admin API: /readyz answered %d with something gatehouse does not serve", status)
			}
			if status == http.StatusOK && *r.Ready {
				fmt.Fprintln(s.out, "ready")
				return nil
			}
			if len(r.Problems) == 0 {
				r.Problems = []string{fmt.Sprintf("/readyz answered %d", status)}
				if token, _ := c.token(); token == "" {
					r.Problems[0] += " (it says why only to the admin token)"
				}
			}
			return fail(ExitProblem, "not ready: %s", strings.Join(r.Problems, "; "))
		},
	})
	return cmd
}
