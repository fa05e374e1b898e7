# Role-based tool allow-list. A tool named here may be called only by a caller holding one of its
# roles; anyone else is refused with reason role_mismatch. A tool named nowhere is open to every
# caller, unless unlisted_tools_allowed is false, in which case it is refused with reason
# tool_not_listed (a default-deny allow-list).
package gatehouse.roles

# Tools by exact name: one lookup, whatever the number of entries. (A glob, say "admin.*", would need
# glob.match tried against each pattern on every call; list the tools instead.)
tool_roles := {
	"database.backup": {"admin"},
	"database.restore": {"admin"},
	"admin.drop": {"admin"},
}

unlisted_tools_allowed := true

mismatch := {"allow": false, "code": "policy_deny", "reason": "role_mismatch"}

refusal := mismatch if {
	input.kind == "tools/call"
	roles := tool_roles[input.tool.name]
	not held(roles)
}

refusal := {"allow": false, "code": "policy_deny", "reason": "tool_not_listed"} if {
	not unlisted_tools_allowed
	input.kind == "tools/call"
	not tool_roles[input.tool.name]
}

# held(roles) is true when the caller (the authenticated user, or the agent) holds one of roles.
held(roles) if {
	some role in input.user.roles
	roles[role]
}

held(roles) if {
	some role in input.agent.roles
	roles[role]
}
