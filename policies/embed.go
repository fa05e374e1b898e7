// Package policies compiles the starter Rego policies (SPEC §5.6) into gatehouse, so that the
// embedded default (`gatehouse serve` with no configuration) and any configuration naming
// policy.bundle: builtin:starter enforce them without a copy on disk. The .rego files beside this one
// are the bundle; edit them there, and `gatehouse test policies/` runs their tests.
package policies

import (
	"embed"
	"io/fs"
	"strings"
)

//go:embed gatehouse/*.rego
var files embed.FS

// Starter returns the starter bundle's files, without the Rego tests.
func Starter() fs.FS { return noTests{files} }

// noTests hides *_test.rego files: tests are not part of a bundle that decides.
type noTests struct{ fs.FS }

func (n noTests) Open(name string) (fs.File, error) {
	if strings.HasSuffix(name, "_test.rego") {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return n.FS.Open(name)
}

func (n noTests) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(n.FS, name)
	if err != nil {
		return nil, err
	}
	out := entries[:0:0]
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), "_test.rego") {
			out = append(out, e)
		}
	}
	return out, nil
}
