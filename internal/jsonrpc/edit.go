package jsonrpc

// WithParams returns a new frame that is m.Raw with its params replaced by params. The original frame
// is not modified; every other byte is kept as received.
func (m *Message) WithParams(params []byte) []byte {
	return m.splice(m.params, "params", params)
}

// WithResult returns a new frame that is m.Raw with its result replaced by result.
func (m *Message) WithResult(result []byte) []byte {
	return m.splice(m.result, "result", result)
}

func (m *Message) splice(sp span, member string, value []byte) []byte {
	if sp.ok() {
		out := make([]byte, 0, len(m.Raw)-(sp.end-sp.start)+len(value))
		out = append(out, m.Raw[:sp.start]...)
		out = append(out, value...)
		return append(out, m.Raw[sp.end:]...)
	}
	// The member is absent: add it before the closing brace of the envelope.
	end := len(m.Raw) - 1
	for end > 0 && m.Raw[end] != '}' {
		end--
	}
	out := make([]byte, 0, len(m.Raw)+len(member)+len(value)+4)
	out = append(out, m.Raw[:end]...)
	out = append(out, `,"`...)
	out = append(out, member...)
	out = append(out, `":`...)
	out = append(out, value...)
	return append(out, m.Raw[end:]...)
}
