# A policy that uses much of Rego, for FuzzPlanMatchesTopdown: every decision it makes must be the
# same whether OPA's evaluator or gatehouse's plan evaluator makes it.
package gatehouse

import rego.v1

default decision := {"allow": false, "reason": "no rule allowed it"}

decision := {"allow": false, "code": "validation_failed", "reason": concat("; ", sort(problems))} if {
	count(problems) > 0
} else := {"allow": false, "reason": sprintf("denied by %v", [denied_by])} if {
	count(denied_by) > 0
} else := {"allow": true, "patch": patch} if {
	count(patch) > 0
} else := {"allow": true, "reason": sprintf("%s %v %v", [tier, scored, checked])} if {
	input.kind in {"tools/call", "prompts/get", "resources/read", "tools/list"}
}

checked := true if with_check
else := false

roles := {r | some r in input.user.roles} | {r | some r in input.agent.roles}

admin if "admin" in roles

limits := data.limits

problems contains sprintf("%s: %v is out of [%v, %v]", [k, v, lo, hi]) if {
	some k, v in object.get(input, ["tool", "args"], {})
	[lo, hi] := limits[k]
	is_number(v)
	not between(v, lo, hi)
}

problems contains sprintf("%s must not be empty", [k]) if {
	some k, v in object.get(input, ["tool", "args"], {})
	v == ""
}

between(v, lo, hi) if {
	v >= lo
	v <= hi
}

denied_by contains "admin-only" if {
	startswith(input.tool.name, "admin.")
	not admin
}

denied_by contains "deep" if {
	walk(input.tool.args, [path, value])
	count(path) > 3
	value != null
}

denied_by contains "every-number-negative" if {
	nums := [n | some n in input.tool.args; is_number(n)]
	count(nums) > 0
	every n in nums {
		n < 0
	}
}

denied_by contains name if {
	some name in data.blocked
	input.tool.name == name
}

denied_by contains "shouted" if {
	some _, v in input.tool.args
	is_string(v)
	upper(v) == v
	count(v) > 3
	regex.match(`^[A-Z ]+$`, v)
}

patch := {"content": [clean(item) | some item in input.response.content]} if {
	some item in input.response.content
	contains(item.text, "secret")
}

clean(item) := object.union(item, {"text": replace(item.text, "secret", "******")}) if is_string(item.text)
else := item

tier := "gold" if {
	admin
} else := "silver" if {
	count(roles) > 1
} else := "bronze"

scored := x if {
	x := {k: y | some k, n in input.tool.args; is_number(n); y := n * 2}
}

with_check if {
	admin with input.user.roles as ["admin"]
}
