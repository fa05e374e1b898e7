package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	File    string
	Line    int
	Key     string
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error holds every problem found.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Source says where each setting came from: its line in the configuration file, for located
// messages, or the environment variable that set it.
type Source struct {
	file  string
	lines map[string]int // dotted key → line in file
	// env are the keys a GATEHOUSE_* (or MCP_*) variable set; seeded those a seed-compatible variable
	// (SPEC §5.7) set because the file did not.
	env    map[string]bool
	seeded map[string]bool
	// decode are the problems the decoder met and went on past — unknown keys, values of the wrong
	// type — which Validate reports together with every other problem.
	decode []Problem
}

// Explicit reports whether key (dotted, e.g. "fail" or "policy.rego_mode") was set by the
// configuration file or by a GATEHOUSE_* variable, rather than left at its default or filled in by a
// seed-compatible variable. Flags are the caller's to know.
func (s *Source) Explicit(key string) bool {
	if s == nil {
		return false
	}
	_, inFile := s.lines[key]
	return inFile || s.env[key]
}

// Seeded reports whether key was filled in by a seed-compatible variable (SPEC §5.7).
func (s *Source) Seeded(key string) bool { return s != nil && s.seeded[key] }

func (s *Source) at(key string) (string, int) {
	if s == nil {
		return "", 0
	}
	if l, ok := s.lines[key]; ok {
		return s.file, l
	}
	return "", 0
}

// Load reads the configuration: defaults, then path (when not empty), then the environment env
// (os.Environ() form; nil for none). Flags are applied by the caller with Set methods before Validate.
// Unknown keys and values of the wrong type are reported by Validate, with every other problem.
func Load(path string, env []string) (*Config, *Source, error) {
	cfg := Default()
	src := &Source{lines: map[string]int{}}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, err
		}
		if src, err = decodeFile(path, data, cfg); err != nil {
			return nil, src, err
		}
		// Unknown keys and mistyped values are in src: Validate reports them with the rest.
		cfg.resolvePaths(filepath.Dir(path))
	}
	if err := cfg.applySeeds(env, src); err != nil {
		return nil, src, err
	}
	if err := cfg.applyEnvFrom(env, src); err != nil {
		return nil, src, err
	}
	return cfg, src, nil
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// decodeFile decodes strictly into cfg and records where each key is. Only YAML that does not parse
// is an error; unknown keys and mistyped values are kept in the Source for Validate.
func decodeFile(path string, data []byte, cfg *Config) (*Source, error) {
	src := &Source{file: path, lines: map[string]int{}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return src, &Error{[]Problem{{File: path, Line: yamlErrLine(err), Message: cleanYAMLError(err)}}}
	}
	if len(root.Content) > 0 {
		index(root.Content[0], "", src.lines)
	}
	var err error
	src.decode, err = strictDecode(path, data, cfg)
	return src, err
}

// strictDecode decodes data into v, refusing unknown keys. The decoder goes on past an unknown key
// or a value of the wrong type, leaving that setting at its default: those are returned as located
// problems, to be reported with every other problem of the configuration (`gatehouse check` lists
// them all at once). Any other failure is the error.
func strictDecode(path string, data []byte, v any) ([]Problem, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return nil, nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return nil, &Error{[]Problem{{File: path, Line: yamlErrLine(err), Message: cleanYAMLError(err)}}}
	}
	var ps []Problem
	for _, e := range te.Errors {
		p := Problem{File: path, Message: e}
		if m := lineRE.FindStringSubmatch(e); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Message = m[2]
		}
		p.Message = strings.Replace(p.Message, " in type config.", " in section ", 1)
		ps = append(ps, p)
	}
	return ps, nil
}

// index records the line of every mapping key under its dotted path.
func index(n *yaml.Node, prefix string, lines map[string]int) {
	if n.Kind == yaml.SequenceNode {
		for i, item := range n.Content {
			key := fmt.Sprintf("%s[%d]", prefix, i)
			lines[key] = item.Line
			index(item, key, lines)
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if prefix != "" {
			key = prefix + "." + key
		}
		lines[key] = k.Line
		index(v, key, lines)
	}
}

func yamlErrLine(err error) int {
	if m := regexp.MustCompile(`line (\d+)`).FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

func cleanYAMLError(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

func (c *Config) resolvePaths(dir string) {
	paths := []*string{&c.Policy.Rules, &c.Policy.Pack, &c.Policy.BundlePublicKey, &c.Audit.Path, &c.Audit.Key, &c.State.KillFile, &c.State.Redis.PasswordFile, &c.Approvals.Webhook.SecretFile, &c.Tracing.AuthFile, &c.Tracing.CAFile}
	if !IsBuiltinBundle(c.Policy.Bundle) {
		paths = append(paths, &c.Policy.Bundle)
	}
	if c.Pins.File != MemoryPins {
		paths = append(paths, &c.Pins.File)
	}
	for i := range c.Audit.Sinks {
		paths = append(paths, &c.Audit.Sinks[i].SecretFile, &c.Audit.Sinks[i].AuthFile)
	}
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// BuiltinStarter names the starter Rego policies compiled into gatehouse (SPEC §5.6) as a bundle:
// policy.bundle: builtin:starter.
const BuiltinStarter = "builtin:starter"

// IsBuiltinBundle reports whether a policy.bundle value names a bundle compiled into gatehouse.
func IsBuiltinBundle(b string) bool { return b == BuiltinStarter }

// envKeys names the setting each environment variable of envVars overrides, so that Source can say a
// setting was given explicitly.
var envKeys = map[string]string{
	"GATEHOUSE_MODE": "mode", "GATEHOUSE_FAIL": "fail", "GATEHOUSE_POLICY": "policy.rules",
	"GATEHOUSE_POLICY_BUNDLE": "policy.bundle", "GATEHOUSE_REGO_MODE": "policy.rego_mode",
}

// envVars maps environment variables to the settings they override. Documented in
// docs/configuration.md; a test keeps the two in step.
var envVars = map[string]func(c *Config, v string) error{
	"GATEHOUSE_MODE":             func(c *Config, v string) error { c.Mode = v; return nil },
	"GATEHOUSE_FAIL":             func(c *Config, v string) error { c.Fail = v; return nil },
	"GATEHOUSE_POLICY":           func(c *Config, v string) error { c.Policy.Rules = v; return nil },
	"GATEHOUSE_POLICY_BUNDLE":    func(c *Config, v string) error { c.Policy.SetBundle(v); return nil },
	"GATEHOUSE_REGO_MODE":        func(c *Config, v string) error { c.Policy.RegoMode = v; return nil },
	"GATEHOUSE_AUDIT":            func(c *Config, v string) error { c.Audit.Path = v; return nil },
	"GATEHOUSE_AUDIT_KEY":        func(c *Config, v string) error { c.Audit.Key = v; return nil },
	"GATEHOUSE_AUDIT_DURABILITY": func(c *Config, v string) error { c.Audit.Durability = v; return nil },
	"GATEHOUSE_AGENT":            func(c *Config, v string) error { c.Identity.Agent = v; return nil },
	"GATEHOUSE_ROLES":            func(c *Config, v string) error { c.Identity.Roles = SplitList(v); return nil },
	"GATEHOUSE_LOG_LEVEL":        func(c *Config, v string) error { c.Log.Level = v; return nil },
	"GATEHOUSE_LOG_FORMAT":       func(c *Config, v string) error { c.Log.Format = v; return nil },
	"GATEHOUSE_STATE_REDIS_URL":  func(c *Config, v string) error { c.State.Redis.URL = v; return nil },
	"GATEHOUSE_TRACING_ENDPOINT": func(c *Config, v string) error { c.Tracing.Endpoint = v; return nil },
	"GATEHOUSE_TRACING_ENABLED": func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("must be true or false")
		}
		c.Tracing.Enabled = b
		return nil
	},
	"MCP_MAX_REQUEST_SIZE_MB": func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("must be a whole number of MiB")
		}
		c.Limits.MaxMessageMB = n
		return nil
	},
}

// EnvVars lists the environment variables gatehouse reads: its own and the seed-compatible ones.
func EnvVars() []string {
	out := make([]string, 0, len(envVars)+len(seedVars))
	for k := range envVars {
		out = append(out, k)
	}
	for k := range seedVars {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (c *Config) applyEnv(env []string) error { return c.applyEnvFrom(env, nil) }

// applyEnvFrom applies the GATEHOUSE_* variables over everything else, noting in src which settings
// they set.
func (c *Config) applyEnvFrom(env []string, src *Source) error {
	var ps []Problem
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if set, known := envVars[k]; ok && known && v != "" {
			if err := set(c, v); err != nil {
				ps = append(ps, Problem{Key: "$" + k, Message: err.Error()})
				continue
			}
			if key := envKeys[k]; key != "" && src != nil {
				if src.env == nil {
					src.env = map[string]bool{}
				}
				src.env[key] = true
			}
		}
	}
	if ps != nil {
		return &Error{ps}
	}
	return nil
}

// SplitList splits a comma-separated list, dropping empty items and spaces.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
