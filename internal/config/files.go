package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Files checks that the files the configuration names exist — policy.rules, policy.bundle (a file
// or a directory), policy.bundle_public_key, audit.key and tracing.ca_file — and returns a problem located at the
// key that names each one that does not. Validate checks the values; Files, what they point at.
// `gatehouse check` reports both, and the problems inside the files that do exist.
func (c *Config) Files(src *Source) []Problem {
	var ps []Problem
	ps = append(ps, src.missing("policy.rules", c.Policy.Rules, false)...)
	ps = append(ps, src.missing("policy.pack", c.Policy.Pack, false)...)
	if !IsBuiltinBundle(c.Policy.Bundle) {
		ps = append(ps, src.missing("policy.bundle", c.Policy.Bundle, true)...)
	}
	ps = append(ps, src.missing("policy.bundle_public_key", c.Policy.BundlePublicKey, false)...)
	ps = append(ps, src.missing("audit.key", c.Audit.Key, false)...)
	ps = append(ps, src.missing("tracing.ca_file", c.Tracing.CAFile, false)...)
	return ps
}

// Files is Config.Files for serve, with the TLS certificate and key.
func (c *ServeConfig) Files(src *Source) []Problem {
	ps := c.Shared().Files(src)
	ps = append(ps, src.missing("tls.cert", c.TLS.Cert, false)...)
	ps = append(ps, src.missing("tls.key", c.TLS.Key, false)...)
	ps = append(ps, src.missing("replicas.key_file", c.Replicas.KeyFile, false)...)
	ps = append(ps, src.missing("replicas.ca_file", c.Replicas.CAFile, false)...)
	sortProblems(ps)
	return ps
}

// missing is the problem of the file at path, which key names, when it does not exist (or is a
// directory, unless dirOK); nothing when it exists or path is empty.
func (s *Source) missing(key, path string, dirOK bool) []Problem {
	if path == "" {
		return nil
	}
	st, err := os.Stat(path)
	var msg string
	switch {
	case errors.Is(err, fs.ErrNotExist):
		msg = fmt.Sprintf("%s does not exist", path)
	case err != nil:
		msg = err.Error()
	case st.IsDir() && !dirOK:
		msg = fmt.Sprintf("%s is a directory, not a file", path)
	default:
		return nil
	}
	return []Problem{s.Locate(key, msg)}
}

// Locate returns a problem located at key: at its line in the configuration file, when the file
// set it.
func (s *Source) Locate(key, message string) Problem {
	file, line := s.at(key)
	return Problem{File: file, Line: line, Key: key, Message: message}
}
