package gateway

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
)

// Pagination of merged lists. Each upstream pages its own list with cursors only it understands;
// a merged page holds the next page of every upstream that has more. Its nextCursor is therefore
// a composite: for each of those upstreams, the cursor it gave, encoded as base64url JSON and
// bound to the list method. A client that follows it gets every item exactly once: the upstreams
// that had no more are not asked again. Cursors are opaque to clients; one gatehouse did not make
// (not base64url JSON, another list's, naming an upstream that is not configured, naming none) is
// refused with -32602 invalid params, as a server refuses a cursor it does not know.

// pageCursor is the decoded form of a merged list's cursor.
type pageCursor struct {
	// Method is the list method the cursor pages.
	Method string `json:"m"`
	// Next holds, by upstream name, the cursor that upstream gave for its next page.
	Next map[string]string `json:"c"`
}

// encodeCursor makes a merged list's nextCursor.
func encodeCursor(method string, next map[string]string) string {
	b, _ := json.Marshal(pageCursor{Method: method, Next: next})
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads a cursor encodeCursor made for method, with known telling configured
// upstream names.
func decodeCursor(method, cursor string, known func(string) bool) (map[string]string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, errors.New("not a cursor gatehouse made")
	}
	var c pageCursor
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, errors.New("not a cursor gatehouse made")
	}
	if c.Method != method {
		return nil, fmt.Errorf("a cursor of %q, not of %q", c.Method, method)
	}
	if len(c.Next) == 0 {
		return nil, errors.New("the cursor names no upstream")
	}
	for name := range c.Next {
		if !known(name) {
			return nil, fmt.Errorf("the cursor names upstream %q, which is not configured", name)
		}
	}
	return c.Next, nil
}

// routePage routes a page of a merged list: the first page to every upstream, a later one to each
// upstream with more, carrying its own cursor.
func (s *Server) routePage(msg *jsonrpc.Message) ([]target, error) {
	var p struct {
		Cursor *string `json:"cursor"`
	}
	if len(msg.Params) > 0 {
		if err := json.Unmarshal(msg.Params, &p); err != nil {
			return nil, &errNoRoute{"invalid cursor: it must be a string"}
		}
	}
	var out []target
	if p.Cursor == nil {
		for _, u := range s.opts.Upstreams {
			out = append(out, target{up: u, frame: msg.Raw})
		}
		return out, nil
	}
	next, err := decodeCursor(msg.Method, *p.Cursor, func(name string) bool {
		for _, u := range s.opts.Upstreams {
			if u.Name() == name {
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, &errNoRoute{"invalid cursor: " + err.Error()}
	}
	for _, u := range s.opts.Upstreams {
		c, ok := next[u.Name()]
		if !ok {
			continue
		}
		q, _ := json.Marshal(c)
		params, err := mcp.ReplaceMember(msg.Params, "cursor", q)
		if err != nil {
			return nil, &errNoRoute{err.Error()}
		}
		out = append(out, target{up: u, frame: msg.WithParams(params)})
	}
	return out, nil
}

// nextCursor is a merged page's nextCursor: the cursors of the upstreams that answered with more,
// "" when none has more.
func nextCursor(method string, targets []target, results []*jsonrpc.Message, ok []int) string {
	next := map[string]string{}
	for _, i := range ok {
		var r struct {
			NextCursor string `json:"nextCursor"`
		}
		if json.Unmarshal(results[i].Result, &r) == nil && r.NextCursor != "" {
			next[targets[i].up.Name()] = r.NextCursor
		}
	}
	if len(next) == 0 {
		return ""
	}
	return encodeCursor(method, next)
}
