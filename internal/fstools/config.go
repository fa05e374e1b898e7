package fstools

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
)

// DefaultMaxFileBytes is the file size limit when Config.MaxFileBytes is zero: 10 MiB, the default of
// MCP_MAX_FILE_SIZE_MB (SPEC §8.5).
const DefaultMaxFileBytes int64 = 10 << 20

// DefaultMinFreeBytes is the free space fs.write leaves when Config.MinFreeBytes is zero: 1 GiB.
const DefaultMinFreeBytes int64 = 1 << 30

// Config configures the file tools. The zero value of every field except Root means its default.
type Config struct {
	// Root is the data root (MCP_DATA_ROOT). It is created 0755 if missing. Each engagement's files
	// live in Root/<engagement>/, created 0755 on the engagement's first call.
	Root string
	// MaxFileBytes is the largest file, in bytes, that fs.read returns and fs.write accepts (for
	// fs.write, the size after base64 decoding). Zero means DefaultMaxFileBytes; negative is an error.
	MaxFileBytes int64
	// AllowMIME lists the MIME types that may be read and written. An entry is a type
	// ("text/plain"), a type family ("image/*") or "*/*". Nil means DefaultAllowMIME.
	AllowMIME []string
	// MinFreeBytes is the free space fs.write leaves on the data root's file system: a write that
	// would leave less is refused, so that the tools cannot fill the disk the audit log is on. Zero
	// means DefaultMinFreeBytes; negative turns the check off.
	MinFreeBytes int64
	// BlockMIME lists MIME types that are refused even if AllowMIME matches them, in the same syntax.
	// Nil means DefaultBlockMIME; to allow a blocked type, list it in AllowMIME and leave it out of
	// an explicit BlockMIME (an empty, non-nil slice blocks nothing).
	BlockMIME []string
}

// DefaultAllowMIME returns the types SPEC §8.4 allows: plain text, CSV, Markdown, HTML, JSON, XML,
// PDF, the Microsoft Office formats (legacy and OOXML) and PNG, JPEG, GIF and WebP images.
func DefaultAllowMIME() []string {
	return []string{
		"text/plain", "text/csv", "text/markdown", "text/html", "application/json", "application/xml",
		"application/pdf",
		"application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
		mimeDOCX, mimeXLSX, mimePPTX,
		"image/png", "image/jpeg", "image/gif", "image/webp",
	}
}

// DefaultBlockMIME returns the types SPEC §8.4 blocks: executables (including macro-enabled Office
// documents), scripts, archives, video and audio — every such type of the extension table, plus
// video/* and audio/*, so that allowing a wildcard such as "application/*" or "text/*" never admits
// them.
func DefaultBlockMIME() []string {
	var out []string
	for _, e := range extensionTable {
		switch e.class {
		case classExecutable, classScript, classArchive:
			if !slices.Contains(out, e.mime) {
				out = append(out, e.mime)
			}
		}
	}
	return append(out, "video/*", "audio/*")
}

// Tools serves fs.read, fs.write and fs.list over one data root. It is safe for concurrent use.
type Tools struct {
	root      *os.Root // the data root; each engagement is a directory in it
	maxBytes  int64
	minFree   int64        // 0: not checked
	writing   atomic.Int64 // bytes of the writes in progress
	allow     []string
	block     []string
	byExt     map[string]fileType // lower-case extension with its dot → type
	testHooks testHooks           // zero outside tests
}

// testHooks lets tests inject failures into a write. They are fields of one Tools value, never
// package state, so parallel tests cannot see each other's hooks.
type testHooks struct {
	// wrapWriter wraps the temporary file's writer, e.g. to fail after part of the data.
	wrapWriter func(io.Writer) io.Writer
	// freeBytes replaces the free space read from the disk.
	freeBytes func() int64
	// beforeRename runs after the temporary file is complete and synced; an error aborts the write.
	beforeRename func() error
}

// New validates cfg, creates the data root if needed and opens it. Every problem in cfg is reported
// at once. The caller must Close the Tools.
func New(cfg Config) (*Tools, error) {
	var errs []error
	if cfg.Root == "" {
		errs = append(errs, errors.New("fstools: root: the data root is empty (set MCP_DATA_ROOT)"))
	}
	maxBytes := cfg.MaxFileBytes
	switch {
	case maxBytes == 0:
		maxBytes = DefaultMaxFileBytes
	case maxBytes < 0:
		errs = append(errs, fmt.Errorf("fstools: max file bytes: %d is negative", maxBytes))
	}
	allow, err := mimeList("allow", cfg.AllowMIME, DefaultAllowMIME())
	errs = append(errs, err)
	block, err := mimeList("block", cfg.BlockMIME, DefaultBlockMIME())
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("fstools: root %q: %w", cfg.Root, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fstools: creating the data root: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("fstools: opening the data root: %w", err)
	}
	minFree := cfg.MinFreeBytes
	switch {
	case minFree == 0:
		minFree = DefaultMinFreeBytes
	case minFree < 0:
		minFree = 0
	}
	t := &Tools{root: root, maxBytes: maxBytes, minFree: minFree, allow: allow, block: block, byExt: map[string]fileType{}}
	for _, e := range extensionTable {
		t.byExt[e.ext] = e
	}
	return t, nil
}

// Close closes the data root. Calls after Close fail with an internal error.
func (t *Tools) Close() error { return t.root.Close() }

// MaxFileBytes returns the effective file size limit in bytes.
func (t *Tools) MaxFileBytes() int64 { return t.maxBytes }

// mimeList validates a configured MIME list, or returns def when it is nil. Entries are compared
// lower-case.
func mimeList(which string, list, def []string) ([]string, error) {
	if list == nil {
		return def, nil
	}
	var errs []error
	out := make([]string, 0, len(list))
	for i, m := range list {
		m = strings.ToLower(strings.TrimSpace(m))
		if !validMIMEPattern(m) {
			errs = append(errs, fmt.Errorf("fstools: %s MIME [%d]: %q is not a MIME type (type/subtype, type/* or */*)", which, i, m))
			continue
		}
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}

// validMIMEPattern reports whether m is "type/subtype", "type/*" or "*/*" in lower case.
func validMIMEPattern(m string) bool {
	typ, sub, ok := strings.Cut(m, "/")
	if !ok || typ == "" || sub == "" {
		return false
	}
	if typ == "*" {
		return sub == "*"
	}
	token := func(s string) bool {
		for _, c := range s {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.ContainsRune(".+-_", c)) {
				return false
			}
		}
		return true
	}
	return token(typ) && (sub == "*" || token(sub))
}

// matchMIME reports whether pattern (validated by validMIMEPattern) matches mime.
func matchMIME(pattern, mime string) bool {
	switch {
	case pattern == "*/*" || pattern == mime:
		return true
	case strings.HasSuffix(pattern, "/*"):
		return strings.HasPrefix(mime, strings.TrimSuffix(pattern, "*"))
	}
	return false
}

// permitted reports whether files of type mime may be read and written.
func (t *Tools) permitted(mime string) bool {
	match := func(p string) bool { return matchMIME(p, mime) }
	return slices.ContainsFunc(t.allow, match) && !slices.ContainsFunc(t.block, match)
}
