package gatehouse.sanitize_test

import data.gatehouse.sanitize
import data.gatehouse_test.call

result(kind, resp) := object.union(object.union(call("ansi", {}, []), {"kind": kind}), {"response": resp})

test_colours_stripped if {
	d := sanitize.decision with input as result("tools/call", {"content": [{"type": "text", "text": "\u001b[31mALERT\u001b[0m"}]})
	d == {"allow": true, "patch": {"content": [{"type": "text", "text": "ALERT"}]}}
}

test_other_items_and_members_kept if {
	resp := {"content": [
		{"type": "image", "data": "AAAA", "mimeType": "image/png"},
		{"type": "text", "text": "a\u001b[1;32mb\u001b[0m", "annotations": {"priority": 1}},
	]}
	d := sanitize.decision with input as result("tools/call", resp)
	d.patch.content == [
		{"type": "image", "data": "AAAA", "mimeType": "image/png"},
		{"type": "text", "text": "ab", "annotations": {"priority": 1}},
	]
}

test_osc_and_cursor_sequences_stripped if {
	d := sanitize.decision with input as result("tools/call", {"content": [{"type": "text", "text": "\u001b]0;pwned\u0007x\u001b[2Ky\u001bc"}]})
	d.patch.content[0].text == "xy"
}

test_clean_result_untouched if {
	sanitize.decision == {"allow": true} with input as result("tools/call", {"content": [{"type": "text", "text": "plain"}]})
}

test_resource_contents_stripped if {
	d := sanitize.decision with input as result("resources/read", {"contents": [{"uri": "file:///a", "text": "\u001b[31mred\u001b[0m"}]})
	d.patch.contents[0].text == "red"
}
