package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
)

func newKeygenCommand(s streams) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "keygen [--out PREFIX]",
		Short: "Create an Ed25519 key pair for signing audit checkpoints",
		Long: `keygen writes PREFIX.key (PKCS#8 private key, mode 0600) and PREFIX.pub (PKIX public key, 0644).
Give the private key to gatehouse (--audit-key, or audit.key in the configuration) and the public key
to whoever verifies the log (gatehouse verify --pubkey). Existing files are never overwritten.`,
		Example: `  gatehouse keygen --out /etc/gatehouse/audit
  gatehouse run --audit-key /etc/gatehouse/audit.key --policy p.yaml -- my-server
  gatehouse verify --audit gatehouse-audit.jsonl --pubkey /etc/gatehouse/audit.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			priv, pub := prefix+".key", prefix+".pub"
			if err := auditlog.WriteKeyPair(priv, pub); err != nil {
				return fail(ExitProblem, "%v", err)
			}
			key, err := auditlog.ReadPublicKeyFile(pub)
			if err != nil {
				return fail(ExitProblem, "%v", err)
			}
			fmt.Fprintf(s.out, "wrote %s (private, 0600) and %s (public); key id %s\n", priv, pub, auditlog.KeyID(key))
			return nil
		},
	}
	cmd.Flags().StringVar(&prefix, "out", "gatehouse-audit", "path prefix of the key files")
	return cmd
}
