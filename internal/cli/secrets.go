package cli

import (
	"bytes"
	"fmt"

	"github.com/gatehouse-mcp/gatehouse/internal/secretfile"
)

// readSecret reads a secret a configuration gives one of two ways: the environment variable envName
// (the setting prefix+"_env"), or the file (prefix+"_file", which must not be readable by group or
// others), trailing white space removed. Neither set: nil. Set but empty: an error, never a silent
// empty secret. what names the secret in errors.
func readSecret(prefix, envName, file, what string, getenv func(string) string) ([]byte, error) {
	switch {
	case envName != "":
		v := getenv(envName)
		if v == "" {
			return nil, fmt.Errorf("%s_env: $%s is not set", prefix, envName)
		}
		return []byte(v), nil
	case file != "":
		data, err := secretfile.Read(file, what)
		if err != nil {
			return nil, fmt.Errorf("%s_file: %w", prefix, err)
		}
		v := bytes.TrimRight(data, " \t\r\n")
		if len(v) == 0 {
			return nil, fmt.Errorf("%s_file %s is empty", prefix, file)
		}
		return v, nil
	}
	return nil, nil
}
