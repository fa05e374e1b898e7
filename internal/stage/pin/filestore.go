package pin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/go-json-experiment/json"

	"github.com/gatehouse-mcp/gatehouse/internal/atomicfile"
)

// FileStore is a Store kept in a JSON file, so that pins and approvals survive a restart: without
// it, a definition that changed while gatehouse was down would be pinned as new on the next start.
// It serves one process; several replicas share pins through a shared Store.
type FileStore struct {
	path string
	mu   sync.Mutex
	m    map[string]Record // key: upstream + "\x00" + tool
}

var _ Store = (*FileStore)(nil)

type pinFile struct {
	Version int                          `json:"version"`
	Pins    map[string]map[string]Record `json:"pins"` // upstream → tool → record
}

// OpenFileStore loads path (which need not exist yet).
func OpenFileStore(path string) (*FileStore, error) {
	s := &FileStore{path: path, m: map[string]Record{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	var f pinFile
	if err := json.Unmarshal(data, &f, json.RejectUnknownMembers(true)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("%s: version %d, this gatehouse reads version 1", path, f.Version)
	}
	for up, tools := range f.Pins {
		for tool, r := range tools {
			s.m[up+"\x00"+tool] = r
		}
	}
	return s, nil
}

// Load implements Store.
func (s *FileStore) Load(_ context.Context, upstream, tool string) (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[upstream+"\x00"+tool]
	return r, ok, nil
}

// CompareAndSwap implements Store: the change is on disk before it is reported.
func (s *FileStore) CompareAndSwap(ctx context.Context, upstream, tool string, old *Record, next Record) (bool, error) {
	done, err := s.CompareAndSwapMany(ctx, upstream, []Swap{{Tool: tool, Old: old, Next: next}})
	if err != nil {
		return false, err
	}
	return done[0], nil
}

var _ BatchStore = (*FileStore)(nil)

// CompareAndSwapMany implements BatchStore: the file is written once for all the swaps made, and
// on a failed write the records are as they were.
func (s *FileStore) CompareAndSwapMany(_ context.Context, upstream string, swaps []Swap) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type prior struct {
		r  Record
		ok bool
	}
	undo := map[string]prior{}
	done := make([]bool, len(swaps))
	for i, sw := range swaps {
		k := upstream + "\x00" + sw.Tool
		cur, ok := s.m[k]
		if sw.Old == nil && ok || sw.Old != nil && (!ok || cur != *sw.Old) {
			continue
		}
		if _, seen := undo[k]; !seen {
			undo[k] = prior{cur, ok}
		}
		s.m[k] = sw.Next
		done[i] = true
	}
	if len(undo) == 0 {
		return done, nil
	}
	if err := s.persist(); err != nil {
		for k, p := range undo {
			if p.ok {
				s.m[k] = p.r
			} else {
				delete(s.m, k)
			}
		}
		return nil, err
	}
	return done, nil
}

func (s *FileStore) persist() error {
	f := pinFile{Version: 1, Pins: map[string]map[string]Record{}}
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		up, tool, _ := strings.Cut(k, "\x00")
		if f.Pins[up] == nil {
			f.Pins[up] = map[string]Record{}
		}
		f.Pins[up][tool] = s.m[k]
	}
	data, err := json.Marshal(f, json.Deterministic(true))
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path, append(data, '\n'), 0o600)
}
