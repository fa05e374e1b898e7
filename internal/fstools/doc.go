// Package fstools implements gatehouse's built-in file tools fs.read, fs.write and fs.list (SPEC
// §8.3–8.5): served by the gateway itself rather than by an upstream server, and jailed per
// engagement under <data root>/<engagement>/.
//
// It exists because a file tool is the shortest path from a prompt injection to a stolen secret or a
// planted executable, so the gateway that enforces policy should also be the one place that touches
// the disk, with every rule in one small package that can be read and fuzzed on its own. Defence is
// layered, and each layer would stop the classic attacks by itself:
//
//   - ValidatePath refuses a path before any file system call: traversal ("..", absolute paths,
//     drive letters, backslashes), /etc/, /proc/ and /sys/, shell expansion ($, backticks, ~), NUL and
//     other control or invisible characters, invalid UTF-8, Unicode look-alikes of '.', '/' and '\',
//     and all of these again in every percent-decoded form of the path (decoded until stable, at most
//     eight times).
//   - Every file system call goes through an os.Root opened on the engagement's directory, so
//     nothing can resolve outside it, whatever a path or a symbolic link says.
//   - Symbolic links are never followed, not even inside the jail, and never created: each component
//     of a path is checked with Lstat and a link anywhere refuses the call. A regular file with more
//     than one hard link is refused as well, because a hard link is the one way a file outside the
//     jail can appear inside it, and os.Root cannot tell.
//   - The extension decides the file type, the type must be allowed (Config.AllowMIME minus
//     Config.BlockMIME), and the content must be of that type (magic numbers, with
//     net/http.DetectContentType describing what is left); text must be UTF-8 without control bytes.
//   - Sizes are limited (Config.MaxFileBytes), on write before anything touches the disk and on
//     read without reading more than the limit plus one byte.
//   - Writes are atomic: a temporary file in the target's directory, written, synced, made 0644 and
//     renamed over the target. A failed write leaves the old file whole and no temporary file behind.
//     Directories are created 0755; nothing is ever executable.
//
// The API is three calls. New opens the data root from a Config. Tools.List returns the MCP tool
// definitions (name, description, input and output JSON Schema, annotations) for tools/list.
// Tools.Call runs one tool for one engagement with the raw arguments of a tools/call and returns an
// MCP CallToolResult as JSON. Everything the caller got wrong — a refused path, an unknown
// argument, a blocked type, a missing file — is a tool error (isError: true, with a message that says
// what was wrong and never carries file contents or the data root's location), so the model can see
// it and correct itself. Call returns a Go error only for an unknown tool name (ErrUnknownTool), a
// cancelled context and internal failures, which the caller should answer as an opaque internal
// error. Tools is safe for concurrent use and holds the data root open until Close.
//
// The package imports nothing from gatehouse: the gateway adapts it to its upstream interface, and
// the jail can be tested and fuzzed without the gateway. docs/builtin-tools.md is the user-facing
// description of every rule here.
package fstools
