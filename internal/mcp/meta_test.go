package mcp

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
)

const tp = `"00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"`

func TestSetMeta(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no params", ``, `{"_meta":{"traceparent":` + tp + `}}`},
		{"null params", `null`, `{"_meta":{"traceparent":` + tp + `}}`},
		{"no _meta", `{"name":"echo"}`, `{"name":"echo","_meta":{"traceparent":` + tp + `}}`},
		{"empty params", `{ }`, `{ "_meta":{"traceparent":` + tp + `}}`},
		{"null _meta", `{"name":"echo","_meta":null}`, `{"name":"echo","_meta":{"traceparent":` + tp + `}}`},
		{"other _meta keys kept", `{"_meta":{"progressToken":1,"tracestate":"a=b"},"name":"e"}`,
			`{"_meta":{"progressToken":1,"tracestate":"a=b","traceparent":` + tp + `},"name":"e"}`},
		{"the client's traceparent replaced", `{"_meta":{"traceparent":"00-x-y-01","k":2}}`, `{"_meta":{"traceparent":` + tp + `,"k":2}}`},
		{"escaped _meta name found", `{"\u005fmeta":{"a":1}}`, `{"\u005fmeta":{"a":1,"traceparent":` + tp + `}}`},
		{"nested _meta untouched", `{"arguments":{"_meta":{}}}`, `{"arguments":{"_meta":{}},"_meta":{"traceparent":` + tp + `}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetMeta([]byte(tt.in), MetaTraceParent, []byte(tp))
			if err != nil || string(got) != tt.want {
				t.Errorf("SetMeta(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
	if _, err := SetMeta([]byte(`[1,2]`), MetaTraceParent, []byte(tp)); err == nil {
		t.Error("SetMeta put _meta into array params")
	}
}

// FuzzSetMeta holds SetMeta, for any params jsonrpc.Parse accepts, to giving a frame that parses
// again, whose _meta traceparent is the value set and whose other members are as they were.
func FuzzSetMeta(f *testing.F) {
	for _, s := range []string{`{"name":"echo","arguments":{"a":1}}`, `{"_meta":{"traceparent":"x"}}`, `{"_meta":null}`,
		`{"\u005fmeta":{"k":[1,{"_meta":2}]}}`, `{}`, `null`, `[1]`, `{"_meta":{"a":"\u00e9"},"z":true}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, params []byte) {
		msg, err := jsonrpc.Parse(append(append([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":`), params...), '}'), jsonrpc.Limits{})
		if err != nil || msg.Params == nil {
			return
		}
		if _, err := DecodeRequest(MethodToolsCall, msg.Params); err != nil {
			return // refused before it could be forwarded
		}
		out, err := SetMeta(msg.Params, MetaTraceParent, []byte(tp))
		if err != nil {
			if msg.Params[0] == '{' {
				t.Fatalf("SetMeta(%q): %v", msg.Params, err)
			}
			return
		}
		again, err := jsonrpc.Parse(msg.WithParams(out), jsonrpc.Limits{})
		if err != nil {
			t.Fatalf("the frame with _meta set does not parse: %v\n%s", err, msg.WithParams(out))
		}
		var before, after map[string]json.RawMessage
		json.Unmarshal(msg.Params, &before)
		if err := json.Unmarshal(again.Params, &after); err != nil {
			t.Fatalf("params %s: %v", again.Params, err)
		}
		var meta map[string]json.RawMessage
		if err := json.Unmarshal(after["_meta"], &meta); err != nil || string(meta["traceparent"]) != tp {
			t.Fatalf("_meta %s, want traceparent %s", after["_meta"], tp)
		}
		for k, v := range before {
			if k == "_meta" {
				var old map[string]json.RawMessage
				json.Unmarshal(v, &old)
				for mk, mv := range old {
					if mk != "traceparent" && !bytes.Equal(bytes.TrimSpace(meta[mk]), bytes.TrimSpace(mv)) {
						t.Fatalf("_meta.%s was %s, is %s", mk, mv, meta[mk])
					}
				}
				continue
			}
			if !bytes.Equal(after[k], v) {
				t.Fatalf("member %s was %s, is %s", strings.ToValidUTF8(k, "?"), v, after[k])
			}
		}
	})
}

func TestDecodeRequestReadsTraceContext(t *testing.T) {
	r, err := DecodeRequest(MethodToolsCall, []byte(`{"name":"e","_meta":{"traceparent":`+tp+`,"tracestate":"a=b"}}`))
	if err != nil || r.Trace == nil || r.Trace.Parent != strings.Trim(tp, `"`) || r.Trace.State != "a=b" {
		t.Errorf("DecodeRequest = %+v, %v", r, err)
	}
	// Trace context is gatehouse's to read, not the client's to get refused over.
	r, err = DecodeRequest(MethodToolsCall, []byte(`{"name":"e","_meta":{"traceparent":7,"tracestate":null}}`))
	if err != nil || r.Trace == nil || *r.Trace != (TraceContext{}) {
		t.Errorf("DecodeRequest of non-string trace context = %+v, %v", r, err)
	}
	if r, _ := DecodeRequest(MethodToolsCall, []byte(`{"name":"e","_meta":{}}`)); r.Trace != nil {
		t.Errorf("a request without trace context has %+v", r.Trace)
	}
}
