# Argument bounds. A tool's numeric arguments must lie within the limits given here; a value outside
# them, or one that is not a number, refuses the call with code validation_failed (HTTP 422 on
# Streamable HTTP), so the client knows to fix its arguments rather than its permissions.
package gatehouse.bounds

# tool -> argument -> {"min": least accepted, "max": greatest accepted}; either may be left out.
# A missing argument is not checked here: that is the tool's input schema's job.
limits := {"temp.convert": {"temp": {"min": -273}}}

refusal := {"allow": false, "code": "validation_failed", "reason": concat("; ", sort(problems))} if {
	input.kind == "tools/call"
	tool_limits := limits[input.tool.name]
	problems := {p |
		some name, bound in tool_limits
		p := violation(name, input.tool.args[name], bound)
	}
	count(problems) > 0
}

violation(name, value, _) := sprintf("%s must be a number", [name]) if not is_number(value)

violation(name, value, bound) := sprintf("%s = %v is below the minimum %v", [name, value, least]) if {
	least := object.get(bound, "min", null)
	is_number(least)
	value < least
}

violation(name, value, bound) := sprintf("%s = %v is above the maximum %v", [name, value, greatest]) if {
	greatest := object.get(bound, "max", null)
	is_number(greatest)
	value > greatest
}
