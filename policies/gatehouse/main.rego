# The starter policy's decision: the rule gatehouse asks for (data.gatehouse.decision, SPEC §5.3).
#
# A request is refused by the first of these that refuses it, in this order: the role-based tool
# allow-list (roles.rego), secrets in arguments (secrets.rego), argument bounds (bounds.rego).
# Anything none of them refuses is allowed. A result (the post hook: input.response is present only
# then) is allowed, with ANSI escape sequences stripped from its text (sanitize.rego).
#
# One else-chain, each refusal read once into a local variable: every rule a decision consults costs
# time, and this chain consults each at most once.
package gatehouse

import data.gatehouse.bounds
import data.gatehouse.roles
import data.gatehouse.sanitize
import data.gatehouse.secrets

decision := sanitize.decision if _ = input.response
else := r if r := roles.refusal
else := r if r := secrets.refusal
else := r if r := bounds.refusal
else := {"allow": true}
