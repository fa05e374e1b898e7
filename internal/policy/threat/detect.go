package threat

import "bytes"

// The structural detectors: a keyword match in the lower view triggers a small, bounded look at
// the bytes around it (a URL's host, a path's segments, a token's length), which is how the scanner
// tells http://10.0.0.1/ from a version number and src/../README.md from ../../etc/passwd without
// regular expressions.

// wordByte reports whether c continues a word: ASCII letters, digits, '_' and any byte of a
// non-ASCII character.
func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80
}

// hostByte reports whether c can be part of a host name label.
func hostByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c >= 0x80
}

// shellWordEnd reports whether c ends a shell word.
func shellWordEnd(c byte) bool {
	switch c {
	case ' ', ';', '&', '|', ')', '\'', '"', '`', '<', '>':
		return true
	}
	return false
}

// onLower handles a match of lower pattern id ending at end.
func (sc *scan) onLower(id, end int) {
	cp := sc.s.cp
	p := &cp.lowerP[id]
	lw := sc.n.lower
	start := matchStart(lw, p.text, end)
	switch {
	case p.flags&lbWord != 0 && start > 0 && wordByte(lw[start-1]),
		p.flags&lbHost != 0 && start > 0 && hostByte(lw[start-1]),
		p.flags&rbWord != 0 && end < len(lw) && wordByte(lw[end]),
		p.flags&rbSpace != 0 && end < len(lw) && !shellWordEnd(lw[end]),
		p.flags&rbHost != 0 && end < len(lw) && (hostByte(lw[end]) || lw[end] == '.' && end+1 < len(lw) && hostByte(lw[end+1])):
		return
	}
	off := sc.n.at(start)
	switch p.kind {
	case kRule:
		sc.add(p.rule, off)
	case kURL:
		sc.url(start)
	case kData:
		sc.dataURI(start, end)
	case kScript:
		if end < len(lw) && lw[end] != ' ' {
			sc.add(p.rule, off)
		}
	case kDotDot:
		sc.traversal(start)
	case kAWS:
		if runOf(lw[end:], alnum) == 16 && (end+16 == len(lw) || lw[end+16] != '_') {
			sc.secret(rSEAWSKey, start)
		}
	case kToken:
		n := runOf(lw[end:], tokenByte)
		if n >= p.min && hasDigitAndLetter(lw[end:end+n]) {
			sc.secret(rSEAPIToken, start)
		}
	case kJWT:
		if jwtLen(lw[start:]) > 0 {
			sc.secret(rSEJWT, start)
		}
	case kDownloader:
		sc.downloadEnd = end
	case kPipeShell:
		if tableCell(lw, start, end) {
			return
		}
		if sc.downloadEnd >= 0 && start >= sc.downloadEnd && start-sc.downloadEnd < 512 {
			sc.add(rCIDownloadExec, sc.n.at(start))
		} else {
			sc.add(rCIPipeShell, off)
		}
	}
}

// matchStart returns where a match of pattern ending at end starts in the lower view: a space in
// the pattern stands for a run of spaces in the text.
func matchStart(lw []byte, pattern string, end int) int {
	j := end
	for k := len(pattern) - 1; k >= 0; k-- {
		j--
		if pattern[k] == ' ' {
			for j > 0 && lw[j-1] == ' ' {
				j--
			}
		}
	}
	return j
}

// secret reports a credential found at lower offset start and remembers it for se.secret-in-url.
func (sc *scan) secret(rule, start int) {
	sc.add(rule, sc.n.at(start))
	if len(sc.secrets) < 64 {
		sc.secrets = append(sc.secrets, start)
	}
}

// secretsInURLs reports se.secret-in-url for every credential inside a URL.
func (sc *scan) secretsInURLs() {
	for _, s := range sc.secrets {
		for _, u := range sc.urls {
			if s > u.start && s < u.end {
				sc.add(rSESecretInURL, sc.n.at(s))
				return
			}
		}
	}
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func tokenByte(c byte) bool { return alnum(c) || c == '_' || c == '-' }

func b64urlByte(c byte) bool { return tokenByte(c) }

func runOf(b []byte, f func(byte) bool) int {
	n := 0
	for n < len(b) && n < 4096 && f(b[n]) {
		n++
	}
	return n
}

func hasDigitAndLetter(b []byte) bool {
	var d, l bool
	for _, c := range b {
		if c >= '0' && c <= '9' {
			d = true
		} else if c >= 'a' && c <= 'z' {
			l = true
		}
	}
	return d && l
}

// jwtLen returns the length of a JWT at the start of b (three base64url segments, the first two of
// at least 10 characters, the signature possibly empty for alg=none), or 0.
func jwtLen(b []byte) int {
	n1 := runOf(b, b64urlByte)
	if n1 < 10 || n1 >= len(b) || b[n1] != '.' {
		return 0
	}
	rest := b[n1+1:]
	n2 := runOf(rest, b64urlByte)
	if n2 < 10 || n2 >= len(rest) || rest[n2] != '.' {
		return 0
	}
	n3 := runOf(rest[n2+1:], b64urlByte)
	return n1 + 1 + n2 + 1 + n3
}

// tableCell reports whether a "| word" match is a Markdown table cell rather than a pipe: the pipe
// starts the text or follows another pipe, or the word is followed by a pipe.
func tableCell(lw []byte, start, end int) bool {
	i := start - 1
	for i >= 0 && lw[i] == ' ' {
		i--
	}
	if i < 0 || lw[i] == '|' {
		return true
	}
	j := end
	for j < len(lw) && lw[j] == ' ' {
		j++
	}
	return j < len(lw) && lw[j] == '|'
}

// urlStop reports whether c ends a URL in running text.
func urlStop(c byte) bool {
	switch c {
	case ' ', '"', '\'', '`', '<', '>', '(', ')', '{', '}', '|', '\\', '^':
		return true
	}
	return false
}

// url analyzes the URL whose "://" starts at lower offset p: credentials, the host, and the span a
// credential inside it would be leaving through.
func (sc *scan) url(p int) {
	lw := sc.n.lower
	i := p
	for i > 0 && (alnum(lw[i-1]) || lw[i-1] == '+' || lw[i-1] == '-' || lw[i-1] == '.') && p-i < 32 {
		i--
	}
	for i < p && !(lw[i] >= 'a' && lw[i] <= 'z') {
		i++
	}
	if i == p {
		return // no scheme
	}
	j := p + 3
	// The URL's extent, for se.secret-in-url. A URL inside the last one (a redirect parameter,
	// "http://http://...") shares its extent, so the text is walked once.
	if n := len(sc.urls); n > 0 && p < sc.urls[n-1].end {
		// nothing to add
	} else {
		end := j
		for end < len(lw) && !urlStop(lw[end]) && end-j < 2048 {
			end++
		}
		if len(sc.urls) < 64 {
			sc.urls = append(sc.urls, span{i, end})
		}
	}
	end := j
	for end < len(lw) && !urlStop(lw[end]) && lw[end] != '/' && lw[end] != '?' && lw[end] != '#' && end-j < 256 {
		end++
	}
	auth := lw[j:end]
	host := auth
	if at := bytes.LastIndexByte(auth, '@'); at >= 0 {
		userinfo := auth[:at]
		host = auth[at+1:]
		if c := bytes.IndexByte(userinfo, ':'); c > 0 && !placeholder(userinfo[c+1:]) {
			sc.add(rSEURLCreds, sc.n.at(j))
		}
	}
	off := sc.n.at(i)
	switch hostKind(host) {
	case hostIP:
		sc.add(rURLIP, off)
	case hostObfuscatedIP:
		sc.add(rURLObfuscatedIP, off)
	}
}

// placeholders are passwords in documentation, not credentials.
var placeholders = []string{"", "password", "pass", "passwd", "pwd", "secret", "changeme", "example", "xxx", "xxxx",
	"xxxxxx", "***", "****", "******", "<password>", "<pass>", "{password}", "[password]", "your-password",
	"yourpassword", "your_password", "mypassword", "p@ssw0rd", "pa55word", "redacted", "[redacted]"}

func placeholder(pw []byte) bool {
	if len(pw) > 0 && (pw[0] == '$' || pw[0] == '%' || pw[0] == '<' || pw[0] == '{') {
		return true // ${DB_PASSWORD}, %PASSWORD%, <pw>, {{ secret }}
	}
	for _, p := range placeholders {
		if string(pw) == p {
			return true
		}
	}
	return false
}

type hostClass uint8

const (
	hostName hostClass = iota
	hostIP
	hostObfuscatedIP
)

// hostKind classifies a URL host (port included): a dotted-quad or bracketed IPv6 literal, an
// integer, hex or octal spelling of an address, or a name.
func hostKind(h []byte) hostClass {
	if len(h) == 0 {
		return hostName
	}
	if h[0] == '[' {
		if k := bytes.IndexByte(h, ']'); k > 1 && bytes.IndexByte(h[:k], ':') >= 0 {
			return hostIP
		}
		return hostName
	}
	if k := bytes.LastIndexByte(h, ':'); k >= 0 {
		h = h[:k]
	}
	h = bytes.TrimSuffix(h, []byte("."))
	if len(h) == 0 {
		return hostName
	}
	parts := bytes.Split(h, []byte("."))
	if len(parts) > 4 {
		return hostName
	}
	plain, odd := true, false
	for _, part := range parts {
		switch {
		case len(part) > 2 && part[0] == '0' && part[1] == 'x':
			if runOf(part[2:], hexByte) != len(part)-2 {
				return hostName
			}
			odd = true
		case len(part) > 0 && runOf(part, digit) == len(part):
			if len(part) > 1 && part[0] == '0' {
				odd = true // octal
			}
			if len(part) > 3 {
				odd = true // an integer spelling, or several octets in one part
			}
		default:
			return hostName
		}
	}
	if len(parts) != 4 {
		odd = true
		plain = false
	}
	if odd {
		if len(parts) == 1 && len(h) < 8 {
			return hostName // a short bare number is not an address in practice
		}
		return hostObfuscatedIP
	}
	if plain {
		for _, part := range parts {
			if v := atoiSmall(part); v > 255 {
				return hostName
			}
		}
		return hostIP
	}
	return hostName
}

func digit(c byte) bool   { return c >= '0' && c <= '9' }
func hexByte(c byte) bool { return digit(c) || c >= 'a' && c <= 'f' }

func atoiSmall(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
		if n > 1<<20 {
			return n
		}
	}
	return n
}

// dangerousMedia are data: URL media types that carry markup or script.
var dangerousMedia = []string{"text/html", "application/xhtml+xml", "image/svg+xml", "text/javascript",
	"application/javascript", "application/x-javascript", "application/ecmascript", "text/ecmascript",
	"application/x-sh", "application/x-shellscript", "application/hta", "text/vbscript", "application/x-msdownload"}

// dataURI checks the media type of the data: URL whose "data:" spans [start, end).
func (sc *scan) dataURI(start, end int) {
	lw := sc.n.lower
	k := end
	for k < len(lw) && k-end < 64 && lw[k] != ';' && lw[k] != ',' && lw[k] != ' ' {
		k++
	}
	mt := lw[end:k]
	for _, m := range dangerousMedia {
		if string(mt) == m {
			sc.add(rURLDataURI, sc.n.at(start))
			return
		}
	}
}

// pathStop reports whether c ends a path in running text.
func pathStop(c byte) bool {
	switch c {
	case ' ', '"', '\'', '`', '<', '>', '(', ')', '[', ']', '{', '}', ',', '|', '=', '&', '?', '#', ';', ':':
		return true
	}
	return false
}

// traversal analyzes the path around a dot-dot match at lower offset p: how far above its start it
// climbs once resolved. src/../README.md stays inside and is not reported.
func (sc *scan) traversal(p int) {
	if p < sc.travEnd {
		return // already analyzed as part of the same path
	}
	lw := sc.n.lower
	l := p
	for l > 0 && !pathStop(lw[l-1]) && p-l < 4096 {
		l--
	}
	r := p
	for r < len(lw) && !pathStop(lw[r]) && r-p < 4096 {
		r++
	}
	sc.travEnd = r
	tok := lw[l:r]
	if bytes.HasPrefix(tok, []byte("//")) {
		// The authority of a URL (after "scheme:" stopped the scan): the path starts after it.
		rest := tok[2:]
		k := bytes.IndexAny(rest, "/\\")
		if k < 0 {
			return
		}
		tok = rest[k:]
	}
	depth, low := 0, 0
	for len(tok) > 0 {
		k := bytes.IndexAny(tok, "/\\")
		seg := tok
		if k >= 0 {
			seg, tok = tok[:k], tok[k+1:]
		} else {
			tok = nil
		}
		switch string(seg) {
		case "", ".", "~":
		case "..":
			depth--
			low = min(low, depth)
		default:
			depth++
		}
	}
	// An absolute path that climbs above / is reported like a relative one that climbs above its
	// start: either way the path was written to leave where it was meant to stay.
	off := sc.n.at(p)
	switch {
	case low <= -2:
		sc.add(rPTEscape, off)
	case low == -1:
		sc.add(rPTParentEscape, off)
	}
}
