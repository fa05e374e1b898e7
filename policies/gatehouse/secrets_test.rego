package gatehouse.secrets_test

import data.gatehouse.secrets
import data.gatehouse_test.call

refused(args) if secrets.refusal with input as call("echo", args, [])

test_aws_key if refused({"note": "key AKIAIOSFODNN7EXAMPLE here"})

test_private_key_block_nested if {
	refused({"files": [{"body": "-----BEGIN RSA PRIVATE KEY-----\nMIIE..."}]})
	refused({"k": "-----BEGIN OPENSSH PRIVATE KEY-----"})
}

test_jwt if refused({"auth": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"})

test_lookalikes_pass_the_first_look_but_not_the_check if {
	not refused({"max_tokens": 100, "note": "the private beta", "title": "Asia trip"})
}

test_password_like_names if {
	refused({"password": "hunter2"})
	refused({"db": {"DB_Password": "hunter2"}})
	refused({"api-key": "k"})
	refused({"client_secret": "s"})
	refused({"access_token": 12345})
}

test_reason_names_place_not_secret if {
	r := secrets.refusal with input as call("echo", {"db": {"password": "hunter2"}}, [])
	r.reason == "secret_in_arguments: password-like member at db.password"
	not contains(r.reason, "hunter2")
}

test_harmless_arguments_allowed if {
	not refused({"message": "hello", "page_token": "abc", "secretary": "Ann", "password": ""})
	not refused({"n": 1, "list": ["a", "b"], "nested": {"ok": true}})
}

test_prompt_arguments_checked if {
	call_in := object.union(call("", {}, []), {"kind": "prompts/get", "prompt": {"name": "p", "args": {"password": "x"}}})
	secrets.refusal with input as call_in
}
