package cli

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/open-policy-agent/opa/v1/compile"
	"github.com/spf13/cobra"

	"github.com/gatehouse-mcp/gatehouse/internal/policy/rego"
	"github.com/gatehouse-mcp/gatehouse/internal/policysource"
)

// bundleBuildParams are the inputs of `gatehouse bundle build`.
type bundleBuildParams struct {
	dir          string
	output       string
	revision     string
	signingKey   string
	includeTests bool
	query        string
}

func newBundleCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Build Rego policy bundles",
		Long: `bundle works with OPA bundles, the format gatehouse loads Rego policies in (docs/policy-rego.md).

Exit status: 0 built, 1 the policies do not load, 2 bad usage or an I/O error.`,
		Example: `  gatehouse bundle build policies/ -o bundle.tar.gz --revision "$(git rev-parse --short HEAD)"`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newBundleBuildCommand(s))
	return cmd
}

func newBundleBuildCommand(s streams) *cobra.Command {
	p := &bundleBuildParams{}
	cmd := &cobra.Command{
		Use:   "build DIR -o FILE",
		Short: "Build a bundle file (.tar.gz) from a directory of Rego policies and data",
		Long: `build compiles DIR with OPA's own compile package, exactly as 'opa build -b DIR' does, so the result
is a standard OPA bundle: .manifest (with --revision), the .rego modules, data.json and, with
--signing-key, .signatures.json. The bundle is then loaded back the way gatehouse run loads one; a
bundle that would be refused (a syntax error, an undefined reference, a built-in that does I/O or
reads the clock) is not written, and every problem is reported as file:line: message.

DIR is the bundle root: a .manifest there is honoured, and package paths come from the packages,
data paths from the directories. Rego tests (*_test.rego) stay out of the bundle unless
--include-tests is given; run them with gatehouse test.

--signing-key takes a PEM private key (RSA or ECDSA P-256/384/521); the algorithm follows from the
key (RS256, ES256/384/512). Configure the matching public key as policy.bundle_public_key and gatehouse
loads only bundles it signed.

Exit status: 0 built, 1 the policies do not load, 2 bad usage or an I/O error.`,
		Example: `  gatehouse bundle build policies/ -o bundle.tar.gz

  # With a revision that audit records will carry, signed
  gatehouse bundle build policies/ -o bundle.tar.gz --revision 2026.11.21-1 --signing-key bundle-signing.pem
  sha256sum bundle.tar.gz   # for policy.bundle_sha256`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.dir = args[0]
			return runBundleBuild(cmd.Context(), p, s)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&p.output, "output", "o", "", "bundle file to write (required)")
	f.StringVar(&p.revision, "revision", "", "revision recorded in the .manifest (and in every audit record)")
	f.StringVar(&p.signingKey, "signing-key", "", "PEM private key to sign the bundle with (.signatures.json)")
	f.BoolVar(&p.includeTests, "include-tests", false, "keep *_test.rego files in the bundle")
	f.StringVar(&p.query, "query", rego.DefaultQuery, "the decision the bundle is checked for (a warning when no rule defines it)")
	return cmd
}

func runBundleBuild(ctx context.Context, p *bundleBuildParams, s streams) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if p.output == "" {
		return fail(ExitUsage, "bundle build needs -o FILE")
	}
	if info, err := os.Stat(p.dir); err != nil || !info.IsDir() {
		return fail(ExitUsage, "%s is not a directory of policies", p.dir)
	}
	var buf bytes.Buffer
	// Read through the directory as a file system rooted at DIR, so paths inside the bundle are
	// relative to it (/gatehouse/main.rego), wherever DIR is.
	c := compile.New().WithFS(os.DirFS(p.dir)).WithPaths(".").WithAsBundle(true).WithOutput(&buf)
	if !p.includeTests {
		c = c.WithFilter(func(_ string, info fs.FileInfo, _ int) bool {
			return !info.IsDir() && strings.HasSuffix(info.Name(), "_test.rego")
		})
	}
	if p.revision != "" {
		c = c.WithRevision(p.revision)
	}
	if p.signingKey != "" {
		sc, err := policysource.Signing(p.signingKey)
		if err != nil {
			return fail(ExitUsage, "%v", err)
		}
		c = c.WithBundleSigningConfig(sc).WithBundleVerificationKeyID(policysource.KeyID)
	}
	if err := c.Build(ctx); err != nil {
		return fail(ExitProblem, "%v", locatedError(p.dir, err))
	}
	// Load it back as gatehouse run would: what is written is known to load.
	b, err := policysource.ReadArchive(p.output, buf.Bytes(), policysource.ReadOptions{})
	if err != nil {
		return fail(ExitProblem, "%v", locatedError(p.dir, err))
	}
	d, err := rego.New(ctx, b, rego.Options{Query: p.query})
	if err != nil {
		return fail(ExitProblem, "%v", locatedError(p.dir, err))
	}
	for _, w := range d.Warnings() {
		fmt.Fprintln(s.err, "warning: "+w.String())
	}
	if err := writeAtomic(p.output, buf.Bytes()); err != nil {
		return fail(ExitUsage, "%v", err)
	}
	signed := ""
	if p.signingKey != "" {
		signed = ", signed"
	}
	fmt.Fprintf(s.out, "wrote %s: %d module(s), revision %s%s, %d bytes\n", p.output, len(b.Modules), d.Revision(), signed, buf.Len())
	return nil
}

// writeAtomic writes data to path through a temporary file and a rename, so that a poller never reads
// half a bundle.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
