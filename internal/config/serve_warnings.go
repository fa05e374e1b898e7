package config

import (
	"fmt"
)

// fsEnvelopeBytes is room, beyond a file's encoded bytes, for the JSON-RPC envelope and content block
// around it (ids, the file's name and URI, the media type).
const fsEnvelopeBytes = 4 << 10

// fsMessageBytes is the size of the smallest message that can carry a binary file of n bytes: its
// base64, as images, PDFs and Office documents travel both ways (fs.read returns them so, fs.write
// takes them so), plus the envelope. Text may travel unencoded, but escaping only makes it larger.
func fsMessageBytes(n int64) int64 { return (n+2)/3*4 + fsEnvelopeBytes }

// Warnings reports what is valid but will not work as it reads, located like Validate's problems.
// Start-up logs them and `gatehouse check` prints them; neither fails on them.
//
// A built-in fs upstream whose max_file_mb, once encoded, cannot fit in limits.max_message_mb
// promises files that can never be carried: reading one is refused payload_too_large (SPEC §8.5), and
// writing one cannot be sent. It is a warning, not an error: the limit is still enforced, and since
// no file of 1 MiB fits in a 1 MiB message, an error would forbid the built-in tools with the
// smallest message limit.
func (c *ServeConfig) Warnings(src *Source) []Problem {
	var ps []Problem
	msg := int64(c.Limits.MaxMessageMB) << 20
	for i, u := range c.Upstreams {
		if u.Builtin != "fs" || u.FS.MaxFileMB < 1 || c.Limits.MaxMessageMB < 1 {
			continue
		}
		need := fsMessageBytes(int64(u.FS.MaxFileMB) << 20)
		if need <= msg {
			continue
		}
		key := fmt.Sprintf("upstreams[%d].fs.max_file_mb", i)
		file, line := src.at(key)
		for _, k := range []string{fmt.Sprintf("upstreams[%d].fs", i), fmt.Sprintf("upstreams[%d]", i)} {
			if line == 0 {
				file, line = src.at(k)
			}
		}
		fix := fmt.Sprintf("raise limits.max_message_mb to at least %d", (need+1<<20-1)>>20)
		if fits := (msg - fsEnvelopeBytes) / 4 * 3 >> 20; fits >= 1 {
			fix = fmt.Sprintf("lower max_file_mb to at most %d, or %s", fits, fix)
		}
		ps = append(ps, Problem{File: file, Line: line, Key: key, Message: fmt.Sprintf(
			"(%s): a binary file of %d MiB travels base64-encoded in a message of at least %.1f MiB, more than limits.max_message_mb (%d MiB): "+
				"fs.read of such a file is refused payload_too_large and fs.write of one cannot be sent; %s",
			u.Name, u.FS.MaxFileMB, float64(need)/(1<<20), c.Limits.MaxMessageMB, fix)})
	}
	return ps
}
