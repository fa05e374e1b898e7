package fstools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"syscall"
	"unicode/utf8"
)

// ErrUnknownTool is returned (wrapped) by Call for a tool name that is not fs.read, fs.write or
// fs.list. The caller routed a call here that it should not have; it is answered as a JSON-RPC
// error (invalid params), not as a tool result.
var ErrUnknownTool = errors.New("fstools: unknown tool")

// refusal is something the caller got wrong. Call turns it into a tool result with isError set; its
// message says what was wrong and never carries file contents or the data root's location.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

func refusef(format string, args ...any) error { return &refusal{msg: fmt.Sprintf(format, args...)} }

// Call runs tool for engagement with arguments, the raw JSON of the tools/call params.arguments
// (empty or null means no arguments), and returns an MCP CallToolResult as JSON.
//
// Anything the caller got wrong is a tool error inside the result (isError: true): an invalid
// engagement name, arguments that are not an object, unknown or duplicate argument names, arguments
// of the wrong type, a refused path, a symbolic link or hard link, a blocked or unknown file type,
// content that does not match its extension, a file or content over the size limit, a missing file.
// Call returns a Go error only for an unknown tool (wrapping ErrUnknownTool), a cancelled context,
// and internal failures (an I/O error, a data root that is not a directory); the caller should answer
// those with an opaque internal error and log them.
func (t *Tools) Call(ctx context.Context, engagement, tool string, arguments json.RawMessage) (json.RawMessage, error) {
	var run func(ctx context.Context, engagement string, args map[string]json.RawMessage) (*result, error)
	var keys []string
	switch tool {
	case ToolRead:
		run, keys = t.read, []string{"path"}
	case ToolWrite:
		run, keys = t.write, []string{"path", "content", "encoding"}
	case ToolList:
		run, keys = t.list, []string{"path"}
	default:
		return nil, fmt.Errorf("%w %s", ErrUnknownTool, quote(tool))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res, err := t.call(ctx, engagement, arguments, keys, run)
	var r *refusal
	var pe *PathError
	switch {
	case errors.As(err, &r):
		res = errorResult(tool + ": " + r.msg)
	case errors.As(err, &pe):
		res = errorResult(tool + ": " + pe.Error())
	case err != nil:
		return nil, fmt.Errorf("%s: %w", tool, err)
	}
	out, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("%s: encoding the result: %w", tool, err)
	}
	return out, nil
}

// call decodes the arguments and checks the engagement before running the tool.
func (t *Tools) call(ctx context.Context, engagement string, arguments json.RawMessage, keys []string,
	run func(context.Context, string, map[string]json.RawMessage) (*result, error)) (*result, error) {
	args, err := decodeArguments(arguments, keys)
	if err != nil {
		return nil, err
	}
	if !ValidEngagement(engagement) {
		return nil, refusef("the engagement %s is not a valid engagement name", quote(engagement))
	}
	return run(ctx, engagement, args)
}

// decodeArguments decodes a tools/call arguments object strictly: an object (or nothing), valid
// UTF-8, no duplicate member names, no names outside allowed (matched exactly, not
// case-insensitively as encoding/json would), nothing after it.
func decodeArguments(raw json.RawMessage, allowed []string) (map[string]json.RawMessage, error) {
	args := map[string]json.RawMessage{}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return args, nil
	}
	if !utf8.Valid(raw) {
		return nil, refusef("the arguments are not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, refusef("the arguments must be a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, refusef("the arguments are not valid JSON")
		}
		name, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, refusef("the arguments are not valid JSON")
		}
		if !slices.Contains(allowed, name) {
			return nil, refusef("unknown argument %s (allowed: %s)", quote(name), strings.Join(allowed, ", "))
		}
		if _, dup := args[name]; dup {
			return nil, refusef("the argument %q is given twice", name)
		}
		args[name] = value
	}
	if _, err := dec.Token(); err != nil {
		return nil, refusef("the arguments are not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, refusef("the arguments are followed by more data")
	}
	return args, nil
}

// stringArg returns the string argument name; ok is false when it is absent. Present but not a
// string (null included) is a refusal.
func stringArg(args map[string]json.RawMessage, name string) (value string, ok bool, err error) {
	raw, present := args[name]
	if !present {
		return "", false, nil
	}
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &value) != nil {
		return "", false, refusef("the argument %q must be a string", name)
	}
	return value, true, nil
}

// requiredString is stringArg for an argument that must be given.
func requiredString(args map[string]json.RawMessage, name string) (string, error) {
	v, ok, err := stringArg(args, name)
	if err == nil && !ok {
		err = refusef("the argument %q is required", name)
	}
	return v, err
}

// fsRefusal turns a file system error about name into a refusal when it is about the caller's path
// (missing, a symbolic link, not permitted, outside the root) and returns other errors as they are.
// Refusals never include the error text, which would carry the data root's location.
func fsRefusal(err error, name string) error {
	var errno syscall.Errno
	var pe *fs.PathError
	switch {
	case err == nil:
		return nil
	case errors.As(err, new(*refusal)):
		return err
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return refusef("%s does not exist", quote(name))
	case errors.Is(err, syscall.ELOOP):
		return refusef("%s goes through a symbolic link; symbolic links are never followed", quote(name))
	case errors.Is(err, fs.ErrPermission):
		return refusef("%s: permission denied", quote(name))
	case errors.Is(err, syscall.ENAMETOOLONG):
		return refusef("%s is too long for the file system", quote(name))
	case errors.Is(err, syscall.EISDIR):
		return refusef("%s is a directory", quote(name))
	case errors.As(err, &errno):
		return err
	case errors.As(err, &pe):
		// os.Root's own refusals (a path or link that escapes the root) are not errnos.
		return refusef("%s leads outside the engagement's directory", quote(name))
	}
	return err
}
