package redact

import (
	"strings"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// The replacements. A field matched by name becomes Redacted; a pattern match becomes the marker
// of its type.
const (
	Redacted           = policy.RedactedValue // "[REDACTED]"
	RedactedPrivateKey = "[REDACTED_PRIVATE_KEY]"
	RedactedJWT        = "[REDACTED_JWT]"
	RedactedURLCreds   = "[REDACTED_URL_CREDENTIALS]"
	RedactedAPIKey     = "[REDACTED_API_KEY]"
	RedactedToken      = "[REDACTED_TOKEN]"
	RedactedCard       = "[REDACTED_CARD]"
)

// Text returns s with every secret-shaped span replaced:
//
//   - private key blocks (-----BEGIN ... PRIVATE KEY----- through the matching END line, or to the
//     end of s when the END line is missing) → [REDACTED_PRIVATE_KEY];
//   - JWTs (eyJ... three base64url segments) → [REDACTED_JWT];
//   - the user:password of a URL, keeping scheme and host (https://[REDACTED_URL_CREDENTIALS]@host);
//   - provider API keys by prefix (AWS AKIA/ASIA..., GitHub ghp_/github_pat_, OpenAI and Anthropic
//     sk-, Slack xox?-, GitLab glpat-, Google AIza, Stripe sk_live_, npm_, Hugging Face hf_, SendGrid
//     SG.) → [REDACTED_API_KEY];
//   - the token after "Bearer " or "Basic ", and any other long high-entropy token (32 to 256
//     characters of [A-Za-z0-9+/=_-] mixing upper case, lower case and digits, with at least 4 bits
//     of entropy per character; base64 after "base64," is an embedded file, not a token) →
//     [REDACTED_TOKEN];
//   - card numbers: 13 to 19 digits, optionally in groups of 3 to 6 separated by single spaces or
//     dashes, starting with 2 to 6 and passing the Luhn check → [REDACTED_CARD];
//   - the value of a sensitive name written as name=value or "name": value inside text (query
//     strings, environment listings, JSON quoted in a log message) → [REDACTED].
//
// Prose that merely mentions a password, a 16-digit number that fails the Luhn check, a base64
// image and a git commit hash are left alone.
func Text(s string) string {
	if len(s) < 3 {
		return s
	}
	// The redacted copy is built only once something is replaced. out and last are locals, not
	// members of a struct behind a pointer: the compiler then sees that s does not escape, so a
	// caller checking a []byte it converted for the call (string(b)) needs no heap copy.
	var out []byte
	last := 0
	for i := 0; i < len(s); {
		if !mayStart[s[i]] {
			i++ // white space and punctuation that no pattern starts with
			continue
		}
		if a, b, repl := match(s, i); b > i {
			if repl != "" {
				if out == nil {
					out = make([]byte, 0, len(s)+32)
				}
				out = append(out, s[last:a]...)
				out = append(out, repl...)
				last = b
			}
			i = b
			continue
		}
		if alnum(s[i]) {
			// Nothing starts inside a run of letters and digits: not a token (no word start), not a
			// card (preceded by a digit or letter), not a trigger byte. Skip it.
			i++
			for i < len(s) && alnum(s[i]) {
				i++
			}
			continue
		}
		i++
	}
	if out == nil {
		return s
	}
	return string(append(out, s[last:]...))
}

// mayStart marks the bytes at which a match can begin or be triggered: letters, digits, '_' and '-'
// (tokens, cards, key blocks), ':' (URL credentials), '=' and '"' (sensitive names in text).
var mayStart = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		t[c] = wordByte(b) || b == ':' || b == '=' || b == '"'
	}
	return t
}()

// match tries every pattern that can start at (or, for URL credentials and name=value, be
// triggered at) byte i. It returns the span to replace, which never starts before i, and its
// replacement; b ≤ i for no match, and repl "" for a span to skip unchanged.
func match(s string, i int) (a, b int, repl string) {
	c := s[i]
	switch c {
	case '-':
		if strings.HasPrefix(s[i:], "-----BEGIN ") {
			if end := privateKeyEnd(s, i); end > 0 {
				return i, end, RedactedPrivateKey
			}
		}
	case ':':
		if a, b := urlCredentials(s, i); b > a {
			return a, b, RedactedURLCreds
		}
	case '=':
		if a, b := assignedValue(s, i); b > a {
			return a, b, Redacted
		}
	case '"':
		a, b, quote, done := quotedMember(s, i)
		switch {
		case done:
			// Already redacted: the member is skipped whole, so that nothing inside it (a
			// name=value in the name) is taken for something else on this pass either.
			return i, b, ""
		case b > a && quote:
			return a, b, Redacted
		case b > a:
			return a, b, `"` + Redacted + `"`
		}
	}
	if c >= '0' && c <= '9' && (i == 0 || !alnum(s[i-1])) {
		if end := cardEnd(s, i); end > 0 {
			return i, end, RedactedCard
		}
	}
	if wordByte(c) && (i == 0 || !wordByte(s[i-1]) && s[i-1] != '+' && s[i-1] != '/') {
		return tokenAt(s, i)
	}
	return 0, 0, ""
}

func alnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func wordByte(c byte) bool { return alnum(c) || c == '_' || c == '-' }

// tokenByte is the alphabet of long tokens: base64 and base64url ('=' only as padding, see
// tokenEnd).
func tokenByte(c byte) bool { return wordByte(c) || c == '+' || c == '/' }

// tokenEnd returns the end of the token starting at i, with up to two '=' of padding.
func tokenEnd(s string, i int) int {
	end := runOf(s, i, tokenByte)
	for k := 0; k < 2 && end < len(s) && s[end] == '='; k++ {
		end++
	}
	return end
}

func runOf(s string, i int, f func(byte) bool) int {
	j := i
	for j < len(s) && f(s[j]) {
		j++
	}
	return j
}

// privateKeyEnd returns the end of the private key block starting at i, or 0 when the BEGIN line
// is not a private key's.
func privateKeyEnd(s string, i int) int {
	hdr := s[i+len("-----BEGIN "):]
	k := strings.Index(hdr, "-----")
	if k < 0 || k > 64 || !strings.Contains(hdr[:k], "PRIVATE KEY") {
		return 0
	}
	body := i + len("-----BEGIN ") + k + 5
	e := strings.Index(s[body:], "-----END ")
	if e < 0 {
		return len(s) // a truncated key is still a key
	}
	e += body + len("-----END ")
	if k := strings.Index(s[e:], "-----"); k >= 0 && k <= 64 {
		return e + k + 5
	}
	return len(s)
}

// urlCredentials returns the span of the user:password in the URL whose "://" is at i.
func urlCredentials(s string, i int) (int, int) {
	if !strings.HasPrefix(s[i:], "://") || i == 0 || !alnum(s[i-1]) {
		return 0, 0
	}
	start := i + 3
	end := start
	at := -1
	for end < len(s) && end-start < 512 {
		c := s[end]
		if c == '/' || c == '?' || c == '#' || c == ' ' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`' || c == '\n' || c == '\t' || c == '\r' {
			break
		}
		if c == '@' {
			at = end
		}
		end++
	}
	if at <= start || strings.IndexByte(s[start:at], ':') < 0 {
		return 0, 0
	}
	return start, at
}

// assignedValue returns the span of the value in name=value (spaces allowed around '=') when the
// name is sensitive.
func assignedValue(s string, i int) (int, int) {
	if i+1 < len(s) && s[i+1] == '=' || i > 0 && (s[i-1] == '=' || s[i-1] == '!' || s[i-1] == '<' || s[i-1] == '>') {
		return 0, 0 // ==, !=, <=, >=: a comparison, not an assignment
	}
	k := i
	if k > 0 && s[k-1] == ' ' {
		k--
	}
	ks := k
	for ks > 0 && k-ks < 64 && (wordByte(s[ks-1]) || s[ks-1] == '.') {
		ks--
	}
	if ks == k || !SensitiveKey(s[ks:k]) {
		return 0, 0
	}
	v := i + 1
	if v < len(s) && s[v] == ' ' {
		v++
	}
	if v >= len(s) {
		return 0, 0
	}
	var end int
	if q := s[v]; q == '"' || q == '\'' {
		v++
		end = v
		for end < len(s) && s[end] != q && s[end] != '\n' {
			end++
		}
	} else {
		// An escaped quote (\", the value inside JSON-escaped text) is part of the value: ending the
		// value at its backslash would leave a quote that a second pass reads differently. A quote
		// after an escaped backslash (\\") is not escaped, and ends the value.
		end = v
		for end < len(s) && (!strings.ContainsRune(" \t\r\n&;,\"'<>)]}", rune(s[end])) || s[end] == '"' && escaped(s, v, end)) {
			end++
		}
	}
	if end == v || strings.HasPrefix(s[v:end], "[REDACTED") {
		return 0, 0
	}
	return v, end
}

// escaped reports whether the byte at i is escaped: preceded, back to from, by an odd number of
// backslashes.
func escaped(s string, from, i int) bool {
	n := 0
	for j := i - 1; j >= from && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// quotedMember handles "name": value inside text when name is sensitive. It returns the span to
// replace and whether it is the inside of a quoted string (else a bare number, which is replaced
// with a quoted marker so that JSON stays JSON). done reports a member whose value is exactly a
// marker (already redacted); b is then the end of the member.
func quotedMember(s string, i int) (a, b int, quote, done bool) {
	nameEnd := stringEnd(s, i, 128)
	if nameEnd < 0 {
		return 0, 0, false, false
	}
	j := nameEnd + 1
	for j < len(s) && s[j] == ' ' {
		j++
	}
	if j >= len(s) || s[j] != ':' {
		return 0, 0, false, false
	}
	j++
	for j < len(s) && s[j] == ' ' {
		j++
	}
	if j >= len(s) || !SensitiveKey(s[i+1:nameEnd]) {
		return 0, 0, false, false
	}
	switch c := s[j]; {
	case c == '"':
		end := stringEnd(s, j, 1<<20)
		if end < 0 {
			end = len(s) // an unterminated value: redact what there is
		}
		if end == j+1 {
			return 0, 0, false, false
		}
		if v := s[j+1 : end]; isMarker(v) {
			return 0, min(end+1, len(s)), false, true
		} else if strings.HasPrefix(v, markerPrefix) {
			// Text after a marker is scanned like any text: a marker at its start must not shield a
			// secret behind it.
			return 0, 0, false, false
		}
		return j + 1, end, true, false
	case c == '-' || c >= '0' && c <= '9':
		// A bare value runs to the next delimiter: in JSON that is the number, and in text that only
		// looks like JSON it leaves no fragment that the inserted quotes could turn into a new
		// member on a second pass.
		end := j + 1
		for end < len(s) && strings.IndexByte(",}] \t\r\n", s[end]) < 0 {
			end++
		}
		return j, end, false, false
	}
	return 0, 0, false, false // objects, arrays, true, false, null
}

// stringEnd returns the index of the quote closing the JSON string that opens at i, honouring
// backslash escapes, or -1 when there is none within max bytes.
func stringEnd(s string, i, max int) int {
	for j := i + 1; j < len(s) && j-i <= max; j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j
		case '\n':
			return -1
		}
	}
	return -1
}

// cardEnd returns the end of a card number starting at i, or 0.
func cardEnd(s string, i int) int {
	var digits [19]byte
	n, group, groups := 0, 0, 1
	j := i
	for j < len(s) {
		c := s[j]
		switch {
		case c >= '0' && c <= '9':
			if n == len(digits) {
				return 0 // too long for a card
			}
			digits[n] = c - '0'
			n++
			group++
			j++
			continue
		case (c == ' ' || c == '-') && j+1 < len(s) && s[j+1] >= '0' && s[j+1] <= '9' && group >= 3 && group <= 6:
			groups++
			group = 0
			j++
			continue
		}
		break
	}
	if j < len(s) && (alnum(s[j]) || s[j] == '_') {
		return 0
	}
	if n < 13 || groups > 5 || groups > 1 && (group < 1 || group > 6) || digits[0] < 2 || digits[0] > 6 || !Luhn(digits[:n]) {
		return 0
	}
	return j
}

// Luhn reports whether digits (values 0 to 9, most significant first) pass the Luhn check that card
// numbers carry.
func Luhn(digits []byte) bool {
	if len(digits) == 0 {
		return false
	}
	sum := 0
	for k := 0; k < len(digits); k++ {
		d := int(digits[len(digits)-1-k])
		if k%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// prefixed are provider key prefixes with the characters that must follow them.
var prefixed = []struct {
	prefix string
	min    int
	exact  int // when set, the whole token has exactly this many characters (AWS)
}{
	{"AKIA", 0, 20}, {"ASIA", 0, 20}, {"AGPA", 0, 20}, {"AIDA", 0, 20}, {"AROA", 0, 20}, {"ANPA", 0, 20},
	{"ghp_", 30, 0}, {"gho_", 30, 0}, {"ghu_", 30, 0}, {"ghs_", 30, 0}, {"ghr_", 30, 0}, {"github_pat_", 40, 0},
	{"sk-", 20, 0}, {"xoxb-", 10, 0}, {"xoxp-", 10, 0}, {"xoxa-", 10, 0}, {"xoxr-", 10, 0}, {"xoxs-", 10, 0},
	{"xapp-", 10, 0}, {"glpat-", 20, 0}, {"AIza", 30, 0}, {"sk_live_", 20, 0}, {"rk_live_", 20, 0},
	{"sk_test_", 20, 0}, {"npm_", 30, 0}, {"pypi-", 40, 0}, {"hf_", 30, 0}, {"dop_v1_", 40, 0}, {"shpat_", 30, 0},
}

// prefixStart marks the bytes a provider prefix starts with, so most words skip the prefix list.
var prefixStart = func() (t [256]bool) {
	for _, p := range prefixed {
		t[p.prefix[0]] = true
	}
	return t
}()

// tokenAt tries the token patterns at word start i: Bearer/Basic, JWT, provider prefixes, and
// high-entropy tokens.
func tokenAt(s string, i int) (int, int, string) {
	switch s[i] {
	case 'B', 'b':
		for _, scheme := range []string{"Bearer ", "bearer ", "BEARER ", "Basic ", "basic "} {
			if strings.HasPrefix(s[i:], scheme) {
				t := i + len(scheme)
				end := runOf(s, t, func(c byte) bool { return tokenByte(c) || c == '.' || c == '~' })
				for k := 0; k < 2 && end < len(s) && s[end] == '='; k++ {
					end++
				}
				if end-t >= 8 {
					return t, end, RedactedToken
				}
			}
		}
	case 'S':
		if strings.HasPrefix(s[i:], "SG.") { // SendGrid: SG.<22>.<43>
			end := runOf(s, i, func(c byte) bool { return wordByte(c) || c == '.' })
			if end-i >= 40 && hasDigit(s[i+3:end]) {
				return i, end, RedactedAPIKey
			}
		}
	}
	end := tokenEnd(s, i)
	if end-i < 8 {
		return 0, 0, "" // shorter than any key, token or JWT
	}
	if strings.HasPrefix(s[i:], "eyJ") {
		if end := jwtEnd(s, i); end > 0 {
			return i, end, RedactedJWT
		}
	}
	word := runOf(s, i, wordByte)
	for _, p := range prefixed {
		if !prefixStart[s[i]] {
			break
		}
		if !strings.HasPrefix(s[i:], p.prefix) {
			continue
		}
		n := word - i
		if p.exact > 0 && n == p.exact && upperDigits(s[i:word]) || p.exact == 0 && n-len(p.prefix) >= p.min && hasDigit(s[i+len(p.prefix):word]) {
			return i, word, RedactedAPIKey
		}
	}
	if n := end - i; n >= 32 && n <= 256 && !(i >= 7 && s[i-7:i] == "base64,") && highEntropy(s[i:end]) {
		return i, end, RedactedToken
	}
	return 0, 0, ""
}

func upperDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func hasDigit(s string) bool { return strings.ContainsAny(s, "0123456789") }

// jwtEnd returns the end of the JWT at i: three base64url segments, the first two of at least 10
// characters, the signature possibly empty (alg none); 0 when there is none.
func jwtEnd(s string, i int) int {
	b64 := func(c byte) bool { return alnum(c) || c == '_' || c == '-' }
	e1 := runOf(s, i, b64)
	if e1-i < 10 || e1 >= len(s) || s[e1] != '.' {
		return 0
	}
	e2 := runOf(s, e1+1, b64)
	if e2-e1-1 < 10 || e2 >= len(s) || s[e2] != '.' {
		return 0
	}
	return runOf(s, e2+1, b64)
}

// highEntropy reports whether t looks like a random token rather than an identifier or a path: it
// mixes upper case, lower case and digits, has at least 4 bits of Shannon entropy per character,
// and switches between character classes (upper, lower, digit, other) on at least 40% of adjacent
// pairs. Random base62 switches on about 62%; camelCase identifiers (getUserAccountSettingsV2) and
// paths, whose entropy can exceed 4 bits, switch on 30 to 39% (each word boundary counts twice).
func highEntropy(t string) bool {
	var upper, lower, digit bool
	var counts [256]uint16
	changes := 0
	prev := byte(0)
	for i := 0; i < len(t); i++ {
		c := t[i]
		counts[c]++
		var cl byte
		switch {
		case c >= 'A' && c <= 'Z':
			upper, cl = true, 1
		case c >= 'a' && c <= 'z':
			lower, cl = true, 2
		case c >= '0' && c <= '9':
			digit, cl = true, 3
		default:
			cl = 4
		}
		if i > 0 && cl != prev {
			changes++
		}
		prev = cl
	}
	if !upper || !lower || !digit || changes*10 < 4*(len(t)-1) {
		return false
	}
	return entropy(counts[:], len(t)) >= 4.0
}
