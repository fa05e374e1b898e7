package fstools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// maxListEntries is the most entries fs.list returns; a bigger directory is listed truncated.
const maxListEntries = 1000

// listResult is fs.list's structuredContent; its JSON is also the text content.
type listResult struct {
	Path      string      `json:"path"`
	Entries   []listEntry `json:"entries"`
	Truncated bool        `json:"truncated"`
}

// listEntry is one directory entry. Size is set for regular files only.
type listEntry struct {
	Name string `json:"name"`
	Type string `json:"type"` // file, dir, symlink or other
	Size *int64 `json:"size,omitempty"`
}

// list runs fs.list: the directory must be reached without symbolic links; its entries are
// reported with Lstat, so a link is listed as "symlink" and never followed.
func (t *Tools) list(ctx context.Context, engagement string, args map[string]json.RawMessage) (*result, error) {
	p, ok, err := stringArg(args, "path")
	if err != nil {
		return nil, err
	}
	if !ok {
		p = "."
	}
	clean, err := ValidatePath(p)
	if err != nil {
		return nil, err
	}
	root, err := t.openEngagement(engagement)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	info, err := lstatNoLinks(root, clean)
	if err != nil {
		return nil, fsRefusal(err, clean)
	}
	if !info.IsDir() {
		return nil, refusef("%s is not a directory", quote(clean))
	}
	d, err := root.Open(clean)
	if err != nil {
		return nil, fsRefusal(err, clean)
	}
	defer d.Close()
	opened, err := d.Stat()
	if err != nil {
		return nil, err
	}
	if !os.SameFile(info, opened) {
		return nil, refusef("%s changed while it was being opened", quote(clean))
	}
	out := listResult{Path: clean, Entries: []listEntry{}}
	for len(out.Entries) <= maxListEntries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch, err := d.ReadDir(256)
		for _, e := range batch {
			// Lstat through the root rather than DirEntry.Info, which stats by a path outside it.
			ei, err := root.Lstat(path.Join(clean, e.Name()))
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since it was read
			}
			if err != nil {
				return nil, fmt.Errorf("listing: %w", err)
			}
			entry := listEntry{Name: e.Name(), Type: typeName(ei.Mode())}
			switch entry.Type {
			case "file":
				size := ei.Size()
				entry.Size = &size
			case "dir", "symlink":
			default:
				entry.Type = "other"
			}
			out.Entries = append(out.Entries, entry)
		}
		if err == io.EOF || (err == nil && len(batch) == 0) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("listing: %w", err)
		}
	}
	slices.SortFunc(out.Entries, func(a, b listEntry) int { return strings.Compare(a.Name, b.Name) })
	if len(out.Entries) > maxListEntries {
		out.Entries, out.Truncated = out.Entries[:maxListEntries], true
	}
	js, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return &result{Content: []any{text(string(js))}, StructuredContent: out}, nil
}
