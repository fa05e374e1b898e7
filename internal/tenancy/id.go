package tenancy

import (
	"fmt"
	"regexp"
)

// idPattern is what an engagement id may look like. Ids name directories (the built-in file tools'
// jail is <data root>/<engagement>/), kill scopes and audit fields, so they are short, start with a
// letter or digit (never "." or ".."), and hold no separator.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidID reports whether id can name an engagement.
func ValidID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("engagement id %q is not valid: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", truncate(id, 80))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
