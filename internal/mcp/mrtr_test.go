package mcp

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-cmp/cmp"
)

// retryOf is the params a client sends when it retries params answered with result: gatehouse's
// requestState and the client's answer to its elicitation in place of the call's own.
func retryOf(t *testing.T, params, result []byte, action string) []byte {
	t.Helper()
	var p, r map[string]any
	if err := json.Unmarshal(params, &p); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(result, &r); err != nil {
		t.Fatal(err)
	}
	p["requestState"] = r["requestState"]
	p["inputResponses"] = map[string]any{HoldInputKey: map[string]any{"action": action}}
	b, _ := json.Marshal(p)
	return b
}

func TestHoldResultAndUnwrapHold(t *testing.T) {
	for _, params := range []string{
		`{"name":"refund","arguments":{"amount":1000.50}}`,
		`{"name":"refund","arguments":{"amount":900},"requestState":"server-round-2","inputResponses":{"confirm":{"action":"accept","content":{"ok":true}}},"_meta":{"progressToken":7}}`,
		`{"uri":"file:///a","requestState":"only state"}`,
	} {
		result, err := HoldResult([]byte(params), `gatehouse holds tools/call refund <b>for</b> approval apr_X`, "apr_X")
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			ResultType    string `json:"resultType"`
			InputRequests map[string]struct {
				Method string `json:"method"`
				Params struct {
					Mode, Message   string
					RequestedSchema map[string]any `json:"requestedSchema"`
				} `json:"params"`
			} `json:"inputRequests"`
			RequestState string `json:"requestState"`
		}
		if err := json.Unmarshal(result, &r); err != nil {
			t.Fatal(err)
		}
		ask := r.InputRequests[HoldInputKey]
		if r.ResultType != "input_required" || len(r.InputRequests) != 1 || ask.Method != "elicitation/create" || ask.Params.Mode != "form" ||
			ask.Params.Message != `gatehouse holds tools/call refund <b>for</b> approval apr_X` ||
			!cmp.Equal(ask.Params.RequestedSchema, map[string]any{"type": "object", "properties": map[string]any{}}) {
			t.Errorf("HoldResult(%s) = %s", params, result)
		}
		if strings.Contains(r.RequestState, "server-round-2") {
			t.Errorf("the server's state is readable in gatehouse's: %s", r.RequestState)
		}
		for _, action := range []string{"accept", "decline"} {
			got, ok, err := UnwrapHold(retryOf(t, []byte(params), result, action))
			if err != nil || !ok || got.Action != action || got.ApprovalID != "apr_X" {
				t.Fatalf("UnwrapHold of a retry of %s: %v %v %+v", params, ok, err, got)
			}
			var want, have any
			json.Unmarshal([]byte(params), &want)
			json.Unmarshal(got.Params, &have)
			if diff := cmp.Diff(want, have); diff != "" {
				t.Errorf("restored params differ from the held call's (-held +restored):\n%s", diff)
			}
		}
	}
}

func TestUnwrapHoldRefuses(t *testing.T) {
	for _, tc := range []struct {
		params string
		ok     bool
	}{
		{`{"name":"x"}`, false},
		{`{"name":"x","requestState":"server-state"}`, false},
		{`{"name":"x","requestState":1,"note":"gatehouse.hold.v1."}`, false},
		{`{"name":"x","arguments":{"requestState":"gatehouse.hold.v1.e30"}}`, false}, // not the params' member
		{`{"name":"x","requestState":"gatehouse.hold.v1.!"}`, true},
		{`{"name":"x","requestState":"gatehouse.hold.v1.e30="}`, true},                               // padded
		{`{"name":"x","requestState":"gatehouse.hold.v1.WzFd"}`, true},                               // [1]
		{`{"name":"x","requestState":"gatehouse.hold.v1.eyJuYW1lIjoieSJ9"}`, true},                   // {"name":"y"}: not a member it carries
		{`{"name":"x","requestState":"gatehouse.hold.v1.eyJhcHByb3ZhbCI6MX0"}`, true},                // {"approval":1}
		{`{"name":"x","requestState":"gatehouse.hold.v1.eyJhIjoxLCJhIjoyfQ"}`, true},                 // duplicate names
		{`{"name":"x","requestState":"gatehouse.hold.v1.eyJyZXF1ZXN0U3RhdGUiOiJcdWQ4MDAifQ"}`, true}, // a lone surrogate
	} {
		_, ok, err := UnwrapHold([]byte(tc.params))
		if ok != tc.ok || (err != nil) != tc.ok {
			t.Errorf("UnwrapHold(%s): ok %v err %v, want ok %v and an error when ok", tc.params, ok, err, tc.ok)
		}
	}
}

// retryRaw is the params a client sends when it retries params answered with result, built on the
// raw JSON so that every other member keeps its exact bytes.
func retryRaw(t *testing.T, params, result []byte, responses string) []byte {
	t.Helper()
	var r struct{ RequestState string }
	if err := json.Unmarshal(result, &r); err != nil {
		t.Fatal(err)
	}
	state, _ := json.Marshal(r.RequestState)
	retry, err := ReplaceMember(params, "requestState", state)
	if err == nil {
		retry, err = ReplaceMember(retry, "inputResponses", []byte(responses))
	}
	if err != nil {
		t.Fatal(err)
	}
	return retry
}

// FuzzHoldRoundTrip: whatever a held call's params hold, the retry of gatehouse's answer to it
// unwraps to those params, member for member, byte for byte.
func FuzzHoldRoundTrip(f *testing.F) {
	for _, p := range []string{
		`{"name":"x","requestState":null}`,
		`{"name":"x","inputResponses":null,"arguments":{"n":1.50e3}}`,
		`{"name":"x","requestState":7,"inputResponses":[]}`,
		`{"uri":"a:b","requestState":"s","inputResponses":{"k":{"action":"accept"}},"_meta":{"progressToken":1}}`,
		`{"name":"\u0041"}`,
	} {
		f.Add(p, "accept")
	}
	f.Fuzz(func(t *testing.T, params, action string) {
		if !jsontext.Value(params).IsValid() || jsontext.Value(params).Kind() != '{' {
			return
		}
		result, err := HoldResult([]byte(params), "m", "apr_1")
		if err != nil {
			t.Fatalf("HoldResult(%s): %v", params, err)
		}
		responses, _ := json.Marshal(map[string]any{HoldInputKey: map[string]any{"action": action}})
		got, ok, err := UnwrapHold(retryRaw(t, []byte(params), result, string(responses)))
		if !ok || err != nil || got.ApprovalID != "apr_1" || utf8.ValidString(action) && got.Action != action {
			t.Fatalf("the retry of %s: ok %v, %v, %+v", params, ok, err, got)
		}
		want, have := rawMembers(t, []byte(params)), rawMembers(t, got.Params)
		if diff := cmp.Diff(want, have); diff != "" {
			t.Fatalf("the retry of %s unwraps to %s (-held +restored):\n%s", params, got.Params, diff)
		}
	})
}

// rawMembers maps each member of a JSON object to its value's exact bytes.
func rawMembers(t *testing.T, obj []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := members(obj, func(name string, v jsontext.Value) error {
		out[name] = string(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzUnwrapHold: the requestState of a retry is what the client says it is. Whatever it holds,
// UnwrapHold returns valid JSON params or an error, and never panics; what it restores keeps every
// member of the retry but the two it replaces.
func FuzzUnwrapHold(f *testing.F) {
	held, _ := HoldResult([]byte(`{"name":"a","requestState":"s","inputResponses":{"k":{"action":"accept"}}}`), "m", "apr_1")
	var r struct{ RequestState string }
	json.Unmarshal(held, &r)
	f.Add(`{"name":"a","requestState":` + strings.TrimSpace(mustJSON(r.RequestState)) + `,"inputResponses":{"gatehouse/approval":{"action":"accept"}}}`)
	f.Add(`{"name":"a","requestState":"gatehouse.hold.v1.e30"}`)
	f.Add(`{"requestState":"gatehouse.hold.v1.eyJyZXF1ZXN0U3RhdGUiOiJ4In0","x":[1,{"y":null}]}`)
	f.Fuzz(func(t *testing.T, params string) {
		if !jsontext.Value(params).IsValid() || jsontext.Value(params).Kind() != '{' {
			return
		}
		r, ok, err := UnwrapHold([]byte(params))
		if !ok || err != nil {
			return
		}
		restored := r.Params
		if !jsontext.Value(restored).IsValid() || jsontext.Value(restored).Kind() != '{' {
			t.Fatalf("UnwrapHold(%s) restored invalid params %s", params, restored)
		}
		var in, out map[string]json.RawMessage
		json.Unmarshal([]byte(params), &in)
		json.Unmarshal(restored, &out)
		for k, v := range in {
			if k != "requestState" && k != "inputResponses" && string(out[k]) != string(v) {
				t.Fatalf("member %q changed: %s -> %s", k, v, out[k])
			}
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
