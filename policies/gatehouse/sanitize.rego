# Output sanitization (post hook). Text that a tool or a resource returns may carry ANSI escape
# sequences: colours are harmless in a terminal, but sequences can also move the cursor, rewrite what
# a human reviewer sees, or set a terminal's title. They are stripped from the text items of
# tools/call and resources/read results with a patch; a result without any is returned untouched.
package gatehouse.sanitize

# CSI sequences (ESC [ or the one-character CSI U+009B, parameters, final byte), OSC sequences
# (ESC ] ... BEL or ESC \), other escapes (ESC, intermediates, final byte: ESC c, ESC ( B), and any
# ESC left over: no escape character survives.
ansi := `(\x1b\[|\x{9b})[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[ -/]*[0-~]|\x1b`

decision := {"allow": true, "patch": {"content": cleaned(input.response.content)}} if {
	input.kind == "tools/call"
	dirty(input.response.content)
} else := {"allow": true, "patch": {"contents": cleaned(input.response.contents)}} if {
	input.kind == "resources/read"
	dirty(input.response.contents)
} else := {"allow": true}

# dirty(items) is true when a text item holds an escape character (ESC, or the one-character CSI):
# a substring search, much cheaper than the regular expression, which runs only when there is
# something to strip.
dirty(items) if {
	some item in items
	contains(item.text, "\u001b")
}

dirty(items) if {
	some item in items
	contains(item.text, "\u009b")
}

cleaned(items) := [clean(item) | some item in items]

clean(item) := object.union(item, {"text": regex.replace(item.text, ansi, "")}) if is_string(item.text)
else := item
