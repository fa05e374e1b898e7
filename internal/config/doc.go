// Package config is gatehouse's configuration: the schema with a doc comment on every field, strict
// decoding (an unknown key is an error, never a silently ignored typo in a security setting),
// defaults, environment overrides, and validation that reports every problem at once with the file
// and line it comes from. `gatehouse check --config` and start-up run the same Load, so a
// configuration that checks clean starts clean.
//
// Precedence, lowest to highest: built-in defaults, the YAML file, environment variables, flags.
package config
