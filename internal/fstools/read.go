package fstools

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
)

// read runs fs.read: validate the path, check the extension's type, refuse links, non-regular
// files, multiply-linked files and files over the limit, then read at most the limit plus one byte
// and check that the content is of the extension's type.
func (t *Tools) read(ctx context.Context, engagement string, args map[string]json.RawMessage) (*result, error) {
	p, err := requiredString(args, "path")
	if err != nil {
		return nil, err
	}
	clean, err := ValidatePath(p)
	if err != nil {
		return nil, err
	}
	if clean == "." {
		return nil, refusef("%s is the workspace directory itself; use %s to see what is in it", quote(p), ToolList)
	}
	ft, err := t.typeFor(clean)
	if err != nil {
		return nil, err
	}
	root, err := t.openEngagement(engagement)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	data, err := t.readFile(ctx, root, clean)
	if err != nil {
		return nil, err
	}
	if problem := checkContent(ft, data); problem != "" {
		return nil, refusef("%s refused: %s", quote(clean), problem)
	}
	return &result{Content: []any{contentFor(clean, ft, data)}}, nil
}

// openAttempts is how many times readFile tries to open a name that keeps changing under it (an
// atomic write renaming a new version into place between the checks and the open).
const openAttempts = 3

// readFile reads clean from root under the link, type and size rules.
func (t *Tools) readFile(ctx context.Context, root *os.Root, clean string) ([]byte, error) {
	f, err := t.openChecked(ctx, root, clean)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// Read the limit plus one byte at most, so that a file that grew since Stat is caught without
	// reading it whole.
	var buf bytes.Buffer
	buf.Grow(int(info.Size()) + bytes.MinRead)
	if _, err := buf.ReadFrom(io.LimitReader(f, t.maxBytes+1)); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	if int64(len(data)) > t.maxBytes {
		return nil, refusef("%s is over the %s limit", quote(clean), formatBytes(t.maxBytes))
	}
	return data, nil
}

// openChecked opens clean for reading after checking its path for links and the file for type,
// links and size, and makes sure the file opened is the one checked: a name swapped in between (for
// a link, a FIFO, another file) is checked again, and refused if it keeps changing.
func (t *Tools) openChecked(ctx context.Context, root *os.Root, clean string) (*os.File, error) {
	for attempt := 1; ; attempt++ {
		info, err := lstatNoLinks(root, clean)
		if err != nil {
			return nil, fsRefusal(err, clean)
		}
		if err := checkRegular(clean, info, t.maxBytes); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := root.OpenFile(clean, os.O_RDONLY|readFlags, 0)
		if err != nil {
			return nil, fsRefusal(err, clean)
		}
		opened, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		if os.SameFile(info, opened) {
			if err := checkRegular(clean, opened, t.maxBytes); err != nil {
				f.Close()
				return nil, err
			}
			return f, nil
		}
		f.Close()
		if attempt == openAttempts {
			return nil, refusef("%s changed while it was being opened", quote(clean))
		}
	}
}
