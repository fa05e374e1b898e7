package mcp

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
)

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name, method, params string
		want                 Request
	}{
		{"tool call", "tools/call", `{"name":"refund","arguments":{"amount":12345678901234567890,"who":"x"}}`,
			Request{Name: "refund", Arguments: map[string]any{"amount": json.Number("12345678901234567890"), "who": "x"},
				RawArguments: []byte(`{"amount":12345678901234567890,"who":"x"}`)}},
		{"exact key only", "tools/call", `{"name":"drop_db","Name":"read","NAME":"read"}`, Request{Name: "drop_db"}},
		{"modern meta", "tools/list", `{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","gatehouse/run_id":"r1"}}`,
			Request{ProtocolVersion: "2026-07-28", Modern: true, RunID: "r1"}},
		{"initialize", "initialize", `{"protocolVersion":"2025-11-25","capabilities":{}}`, Request{ProtocolVersion: "2025-11-25"}},
		{"resource", "resources/read", `{"uri":"file:///a"}`, Request{URI: "file:///a"}},
		{"no params", "tools/list", ``, Request{}},
		{"null arguments", "tools/call", `{"name":"x","arguments":null}`, Request{Name: "x"}},
		{"eliciting client", "tools/call", `{"name":"x","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}}`,
			Request{Name: "x", ProtocolVersion: "2026-07-28", Modern: true, Elicits: true}},
		{"form and url elicitation", "resources/read", `{"uri":"a:b","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{"form":{},"url":{}}}}}`,
			Request{URI: "a:b", ProtocolVersion: "2026-07-28", Modern: true, Elicits: true}},
		{"url elicitation only", "tools/call", `{"name":"x","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{"url":{}}}}}`,
			Request{Name: "x", ProtocolVersion: "2026-07-28", Modern: true}},
		{"no elicitation", "tools/call", `{"name":"x","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"sampling":{}}}}`,
			Request{Name: "x", ProtocolVersion: "2026-07-28", Modern: true}},
		{"elicitation not an object", "tools/call", `{"name":"x","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":true}}}`,
			Request{Name: "x", ProtocolVersion: "2026-07-28", Modern: true}},
		{"a method that cannot be answered input_required", "tools/list", `{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}}`,
			Request{ProtocolVersion: "2026-07-28", Modern: true}},
		{"a legacy request", "tools/call", `{"name":"x","_meta":{"io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}}`,
			Request{Name: "x"}},
		{"workflow attributes", "tools/call",
			`{"name":"x","_meta":{"gatehouse/workflow_id":"w","gatehouse/changed_paths":["a",1],"gatehouse/diff_line_count":12,"gatehouse/gate_phase":null,"gatehouse/human_approval_record":"approved","gatehouse/other":1}}`,
			Request{Name: "x", WorkflowID: "w", Attributes: map[string]any{"changed_paths": []any{"a", json.Number("1")}, "diff_line_count": json.Number("12")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRequest(tt.method, []byte(tt.params))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("DecodeRequest (-want +got):\n%s", diff)
			}
		})
	}
	long := strings.Repeat("r", MaxMetaIDBytes+1)
	if got, err := DecodeRequest("tools/call", []byte(`{"name":"x","_meta":{"gatehouse/run_id":"`+long[1:]+`"}}`)); err != nil || got.RunID != long[1:] {
		t.Errorf("a run id of %d bytes: %v", MaxMetaIDBytes, err)
	}
	for _, bad := range []string{`{"name":5}`, `{"name":"x","arguments":[1]}`, `{"name":"x","arguments":"s"}`, `{"name":"x","_meta":[]}`,
		`{"name":"x","_meta":{"gatehouse/run_id":"` + long + `"}}`, `{"name":"x","_meta":{"gatehouse/workflow_id":"` + long + `"}}`} {
		if _, err := DecodeRequest("tools/call", []byte(bad)); err == nil {
			t.Errorf("DecodeRequest(%s) accepted a malformed field", bad)
		}
	}
}

func TestFilterList(t *testing.T) {
	l, _ := ListingFor("tools/list")
	in := `{"tools":[{"name":"a","x":1},{"name":"b"},{"name":"c"}],"nextCursor":"n"}`
	got, removed, err := FilterList([]byte(in), l, func(n string) bool { return n != "b" })
	if err != nil || removed != 1 {
		t.Fatalf("removed %d, err %v", removed, err)
	}
	if want := `{"tools":[{"name":"a","x":1},{"name":"c"}],"nextCursor":"n"}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	same, removed, _ := FilterList([]byte(in), l, func(string) bool { return true })
	if removed != 0 || &same[0] != &[]byte(in)[0] && string(same) != in {
		t.Errorf("unchanged list was rewritten: %s", same)
	}
}

func TestReplaceMember(t *testing.T) {
	tests := []struct{ in, name, val, want string }{
		{`{"name":"x","arguments":{"a":1},"_meta":{}}`, "arguments", `{"a":2}`, `{"name":"x","arguments":{"a":2},"_meta":{}}`},
		{`{"name":"x"}`, "arguments", `{}`, `{"name":"x","arguments":{}}`},
		{`{}`, "arguments", `{}`, `{"arguments":{}}`},
	}
	for _, tt := range tests {
		got, err := ReplaceMember([]byte(tt.in), tt.name, []byte(tt.val))
		if err != nil || string(got) != tt.want {
			t.Errorf("ReplaceMember(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

// FuzzDecodeRequest holds DecodeRequest to encoding/json's reading of the same params: the tool
// name and the arguments, for any params jsonrpc.Parse accepts.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"name":"echo","arguments":{"message":"hi","n":[1,2.5,{"x":null}]}}`, `{"n\u0061me":"echo","arguments":{}}`,
		`{"name":"a","_meta":{"gatehouse/run_id":"r1","io.modelcontextprotocol/protocolVersion":"2026-07-28"}}`,
		`{"name":7}`, `{"arguments":[1]}`, `{"name":"x","arguments":null}`, `{"name":"\u00e9\n"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, params []byte) {
		msg, err := jsonrpc.Parse(append(append([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":`), params...), '}'), jsonrpc.Limits{})
		if err != nil || msg.Params == nil || msg.Params[0] != '{' {
			return
		}
		var members map[string]json.RawMessage // exact names, unlike a struct
		if err := json.Unmarshal(msg.Params, &members); err != nil {
			t.Fatalf("encoding/json refuses params jsonrpc accepted: %v", err)
		}
		var name any
		if raw, ok := members["name"]; ok {
			json.Unmarshal(raw, &name)
		}
		args := members["arguments"]
		req, err := DecodeRequest(MethodToolsCall, msg.Params)
		if s, isString := name.(string); name != nil && !isString || len(args) > 0 && args[0] != '{' && string(args) != "null" {
			if err == nil {
				t.Fatalf("a name that is not a string, or arguments that are not an object, were read: %q", params)
			}
			return
		} else if err != nil {
			t.Fatalf("DecodeRequest(%q): %v", params, err)
		} else if req.Name != s {
			t.Fatalf("name %q, encoding/json %q", req.Name, s)
		}
		if len(args) > 0 && string(args) != "null" {
			want, err := decodeSlow(args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(req.Arguments, want) || !bytes.Equal(req.RawArguments, args) {
				t.Fatalf("arguments %v (%q), encoding/json %v (%q)", req.Arguments, req.RawArguments, want, args)
			}
		}
	})
}
