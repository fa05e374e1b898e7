package fstools

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Modes of everything the tools create. Nothing is ever executable.
const (
	fileMode os.FileMode = 0o644
	dirMode  os.FileMode = 0o755
)

// openEngagement opens the engagement's directory as an os.Root, creating it 0755 on first use.
// name must have passed ValidEngagement. The directory must be a real directory: a symbolic link in
// its place (which gatehouse never creates) could point at another engagement, and is an internal
// error for an operator to look at, not something a caller can fix.
func (t *Tools) openEngagement(name string) (*os.Root, error) {
	info, err := t.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		if err := mkdirExact(t.root, name); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("creating the engagement directory: %w", err)
		}
		info, err = t.root.Lstat(name)
	}
	if err != nil {
		return nil, fmt.Errorf("engagement directory: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("engagement directory %q is a %s, not a directory", name, info.Mode().Type())
	}
	r, err := t.root.OpenRoot(name)
	if err != nil {
		return nil, fmt.Errorf("opening the engagement directory: %w", err)
	}
	// OpenRoot follows a symbolic link; make sure what was opened is what Lstat saw.
	opened, err := r.Stat(".")
	if err != nil || !os.SameFile(info, opened) {
		r.Close()
		return nil, fmt.Errorf("engagement directory %q changed while it was being opened", name)
	}
	return r, nil
}

// lstatNoLinks returns the Lstat of clean (a path from ValidatePath) inside root after checking
// that no component of it is a symbolic link, so that no link is ever followed, not even one that
// stays inside the jail. os.Root would already stop a link from leading outside; refusing every link
// also keeps one engagement's files from being reached through another name, and keeps what policy
// saw (the path) the file that is used. Errors are refusals or raw file system errors for fsRefusal.
func lstatNoLinks(root *os.Root, clean string) (fs.FileInfo, error) {
	if clean == "." {
		return root.Lstat(".")
	}
	var info fs.FileInfo
	for i := 0; i <= len(clean); i++ {
		if i < len(clean) && clean[i] != '/' {
			continue
		}
		prefix := clean[:i]
		var err error
		info, err = root.Lstat(prefix)
		if err != nil {
			return nil, err
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			return nil, refusef("%s is a symbolic link; symbolic links are never followed", quote(prefix))
		}
		if i < len(clean) && !info.IsDir() {
			return nil, refusef("%s is not a directory", quote(prefix))
		}
	}
	return info, nil
}

// checkRegular refuses anything but a regular file with one link and at most max bytes.
func checkRegular(clean string, info fs.FileInfo, max int64) error {
	switch {
	case info.IsDir():
		return refusef("%s is a directory", quote(clean))
	case !info.Mode().IsRegular():
		return refusef("%s is not a regular file (%s)", quote(clean), strings.TrimSpace(typeName(info.Mode())))
	case linkCount(info) > 1:
		// A hard link is the one way a file from outside the jail can appear inside it (os.Root
		// checks names, not inodes). gatehouse never makes one, so a file with several links is
		// refused for reading (it may be someone else's file) and for writing (replacing it would
		// be harmless to the other name, but the file is not what it seems and is left for an
		// operator to look at).
		return refusef("%s has %d hard links; files with more than one link are refused", quote(clean), linkCount(info))
	case info.Size() > max:
		return refusef("%s is %s, over the %s limit", quote(clean), formatBytes(info.Size()), formatBytes(max))
	}
	return nil
}

// typeName names a file mode's type for messages and listings.
func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsDir():
		return "dir"
	case m.IsRegular():
		return "file"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "other"
}

// mkdirExact creates the directory name in root with mode 0755 exactly, whatever the umask.
func mkdirExact(root *os.Root, name string) error {
	if err := root.Mkdir(name, dirMode); err != nil {
		return err
	}
	// Chmod through a descriptor: os.Root.Chmod by name may act on a link swapped in meanwhile.
	d, err := root.Open(name)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Chmod(dirMode)
}
