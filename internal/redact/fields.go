package redact

import (
	"hash/maphash"
	"strings"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

// The field names of SPEC §8.6 are password, token, secret, key, auth, session_id, api_key,
// access_token, ssn, email, phone and address; the functions below are how a key's words are
// compared with them, written as switches so that checking a key costs a few comparisons.

// isName reports whether a word is one of the single-word names or its plural.
func isName(s []byte) bool {
	switch string(s) {
	case "password", "passwords", "token", "tokens", "secret", "secrets", "key", "keys", "auth", "auths",
		"ssn", "ssns", "email", "emails", "phone", "phones", "address", "addresses":
		return true
	}
	return false
}

// authForm reports whether a word is a spelled-out form of auth that names a credential
// ("author" and "authority" do not).
func authForm(s []byte) bool {
	switch string(s) {
	case "authorization", "authentication", "authn", "authz":
		return true
	}
	return false
}

// glued reports whether a word glues a credential word to a known prefix in one lower-case word:
// apikey, accesstoken, clientsecret, dbpassword, sessionid.
func glued(s []byte) bool {
	var prefix []byte
	for _, w := range []string{"key", "token", "secret", "password", "pass", "pwd", "id"} {
		if len(s) > len(w) && string(s[len(s)-len(w):]) == w {
			prefix = s[:len(s)-len(w)]
			if string(prefix) == "session" {
				return true
			}
			if w == "id" {
				return false
			}
			break
		}
	}
	switch string(prefix) {
	case "api", "access", "refresh", "auth", "secret", "private", "client", "session", "bearer", "id", "csrf",
		"xsrf", "db", "user", "admin", "master", "root", "app", "signing", "encryption", "aws", "ssh", "oauth":
		return true
	}
	return false
}

// metadataWord reports whether a word names a property of a secret rather than the secret itself:
// max_tokens, token_type, password_length, expires_in. (An id is not among them: a key id may be the
// credential.)
func metadataWord(s []byte) bool {
	switch string(s) {
	case "count", "max", "min", "limit", "total", "num", "used", "remaining", "length", "len", "size", "type",
		"kind", "format", "expires", "expiry", "expiration", "ttl", "age", "method", "scheme", "provider", "mode",
		"policy", "endpoint", "url", "uri", "enabled", "required", "verified", "valid", "strength", "algorithm",
		"alg", "version", "field":
		return true
	}
	return false
}

// lookupKey reports whether a word before "key" makes it a lookup key rather than a credential:
// primary_key, sort_key, cache_key, object_key.
func lookupKey(s []byte) bool {
	switch string(s) {
	case "primary", "foreign", "sort", "partition", "hash", "range", "cache", "row", "object", "lookup", "map",
		"group", "dedup", "idempotency", "shard", "routing", "i18n", "translation", "message", "label", "hot",
		"shortcut", "keyboard", "composite", "unique":
		return true
	}
	return false
}

// SensitiveKey reports whether an object member, header, log attribute or query parameter named key
// holds a secret or personal data (SPEC §8.6), so that its whole value is replaced by [REDACTED].
//
// Matching is by segments, not substrings: the key is split at '_', '-', '.', spaces and every other
// non-alphanumeric character, at lower-to-upper case changes (camelCase), before the last capital of
// a run of capitals (APIKey → API, Key) and between letters and digits, and the segments are
// lower-cased. The key matches when
//
//   - a segment is one of password, token, secret, key, auth, ssn, email, phone, address, or its
//     plural (db_password, X-Api-Key, userEmail, phoneNumbers, HomeAddress);
//   - consecutive segments spell session id (sessionId, SESSION_ID, session.id);
//   - a segment is a spelled-out form of auth (Authorization, authentication, authn, authz);
//   - a segment glues a credential word to a known prefix (apikey, accesstoken, clientsecret).
//
// so keyboard, monkey, tokenizer, secretary, author and addressee do not match. Two exceptions keep
// metadata visible: a key with a segment naming a property of the secret (max_tokens, token_type,
// password_length, expires_in, auth_method) does not match, and neither does "key" after a word
// that makes it a lookup key (primary_key, sort_key, cache_key).
func SensitiveKey(key string) bool {
	if len(key) < 3 || len(key) > maxCachedKey {
		return sensitiveKey(key)
	}
	slot := &keyCache[maphash.String(keySeed, key)%uint64(len(keyCache))]
	if e := slot.Load(); e != nil && e.key == key {
		return e.sensitive
	}
	sensitive := sensitiveKey(key)
	// A copy: key may be a slice of a large document, which the cache must not keep alive.
	slot.Store(&keyEntry{key: strings.Clone(key), sensitive: sensitive})
	return sensitive
}

// keyCache remembers SensitiveKey's answers. The names in documents repeat (content, type, text,
// message), and splitting a name into words costs several times a lookup. It is a fixed table of
// slots indexed by a seeded hash of the name, each holding the last name that landed there: its size
// is bounded whatever names a client sends, and a collision only costs a recomputation.
var keyCache [1024]atomic.Pointer[keyEntry]

var keySeed = maphash.MakeSeed()

// maxCachedKey is the longest name kept in keyCache; longer names are rare and are checked each time.
const maxCachedKey = 64

type keyEntry struct {
	key       string
	sensitive bool
}

func sensitiveKey(key string) bool {
	if strings.Contains(key, markerPrefix) {
		// A name that held a secret shows a marker now; the marker's own words (API_KEY, JWT,
		// PRIVATE_KEY) are not the name's, or redacting twice would redact more.
		key = stripMarkers(key)
	}
	if len(key) < 3 {
		return false // every name is at least three letters long
	}
	var store [128]byte
	var segs [maxSegments][2]int
	buf, n := splitKey(key, store[:0], &segs)
	seg := func(i int) []byte { return buf[segs[i][0]:segs[i][1]] }
	hit := false
	for i := 0; i < n; i++ {
		s := seg(i)
		switch {
		case metadataWord(s):
			return false
		case isName(s):
			if (string(s) == "key" || string(s) == "keys") && i > 0 && lookupKey(seg(i-1)) {
				continue
			}
			hit = true
		case authForm(s), glued(s):
			hit = true
		case i+1 < n && (string(s) == "session" && string(seg(i+1)) == "id"):
			hit = true // session_id; api_key and access_token are covered by key and token
		}
	}
	return hit
}

// maxSegments bounds the segments examined per key; keys are names, not documents.
const maxSegments = 32

// splitKey appends the lower-cased words of key (see SensitiveKey) to buf and records their spans
// in segs; it returns buf and the number of segments.
func splitKey(key string, buf []byte, segs *[maxSegments][2]int) ([]byte, int) {
	n, start := 0, -1
	var prev, next uint8 // classes: 0 other, 1 lower, 2 upper, 3 digit
	for i := 0; i < len(key); {
		r, w := rune(key[i]), 1
		if r >= utf8.RuneSelf {
			r, w = utf8.DecodeRuneInString(key[i:])
		}
		cl := runeClass(r)
		if cl == 0 {
			if start >= 0 && n < maxSegments {
				segs[n] = [2]int{start, len(buf)}
				n++
			}
			start, prev = -1, 0
			i += w
			continue
		}
		if start >= 0 {
			next = 0
			if i+w < len(key) {
				nr := rune(key[i+w])
				if nr >= utf8.RuneSelf {
					nr, _ = utf8.DecodeRuneInString(key[i+w:])
				}
				next = runeClass(nr)
			}
			if prev == 1 && cl == 2 || (prev == 3) != (cl == 3) || prev == 2 && cl == 2 && next == 1 {
				if n < maxSegments {
					segs[n] = [2]int{start, len(buf)}
					n++
				}
				start = -1
			}
		}
		if start < 0 {
			start = len(buf)
		}
		if r < utf8.RuneSelf {
			c := byte(r)
			if cl == 2 {
				c += 'a' - 'A'
			}
			buf = append(buf, c)
		} else {
			buf = utf8.AppendRune(buf, unicode.ToLower(r))
		}
		prev = cl
		i += w
	}
	if start >= 0 && n < maxSegments {
		segs[n] = [2]int{start, len(buf)}
		n++
	}
	return buf, n
}

// runeClass classifies a rune for splitting keys: 0 separator, 1 lower case (or a letter without
// case), 2 upper case, 3 digit.
func runeClass(r rune) uint8 {
	switch {
	case r >= 'a' && r <= 'z':
		return 1
	case r >= 'A' && r <= 'Z':
		return 2
	case r >= '0' && r <= '9':
		return 3
	case r < utf8.RuneSelf:
		return 0
	case unicode.IsUpper(r):
		return 2
	case unicode.IsLetter(r):
		return 1
	case unicode.IsDigit(r):
		return 3
	}
	return 0
}

// markerPrefix starts every replacement Text and JSON write.
const markerPrefix = "[REDACTED"

// stripMarkers removes the replacement markers ([REDACTED], [REDACTED_<TYPE>]) from s.
func stripMarkers(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, markerPrefix)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		j := i + len(markerPrefix)
		for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z') {
			j++
		}
		if j < len(s) && s[j] == ']' {
			s = s[j+1:]
			continue
		}
		b.WriteString(s[i:j]) // not a marker after all
		s = s[j:]
	}
}

// isMarker reports whether s is exactly one replacement marker: [REDACTED] or [REDACTED_<TYPE>].
func isMarker(s string) bool {
	if !strings.HasPrefix(s, markerPrefix) || !strings.HasSuffix(s, "]") {
		return false
	}
	mid := s[len(markerPrefix) : len(s)-1]
	if mid == "" {
		return true
	}
	if mid[0] != '_' || len(mid) == 1 {
		return false
	}
	for i := 1; i < len(mid); i++ {
		if c := mid[i]; c != '_' && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}
