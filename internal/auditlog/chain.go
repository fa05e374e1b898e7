package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
)

// hashMemberLen is the length of `,"hash":"<64 hex>"` at the end of a line,
// before its closing brace.
const hashMemberLen = len(`,"hash":"`) + 64 + len(`"`)

// ChainHash returns the hash of a record whose previous record has hash
// prevHash and whose body (see AppendBody) is body:
//
//	lowercase hex( SHA-256( prevHash || "\n" || body ) )
//
// prevHash enters as its 64 hex characters. The newline keeps the two parts
// apart so no choice of body can pose as a different prevHash.
func ChainHash(prevHash string, body []byte) string {
	var c chainHasher
	return c.hash(prevHash, body, nil)
}

// Seal sets r.Hash to ChainHash(r.PrevHash, AppendBody(r)) and returns the
// line to write, without its newline. It is how a record joins a chain; the
// Writer does the same with a reused buffer.
func Seal(r *Record) []byte {
	body := AppendBody(make([]byte, 0, 512), r)
	r.Hash = ChainHash(r.PrevHash, body)
	return appendHashMember(body[:len(body)-1], r.Hash)
}

// splitLine splits a line as written into its body without the closing
// brace and its hash, so that the hash can be recomputed from the bytes on
// disk. It does not parse the line; ok is false when the line does not end
// in a hash member of the right shape.
func splitLine(line []byte) (bodyPrefix []byte, hash []byte, ok bool) {
	n := len(line) - hashMemberLen - 1
	if n < 1 || line[len(line)-1] != '}' {
		return nil, nil, false
	}
	member := line[n : len(line)-1]
	if !bytes.HasPrefix(member, []byte(`,"hash":"`)) || member[len(member)-1] != '"' {
		return nil, nil, false
	}
	return line[:n], member[len(`,"hash":"`) : len(member)-1], true
}

// chainHasher computes chain hashes with one reused SHA-256 state, for the
// writer's and the verifier's loops.
type chainHasher struct {
	h   hash.Hash
	buf []byte // prev_hash and the separator, copied to avoid an allocation per call
	sum [sha256.Size]byte
	hex [2 * sha256.Size]byte
}

// hash returns ChainHash(prev, body+tail); tail lets a caller hash a body
// whose closing brace is not contiguous with it.
func (c *chainHasher) hash(prev string, body, tail []byte) string {
	return string(c.hashBytes(prev, body, tail))
}

// hashBytes is hash without the string allocation; the result is valid
// until the next call.
func (c *chainHasher) hashBytes(prev string, body, tail []byte) []byte {
	if c.h == nil {
		c.h = sha256.New()
	}
	c.h.Reset()
	c.buf = append(append(c.buf[:0], prev...), '\n')
	c.h.Write(c.buf)
	c.h.Write(body)
	c.h.Write(tail)
	hex.Encode(c.hex[:], c.h.Sum(c.sum[:0]))
	return c.hex[:]
}

// lineHash recomputes the hash of a line as written, given the prev_hash it
// claims. ok is false when the line has no well-formed hash member.
func (c *chainHasher) lineHash(prev string, line []byte) (computed, claimed []byte, ok bool) {
	prefix, claimed, ok := splitLine(line)
	if !ok {
		return nil, nil, false
	}
	return c.hashBytes(prev, prefix, closeBrace), claimed, true
}

var closeBrace = []byte{'}'}
