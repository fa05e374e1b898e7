package gatehouse_test

import data.gatehouse

# call is the input gatehouse builds for a tools/call (SPEC §5.2): every member present.
call(tool, args, roles) := {
	"kind": "tools/call",
	"user": {"id": "alice", "roles": roles, "claims": {}},
	"agent": {"id": "alice", "roles": roles, "claims": {}},
	"tenant": "",
	"tool": {"name": tool, "server": "upstream", "args": args},
	"resource": {"uri": ""},
	"prompt": {"name": "", "args": {}},
	"request_ip": "",
	"headers": {},
	"session": {"id": "sess_1", "run_id": "", "workflow_id": ""},
	"threat": {"score": 0, "findings": []},
}

test_plain_call_allowed if {
	gatehouse.decision == {"allow": true} with input as call("echo", {"message": "hi"}, ["dev"])
}

test_handshake_and_lists_allowed if {
	gatehouse.decision.allow with input as object.union(call("", {}, []), {"kind": "initialize"})
	gatehouse.decision.allow with input as object.union(call("", {}, []), {"kind": "tools/list"})
}

test_roles_refuse_first if {
	d := gatehouse.decision with input as call("database.backup", {"password": "hunter2"}, ["dev"])
	d.reason == "role_mismatch"
}

test_secrets_refuse_before_bounds if {
	d := gatehouse.decision with input as call("temp.convert", {"temp": -500, "api_key": "k-123"}, ["dev"])
	startswith(d.reason, "secret_in_arguments")
}

test_bounds_refuse if {
	d := gatehouse.decision with input as call("temp.convert", {"temp": -500}, ["dev"])
	d.allow == false
	d.code == "validation_failed"
}

test_response_phase_sanitizes if {
	resp := object.union(call("ansi", {}, ["dev"]), {"response": {"content": [{"type": "text", "text": "\u001b[31mALERT\u001b[0m"}]}})
	d := gatehouse.decision with input as resp
	d.allow
	d.patch.content[0].text == "ALERT"
}

test_response_phase_ignores_request_checks if {
	# A result of a call the request phase would refuse is not re-refused: it was decided already.
	resp := object.union(call("database.backup", {}, ["dev"]), {"response": {"content": []}})
	gatehouse.decision == {"allow": true} with input as resp
}
