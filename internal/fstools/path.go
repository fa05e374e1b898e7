package fstools

import (
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on paths.
const (
	// MaxPathBytes is the longest path ValidatePath accepts, in bytes.
	MaxPathBytes = 1024
	// maxSegmentBytes is the longest file or directory name, the common file system limit.
	maxSegmentBytes = 255
	// maxDecodeRounds bounds percent-decoding: a path still changing after this many rounds is
	// refused rather than decoded further.
	maxDecodeRounds = 8
	// maxQuoted is how much of an offending path or name a refusal message quotes.
	maxQuoted = 200
)

// PathError is a path refused by ValidatePath.
type PathError struct {
	Path   string // the path as given
	Reason string // what is wrong with it, as a phrase ("it contains a '..' segment")
}

// Error implements error. The path is quoted and truncated to 200 bytes.
func (e *PathError) Error() string {
	return fmt.Sprintf("path %s refused: %s", quote(e.Path), e.Reason)
}

// ValidatePath checks a path given to a file tool and returns it cleaned: relative to the
// engagement's directory, slash-separated, without "." segments or a trailing slash ("." for the
// directory itself). It makes no file system call. It refuses, with a *PathError saying why:
//
//   - the empty path, paths over MaxPathBytes and names over 255 bytes;
//   - invalid UTF-8, NUL and every other control character, invisible formatting characters (such
//     as bidirectional overrides and zero-width spaces), U+FFFD (the mark of a lossy decoding) and
//     noncharacters;
//   - Unicode look-alikes of '.', '/', '\', '$', '`', '%' and ';' (see lookalike);
//   - backslashes anywhere (they are separators on Windows, so "..\" is traversal there);
//   - absolute paths ("/x", "//host/share") and drive letters ("C:", "c:/x");
//   - a ".." segment anywhere, even one that would stay inside ("a/../b"), and segments made only of
//     dots and spaces ("...", "....", ". .") or of those followed by a ";" parameter ("..;"), which
//     some systems read as "..";
//   - empty segments ("a//b"); a single trailing slash is allowed;
//   - a segment starting with '~' (home directory expansion), and '$' or '`' anywhere (variable and
//     command expansion: $VAR, ${VAR}, $(cmd), `cmd`), and IIS-style "%u002e" escapes;
//   - a directory named etc, proc or sys, in any case ("etc/passwd", "a/proc/self"), the spec's
//     "/etc/, /proc/, /sys/ anywhere";
//   - any of the above in any percent-decoded form of the path: "%2e%2e%2f", "..%2f", "%252e%252e%252f"
//     and the overlong "%c0%ae" (invalid UTF-8 once decoded) are all refused. The path is decoded
//     until it stops changing; one still changing after eight rounds is refused.
//
// The path itself is never decoded: a name that passes, such as "100%25.txt", names that file
// literally.
func ValidatePath(p string) (string, error) {
	refuse := func(reason string) (string, error) { return "", &PathError{Path: p, Reason: reason} }
	if p == "" {
		return refuse("it is empty")
	}
	if len(p) > MaxPathBytes {
		return refuse(fmt.Sprintf("it is longer than %d bytes", MaxPathBytes))
	}
	form, round := p, 0
	for {
		if reason := formProblem(form); reason != "" {
			if round > 0 {
				reason += fmt.Sprintf(" (after percent-decoding %s)", times(round))
			}
			return refuse(reason)
		}
		next := percentDecode(form)
		if next == form {
			break
		}
		if round++; round > maxDecodeRounds {
			return refuse(fmt.Sprintf("it is still percent-encoded after %d rounds of decoding", maxDecodeRounds))
		}
		form = next
	}
	clean := path.Clean(p)
	// formProblem has refused everything that could make these true; they are checked again so
	// that a mistake there cannot become an escape.
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") || strings.ContainsAny(clean, "\\\x00") {
		return refuse("it leaves the engagement's directory")
	}
	return clean, nil
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

// formProblem returns why one form of a path (as given, or percent-decoded) is refused, or "".
func formProblem(f string) string {
	if !utf8.ValidString(f) {
		return "it is not valid UTF-8"
	}
	for _, r := range f {
		switch {
		case r == 0:
			return "it contains a NUL byte"
		case unicode.IsControl(r):
			return fmt.Sprintf("it contains the control character %U", r)
		case r == '\\':
			return `it contains a backslash (use "/" to separate directories)`
		case r == '$':
			return "it contains '$' (variable or command expansion)"
		case r == '`':
			return "it contains a backtick (command expansion)"
		case r == utf8.RuneError:
			return "it contains U+FFFD, the mark of text that was decoded with errors"
		case unicode.Is(unicode.Cf, r) || r == 0x2028 || r == 0x2029:
			return fmt.Sprintf("it contains the invisible formatting character %U", r)
		case unicode.Is(unicode.Noncharacter_Code_Point, r):
			return fmt.Sprintf("it contains the noncharacter %U", r)
		}
		if like := lookalike(r); like != "" {
			return fmt.Sprintf("it contains %U, which looks like or normalises to %q", r, like)
		}
	}
	if hasUnicodeEscape(f) {
		return `it contains a "%u" escape`
	}
	if strings.HasPrefix(f, "/") {
		return "it is absolute (paths are relative to the engagement's directory)"
	}
	segments := strings.Split(strings.TrimSuffix(f, "/"), "/")
	first := true
	for _, s := range segments {
		if s == "." {
			continue
		}
		if first && len(s) >= 2 && s[1] == ':' && ('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z') {
			return "it starts with a drive letter"
		}
		first = false
		switch {
		case s == "":
			return `it contains an empty segment ("//")`
		case s == "..":
			return `it contains a ".." segment`
		case dotsOnly(s):
			return fmt.Sprintf("it contains the segment %s, made only of dots and spaces, which some systems read as \"..\"", quote(s))
		case len(s) > maxSegmentBytes:
			return fmt.Sprintf("a name in it is longer than %d bytes", maxSegmentBytes)
		case strings.HasPrefix(s, "~"):
			return "a name in it starts with '~' (home directory expansion)"
		}
		switch strings.ToLower(s) {
		case "etc", "proc", "sys":
			return fmt.Sprintf("it names a system directory (%s/)", s)
		}
	}
	return ""
}

// hasUnicodeEscape reports whether s contains "%u" and four hex digits, the non-standard escape IIS
// decodes ("%u002e" is '.').
func hasUnicodeEscape(s string) bool {
	for i := 0; i+6 <= len(s); i++ {
		if s[i] == '%' && (s[i+1] == 'u' || s[i+1] == 'U') && isHex(s[i+2]) && isHex(s[i+3]) && isHex(s[i+4]) && isHex(s[i+5]) {
			return true
		}
	}
	return false
}

// dotsOnly reports whether a segment other than "." and ".." is made only of dots and white space,
// optionally followed by a ";" path parameter: "...", "....", ". .", "..;x", " ". Windows drops
// trailing dots and spaces and some servers drop ";" parameters, which turns these into "." or "..".
func dotsOnly(s string) bool {
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimRightFunc(s, func(r rune) bool { return r == '.' || unicode.IsSpace(r) }) == ""
}

// percentDecode decodes every "%XX" with two hex digits; any other '%' is kept as it is.
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// ValidEngagement reports whether name is usable as an engagement's directory name: 1 to 64
// characters from [A-Za-z0-9._-], starting with a letter or digit (so never "." or "..", never
// hidden, never an option).
func ValidEngagement(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// quote renders a caller-given string for a message: Go-quoted, at most maxQuoted bytes of it.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return fmt.Sprintf("%q", s)
	}
	cut := maxQuoted
	for cut > maxQuoted-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q...", s[:cut])
}
