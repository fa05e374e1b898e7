package fstools

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
)

// tempPrefix starts the name of every temporary file a write makes; a crash may leave one behind.
const tempPrefix = ".gatehouse-tmp-"

// writeResult is fs.write's structuredContent.
type writeResult struct {
	Path     string `json:"path"`
	Size     int    `json:"size"`
	MimeType string `json:"mimeType"`
	Created  bool   `json:"created"`
}

// write runs fs.write. Everything about the input — path, type, encoding, size, content — is
// checked before the file system is touched; then the parent directories are made (0755, refusing
// links and non-directories on the way), the target is checked (not a link, a directory, a special
// file or a file with several hard links) and replaced atomically.
func (t *Tools) write(ctx context.Context, engagement string, args map[string]json.RawMessage) (*result, error) {
	p, err := requiredString(args, "path")
	if err != nil {
		return nil, err
	}
	content, err := requiredString(args, "content")
	if err != nil {
		return nil, err
	}
	encoding, _, err := stringArg(args, "encoding")
	if err != nil {
		return nil, err
	}
	clean, err := ValidatePath(p)
	if err != nil {
		return nil, err
	}
	if clean == "." {
		return nil, refusef("%s is the workspace directory itself, not a file", quote(p))
	}
	ft, err := t.typeFor(clean)
	if err != nil {
		return nil, err
	}
	data, err := t.decodeContent(content, encoding)
	if err != nil {
		return nil, err
	}
	if problem := checkContent(ft, data); problem != "" {
		return nil, refusef("%s refused: %s", quote(clean), problem)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	root, err := t.openEngagement(engagement)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	dir := path.Dir(clean)
	if err := makeParents(root, dir); err != nil {
		return nil, fsRefusal(err, dir)
	}
	created := false
	switch info, err := root.Lstat(clean); {
	case errors.Is(err, fs.ErrNotExist):
		created = true
	case err != nil:
		return nil, fsRefusal(err, clean)
	case info.Mode()&fs.ModeSymlink != 0:
		return nil, refusef("%s is a symbolic link; symbolic links are never followed or replaced", quote(clean))
	default:
		// The old file's size does not matter: it is replaced, not read.
		if err := checkRegular(clean, info, info.Size()); err != nil {
			return nil, err
		}
	}
	if t.minFree > 0 {
		// The writes in progress count as written: together they must leave minFree too.
		writing := t.writing.Add(int64(len(data)))
		defer t.writing.Add(-int64(len(data)))
		free, ok := freeBytes(t.root.Name())
		if t.testHooks.freeBytes != nil {
			free = t.testHooks.freeBytes()
		}
		if ok && free-writing < t.minFree {
			return nil, refusef("%s refused: the disk holding the files has %s free, and writes stop %s short of full (fs.min_free_mb) to keep room for the audit log",
				quote(clean), formatBytes(free), formatBytes(t.minFree))
		}
	}
	if err := t.replace(root, dir, clean, data); err != nil {
		return nil, fsRefusal(err, clean)
	}
	verb := "replaced"
	if created {
		verb = "created"
	}
	return &result{
		Content:           []any{text(fmt.Sprintf("%s %s (%d bytes, %s)", verb, clean, len(data), ft.mime))},
		StructuredContent: writeResult{Path: clean, Size: len(data), MimeType: ft.mime, Created: created},
	}, nil
}

// decodeContent decodes the content argument by its encoding and enforces the size limit, checking
// an obviously oversized base64 string before decoding it.
func (t *Tools) decodeContent(content, encoding string) ([]byte, error) {
	tooBig := func(n int64) error {
		return refusef("the content is %s, over the %s limit", formatBytes(n), formatBytes(t.maxBytes))
	}
	var data []byte
	switch encoding {
	case "", "utf-8":
		data = []byte(content)
	case "base64":
		if n := int64(base64.StdEncoding.DecodedLen(len(content))); n/2 > t.maxBytes {
			// Even if half of it were line breaks, this decodes to more than the limit.
			return nil, tooBig(n)
		}
		var err error
		data, err = base64.StdEncoding.DecodeString(content)
		if err != nil {
			return nil, refusef("the content is not valid base64 (%v)", err)
		}
	default:
		return nil, refusef(`the encoding %s is not "utf-8" or "base64"`, quote(encoding))
	}
	if int64(len(data)) > t.maxBytes {
		return nil, tooBig(int64(len(data)))
	}
	return data, nil
}

// makeParents creates dir and its missing parents inside root with mode 0755. An existing
// component must be a real directory: a symbolic link (even to a directory inside the jail) or a
// file on the way is refused.
func makeParents(root *os.Root, dir string) error {
	if dir == "." {
		return nil
	}
	for i := 0; i <= len(dir); i++ {
		if i < len(dir) && dir[i] != '/' {
			continue
		}
		prefix := dir[:i]
		info, err := root.Lstat(prefix)
		if errors.Is(err, fs.ErrNotExist) {
			if err := mkdirExact(root, prefix); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			info, err = root.Lstat(prefix)
		}
		switch {
		case err != nil:
			return err
		case info.Mode()&fs.ModeSymlink != 0:
			return refusef("%s is a symbolic link; symbolic links are never followed", quote(prefix))
		case !info.IsDir():
			return refusef("%s is not a directory", quote(prefix))
		}
	}
	return nil
}

// replace writes data to a new temporary file in dir, syncs it, gives it mode 0644 and renames it
// over name. On any failure the temporary file is removed and name is left as it was.
func (t *Tools) replace(root *os.Root, dir, name string, data []byte) (err error) {
	tmp := path.Join(dir, tempPrefix+rand.Text())
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			if rmErr := root.Remove(tmp); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
				err = errors.Join(err, fmt.Errorf("removing the temporary file: %w", rmErr))
			}
		}
	}()
	var w io.Writer = f
	if t.testHooks.wrapWriter != nil {
		w = t.testHooks.wrapWriter(f)
	}
	if _, err = w.Write(data); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	// Mode through the descriptor, exactly 0644 whatever the umask; a replaced file that was
	// executable does not pass its mode on, since the new file replaces it.
	if err = f.Chmod(fileMode); err != nil {
		return fmt.Errorf("setting the mode: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("syncing: %w", err)
	}
	closed = true
	if err = f.Close(); err != nil {
		return fmt.Errorf("closing: %w", err)
	}
	if t.testHooks.beforeRename != nil {
		if err = t.testHooks.beforeRename(); err != nil {
			return err
		}
	}
	if err = root.Rename(tmp, name); err != nil {
		return fmt.Errorf("renaming into place: %w", err)
	}
	// Make the rename durable. The file is already in place and whole, so a failure here is not
	// reported as a failed write.
	if d, err := root.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
