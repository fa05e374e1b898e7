package gatehouse.roles_test

import data.gatehouse.roles
import data.gatehouse_test.call

test_dev_refused_backup if {
	roles.refusal == {"allow": false, "code": "policy_deny", "reason": "role_mismatch"} with input as call("database.backup", {}, ["dev"])
}

test_admin_may_backup if {
	not roles.refusal with input as call("database.backup", {}, ["admin"])
}

test_any_of_the_roles_will_do if {
	not roles.refusal with input as call("database.backup", {}, ["dev", "admin"])
}

test_agent_roles_count if {
	call_in := json.patch(call("database.backup", {}, []), [{"op": "replace", "path": "/agent/roles", "value": ["admin"]}])
	not roles.refusal with input as call_in
}

test_names_are_exact if {
	roles.refusal.reason == "role_mismatch" with input as call("admin.drop", {}, ["dev"])
	not roles.refusal with input as call("admin.drop2", {}, ["dev"])
	not roles.refusal with input as call("Database.Backup", {}, ["dev"]) # a different tool to the server
}

test_no_roles_refused if {
	roles.refusal.reason == "role_mismatch" with input as call("database.restore", {}, [])
}

test_unlisted_tools_open_by_default if {
	not roles.refusal with input as call("echo", {}, [])
}

test_default_deny_when_configured if {
	roles.refusal.reason == "tool_not_listed" with input as call("echo", {}, ["dev"]) with roles.unlisted_tools_allowed as false
	not roles.refusal with input as call("database.backup", {}, ["admin"]) with roles.unlisted_tools_allowed as false
}

test_other_methods_not_checked if {
	not roles.refusal with input as object.union(call("database.backup", {}, []), {"kind": "tools/list"})
}
