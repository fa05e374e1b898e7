package tenancy

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"sort"
	"sync"
	"time"
	"unicode"

	"github.com/go-json-experiment/json"

	"github.com/gatehouse-mcp/gatehouse/internal/atomicfile"
)

// DefaultAllowlist is the allowlist of an engagement nothing else configures (SPEC §8.2).
var DefaultAllowlist = []string{"fs.read", "fs.write", "fs.list", "search.vector", "search.semantic"}

// Limits on an allowlist, so the admin API cannot be used to grow state without bound.
const (
	MaxTools      = 1000
	MaxToolLength = 256
)

// Where an engagement's allowlist comes from.
const (
	OriginDefault = "default" // the default allowlist
	OriginConfig  = "config"  // the configuration file
	OriginAdmin   = "admin"   // set through the admin API, persisted
)

// View is an engagement's allowlist as the admin API shows it.
type View struct {
	Engagement string    `json:"engagement"`
	Tools      []string  `json:"tools"`
	Origin     string    `json:"origin"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
	UpdatedBy  string    `json:"updated_by,omitempty"`
}

// entry is an allowlist set through the admin API, as persisted.
type entry struct {
	Tools     []string  `json:"tools"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

// file is the persisted form: every allowlist the admin API set.
type file struct {
	Version     int              `json:"version"`
	Engagements map[string]entry `json:"engagements"`
}

const fileVersion = 1

// Allowlists holds every engagement's tool allowlist. A list set through the admin API wins over
// the configuration file, which wins over the default. Entries are tool names or path.Match globs
// ("github.*"). Safe for concurrent use.
type Allowlists struct {
	path       string // where admin changes persist; "" keeps them in memory only
	def        []string
	configured map[string][]string

	mu    sync.RWMutex
	admin map[string]entry
}

// Open returns the allowlists: def for any engagement not configured, configured per engagement,
// and the admin API's changes loaded from path (which need not exist yet). Every list is validated.
func Open(path string, def []string, configured map[string][]string) (*Allowlists, error) {
	if def == nil {
		def = DefaultAllowlist
	}
	if err := ValidTools(def); err != nil {
		return nil, fmt.Errorf("default allowlist: %w", err)
	}
	a := &Allowlists{path: path, def: slices.Clone(def), configured: map[string][]string{}, admin: map[string]entry{}}
	for id, tools := range configured {
		if err := ValidID(id); err != nil {
			return nil, err
		}
		if err := ValidTools(tools); err != nil {
			return nil, fmt.Errorf("engagement %s: %w", id, err)
		}
		a.configured[id] = slices.Clone(tools)
	}
	if path == "" {
		return a, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, err
	}
	var f file
	if err := json.Unmarshal(data, &f, json.RejectUnknownMembers(true)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Version != fileVersion {
		return nil, fmt.Errorf("%s: version %d, this gatehouse reads version %d", path, f.Version, fileVersion)
	}
	for id, e := range f.Engagements {
		if err := ValidID(id); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := ValidTools(e.Tools); err != nil {
			return nil, fmt.Errorf("%s: engagement %s: %w", path, id, err)
		}
		a.admin[id] = e
	}
	return a, nil
}

// ValidTools checks an allowlist: at most MaxTools entries, each a non-empty printable name or a
// valid path.Match glob of at most MaxToolLength bytes.
func ValidTools(tools []string) error {
	if len(tools) > MaxTools {
		return fmt.Errorf("%d tools; at most %d", len(tools), MaxTools)
	}
	for _, t := range tools {
		if t == "" || len(t) > MaxToolLength {
			return fmt.Errorf("tool %q: must be 1-%d bytes", truncate(t, 80), MaxToolLength)
		}
		for _, r := range t {
			if !unicode.IsPrint(r) || unicode.IsSpace(r) {
				return fmt.Errorf("tool %q: holds a space or control character", truncate(t, 80))
			}
		}
		if _, err := path.Match(t, ""); err != nil {
			return fmt.Errorf("tool %q: not a valid glob: %v", truncate(t, 80), err)
		}
	}
	return nil
}

// Allowed reports whether engagement may call tool.
func (a *Allowlists) Allowed(engagement, tool string) bool {
	a.mu.RLock()
	tools := a.lookup(engagement).Tools
	a.mu.RUnlock()
	for _, t := range tools {
		if ok, _ := path.Match(t, tool); ok {
			return true
		}
	}
	return false
}

// Get returns engagement's allowlist.
func (a *Allowlists) Get(engagement string) View {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.lookup(engagement)
}

func (a *Allowlists) lookup(id string) View {
	if e, ok := a.admin[id]; ok {
		return View{Engagement: id, Tools: slices.Clone(e.Tools), Origin: OriginAdmin, UpdatedAt: e.UpdatedAt, UpdatedBy: e.UpdatedBy}
	}
	if t, ok := a.configured[id]; ok {
		return View{Engagement: id, Tools: slices.Clone(t), Origin: OriginConfig}
	}
	return View{Engagement: id, Tools: slices.Clone(a.def), Origin: OriginDefault}
}

// Engagements lists the engagements with a configured or admin-set allowlist, sorted.
func (a *Allowlists) Engagements() []View {
	a.mu.RLock()
	defer a.mu.RUnlock()
	ids := slices.Collect(maps.Keys(a.configured))
	for id := range a.admin {
		if _, ok := a.configured[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := make([]View, len(ids))
	for i, id := range ids {
		out[i] = a.lookup(id)
	}
	return out
}

// Update changes engagement's allowlist with change (given the current list, it returns the new
// one), persists it, and returns the allowlist before and after. Nothing changes when change, the
// validation or the write fails; a refusal for what was asked (a bad id or list) is distinguishable
// from a failure to save with IsInvalid.
func (a *Allowlists) Update(engagement, by string, now time.Time, change func(current []string) ([]string, error)) (before, after View, err error) {
	if err := ValidID(engagement); err != nil {
		return View{}, View{}, &invalidError{err}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	before = a.lookup(engagement)
	tools, err := change(slices.Clone(before.Tools))
	if err != nil {
		return before, before, &invalidError{err}
	}
	if tools == nil {
		tools = []string{}
	}
	if err := ValidTools(tools); err != nil {
		return before, before, &invalidError{err}
	}
	next := maps.Clone(a.admin)
	next[engagement] = entry{Tools: tools, UpdatedAt: now.UTC(), UpdatedBy: by}
	if err := a.persist(next); err != nil {
		return before, before, err
	}
	a.admin = next
	return before, a.lookup(engagement), nil
}

// invalidError is a change refused for what it asked, not for a failure to save it.
type invalidError struct{ err error }

func (e *invalidError) Error() string { return e.err.Error() }
func (e *invalidError) Unwrap() error { return e.err }

// IsInvalid reports whether err refused a change for what it asked.
func IsInvalid(err error) bool {
	var ie *invalidError
	return errors.As(err, &ie)
}

// Restore puts back an allowlist Update replaced (when recording the change failed).
func (a *Allowlists) Restore(v View) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	next := maps.Clone(a.admin)
	if v.Origin == OriginAdmin {
		next[v.Engagement] = entry{Tools: v.Tools, UpdatedAt: v.UpdatedAt, UpdatedBy: v.UpdatedBy}
	} else {
		delete(next, v.Engagement)
	}
	if err := a.persist(next); err != nil {
		return err
	}
	a.admin = next
	return nil
}

// persist writes the admin entries atomically (package atomicfile), mode 0600.
func (a *Allowlists) persist(m map[string]entry) error {
	if a.path == "" {
		return nil
	}
	data, err := json.Marshal(file{Version: fileVersion, Engagements: m}, json.Deterministic(true))
	if err != nil {
		return err
	}
	if err := atomicfile.Write(a.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("persist allowlists: %w", err)
	}
	return nil
}
