package policysource

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/bundle"
)

// DefaultMaxBytes bounds a bundle file, a download, and each file inside a bundle.
const DefaultMaxBytes = 64 << 20

// ReadOptions say how a bundle is checked while it is read.
type ReadOptions struct {
	// SHA256 is the pinned digest (hex) of the bundle file; empty pins nothing. A directory has no
	// single file to pin and is refused when a digest is pinned.
	SHA256 string
	// Verification verifies the bundle's .signatures.json; nil verifies nothing (a signed bundle
	// still loads, unverified).
	Verification *bundle.VerificationConfig
	// MaxBytes bounds the bundle file and each file in it. Default DefaultMaxBytes.
	MaxBytes int64
}

func (o ReadOptions) maxBytes() int64 {
	if o.MaxBytes > 0 {
		return o.MaxBytes
	}
	return DefaultMaxBytes
}

// ReadPath reads the bundle at path: a directory laid out as a bundle (the way `opa build` lays one
// out, or any directory of .rego and data files), or a bundle file (.tar.gz). In a directory, a
// symbolic link to a regular file inside the directory is read as that file, which is how a
// Kubernetes ConfigMap volume presents its keys (each a link into the hidden ..data directory kubelet
// swaps atomically); a link to anything else, and any directory whose name starts with a dot, is
// left out.
func ReadPath(path string, o ReadOptions) (*bundle.Bundle, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		data, err := readFile(path, o.maxBytes())
		if err != nil {
			return nil, err
		}
		return ReadArchive(path, data, o)
	}
	if o.SHA256 != "" {
		return nil, fmt.Errorf("%s is a directory: a pinned SHA-256 needs a bundle file (build one with gatehouse bundle build)", path)
	}
	loader := bundle.NewDirectoryLoader(path).WithSizeLimitBytes(o.maxBytes()).WithFollowSymlinks(true).
		WithFilter(skipHidden(path))
	return read(loader, o)
}

// ReadFS reads a bundle laid out in a file system (one compiled into gatehouse).
func ReadFS(fsys fs.FS, o ReadOptions) (*bundle.Bundle, error) {
	loader, err := bundle.NewFSLoader(fsys)
	if err != nil {
		return nil, err
	}
	return read(loader.WithSizeLimitBytes(o.maxBytes()), o)
}

// ReadArchive reads a bundle file (.tar.gz) already in memory; name says where it came from, for
// messages.
func ReadArchive(name string, data []byte, o ReadOptions) (*bundle.Bundle, error) {
	if err := checkDigest(data, o.SHA256); err != nil {
		return nil, err
	}
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		return nil, fmt.Errorf("%s is not a bundle file (a gzipped tar archive) or a directory", name)
	}
	return read(bundle.NewTarballLoaderWithBaseURL(bytes.NewReader(data), name).WithSizeLimitBytes(o.maxBytes()), o)
}

func read(loader bundle.DirectoryLoader, o ReadOptions) (*bundle.Bundle, error) {
	r := bundle.NewCustomReader(loader).WithSizeLimitBytes(o.maxBytes())
	if o.Verification != nil {
		r = r.WithBundleVerificationConfig(o.Verification)
	} else {
		r = r.WithSkipBundleVerification(true)
	}
	b, err := r.Read()
	if err != nil {
		return nil, err
	}
	if b.Type() == bundle.DeltaBundleType {
		return nil, errors.New("delta bundles are not supported: build a snapshot bundle")
	}
	return &b, nil
}

// checkDigest compares data's SHA-256 with a pinned hex digest.
func checkDigest(data []byte, pinned string) error {
	if pinned == "" {
		return nil
	}
	want, err := parseDigest(pinned)
	if err != nil {
		return err
	}
	got := sha256.Sum256(data)
	if subtle.ConstantTimeCompare(got[:], want) != 1 {
		return fmt.Errorf("bundle SHA-256 is %x, but %x is pinned: refusing a bundle that is not the one configured", got, want)
	}
	return nil
}

// parseDigest reads a pinned SHA-256: 64 hex digits, optionally prefixed sha256:.
func parseDigest(pinned string) ([]byte, error) {
	want, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(pinned), "sha256:"))
	if err != nil || len(want) != sha256.Size {
		return nil, fmt.Errorf("pinned SHA-256 %q is not 64 hex digits", pinned)
	}
	return want, nil
}

func readFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(f, max, path)
}

func readAll(r io.Reader, max int64, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, max)
	}
	return data, nil
}

// skipHidden leaves out directories whose name starts with a dot (.git, .cache, kubelet's
// ..2026_11_21_… snapshots) below root, but keeps dot files: .manifest and .signatures.json are part
// of a bundle. It also leaves out a symbolic link unless it leads to a regular file inside root
// (kubelet's links do; its ..data link is to a directory): a link cannot make a file from elsewhere
// (a credential gatehouse may read) part of the policy, and directory links are not followed.
func skipHidden(root string) func(string, fs.FileInfo, int) bool {
	resolved := absolute(root)
	root = filepath.ToSlash(filepath.Clean(root))
	return func(abs string, info fs.FileInfo, _ int) bool {
		if info.Mode().Type()&fs.ModeSymlink != 0 {
			target := absolute(abs)
			if target == "" || resolved == "" || !strings.HasPrefix(target, resolved+string(filepath.Separator)) {
				return true
			}
			fi, err := os.Stat(target)
			return err != nil || !fi.Mode().IsRegular()
		}
		return info.IsDir() && strings.HasPrefix(info.Name(), ".") && filepath.ToSlash(filepath.Clean(abs)) != root
	}
}

// absolute is path with every link resolved, made absolute; "" when it cannot be resolved.
func absolute(path string) string {
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		return ""
	}
	if p, err = filepath.Abs(p); err != nil {
		return ""
	}
	return p
}

// Fingerprint identifies the content at path: the SHA-256 of a bundle file, or of a directory's file
// names and contents (what ReadPath reads: hidden directories left out, links to files followed). The
// poll loop reloads when it changes, so a ConfigMap that kubelet updates in place is picked up.
func Fingerprint(path string, max int64) (string, error) {
	if max <= 0 {
		max = DefaultMaxBytes
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !info.IsDir() {
		data, err := readFile(path, max)
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(data)
		return hex.EncodeToString(sum[:]), nil
	}
	var files []string
	skip := skipHidden(path)
	err = filepath.Walk(path, func(p string, info fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		switch skipped := skip(p, info, 0); {
		case skipped && info.IsDir():
			return filepath.SkipDir
		case !skipped && (info.Mode().IsRegular() || info.Mode().Type()&fs.ModeSymlink != 0):
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	slices.Sort(files)
	h := sha256.New()
	for _, p := range files {
		data, err := readFile(p, max)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(path, p)
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(rel), len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// FileNames maps a module's path inside the bundle read from source (a directory, a file or a URL) to
// the name a person should see in a message: the file on disk for a directory, and the module's path
// after the bundle's name otherwise (policies.tar.gz/gatehouse/main.rego).
func FileNames(source string) func(string) string {
	return func(p string) string {
		if p == "" {
			return source
		}
		if info, err := os.Stat(source); err == nil && info.IsDir() {
			return filepath.Join(source, filepath.FromSlash(strings.TrimPrefix(p, "/")))
		}
		return strings.TrimSuffix(source, "/") + "/" + strings.TrimPrefix(p, "/")
	}
}
