# Secret-bearing arguments. A call whose arguments (at any depth) carry something that looks like a
# credential is refused with reason secret_in_arguments: an agent should never hand a tool a key it
# was not meant to have, and an injected instruction is the usual reason it would. The reason names
# the kind of secret and where it was, never the secret itself.
package gatehouse.secrets

# Values that are secrets wherever they appear.
patterns := {
	"aws_access_key_id": `\b(AKIA|ASIA)[0-9A-Z]{16}\b`,
	"private_key": `-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----`,
	"jwt": `\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}`,
}

# Member names whose value is a secret: password, db_password, api-key, client_secret, access_token...
# (but not page_token or secretary: the name must end in one of these words).
secret_name := `(?i)^(.*[_-])?(password|passwd|passphrase|secret|api[_-]?key|access[_-]?token|refresh[_-]?token|auth[_-]?token|private[_-]?key|secret[_-]?key|credentials?)$`

refusal := scan(input.tool.args) if input.kind == "tools/call"

refusal := scan(input.prompt.args) if input.kind == "prompts/get"

scan(args) := {"allow": false, "code": "policy_deny", "reason": sprintf("secret_in_arguments: %s", [concat(", ", sort(found))])} if {
	not plain(lower(sprintf("%v", [args])))
	found := findings(args)
	count(found) > 0
}

# plain(text) is a cheap first look, so that the common case (arguments without secrets) costs a few
# microseconds: the arguments' text (as Rego prints them), lower-cased, holds none of the literal
# pieces that every match of the exact checks contains (quoting cannot hide them: they are letters,
# digits, "_", "-" and spaces). Only arguments that fail it are walked member by member. The searches
# are written out, not looped over, because each is then one builtin call.
plain(text) if {
	not contains(text, "akia")
	not contains(text, "asia")
	not contains(text, "private")
	not contains(text, "eyj")
	not contains(text, "pass")
	not contains(text, "secret")
	not contains(text, "api")
	not contains(text, "token")
	not contains(text, "credential")
}

findings(args) := {sprintf("%s at %s", [kind, where(path)]) |
	walk(args, [path, value])
	is_string(value)
	some kind, pattern in patterns
	regex.match(pattern, value)
} | {sprintf("password-like member at %s", [where(path)]) |
	walk(args, [path, value])
	count(path) > 0
	name := path[count(path) - 1]
	is_string(name)
	regex.match(secret_name, name)
	has_value(value)
}

has_value(v) if {
	is_string(v)
	v != ""
}

has_value(v) if is_number(v)

where(path) := concat(".", [sprintf("%v", [p]) | some p in path])
