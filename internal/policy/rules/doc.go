// Package rules is gatehouse's native policy language (SPEC §4): YAML or JSON files of first-match
// rules that a security engineer can read top to bottom and review like code.
//
// A file is loaded once by Load, which validates all of it and reports every problem at once, each
// located as file:line: rule-id: message, so that a broken policy is refused at start-up (or at hot
// reload) instead of silently never matching. Everything a decision needs is compiled at load time:
// globs become small matchers with fast paths, regexes are compiled once (RE2, so matching is linear),
// field paths are split, and rule values are converted, which is what keeps a decision over a hundred
// rules in the low microseconds and free of allocations when no rule matches.
//
// A compiled Policy is a pure decider. Decide maps a policy.Input to a policy.Verdict and does nothing
// else: no I/O, no clock, no state, no logging. Budgets and rate limits are stateful, so a rule only
// reports what it asks for (policy.Budget, policy.Rate) and the budget stage counts it. Purity is what
// makes decisions reproducible from an audit record, testable with golden files, and safe to share
// between goroutines without locks.
//
// Evaluation is first-match, not "deny overrides": rules of the message's phase are tried in file
// order and the first whose every criterion holds decides; when none does, a request gets the file's
// default_effect (keep it deny) and a response passes unchanged. First-match keeps a policy explainable
// (Explain names the one rule that decided and why each earlier rule did not) and lets an author write
// narrow exceptions above broad rules, the way firewall rule sets have long been written. The price is
// that order matters, so Load refuses rules that an earlier catch-all makes unreachable.
//
// Visible answers the list-filtering question of SPEC §3.4 (may this caller ever call this tool?) by
// evaluating the same rules three-valued, with the call's arguments and threat score unknown, so that
// a tool is hidden only when no arguments could get it allowed.
package rules
