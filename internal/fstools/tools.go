package fstools

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// The tool names, as listed in tools/list and called in tools/call.
const (
	ToolRead  = "fs.read"
	ToolWrite = "fs.write"
	ToolList  = "fs.list"
)

// Tool is an MCP tool definition (schema 2025-11-25), ready to be marshalled into a tools/list
// result.
type Tool struct {
	Name         string          `json:"name"`
	Title        string          `json:"title,omitempty"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"inputSchema"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	Annotations  *Annotations    `json:"annotations,omitempty"`
}

// Annotations are MCP tool annotations: hints about a tool's behaviour for clients. They are hints,
// not guarantees, and gatehouse's own policy does not rely on them.
type Annotations struct {
	ReadOnlyHint    bool  `json:"readOnlyHint"`
	DestructiveHint *bool `json:"destructiveHint,omitempty"`
	IdempotentHint  *bool `json:"idempotentHint,omitempty"`
	OpenWorldHint   bool  `json:"openWorldHint"`
}

// pathSchema is the JSON Schema of a path argument.
const pathSchema = `{"type":"string","minLength":1,"maxLength":1024,` +
	`"description":"A path relative to the engagement's workspace, with / between directories, e.g. \"notes/summary.md\". ` +
	`Absolute paths, .. segments, backslashes, ~, $ and backticks are refused."}`

const readInputSchema = `{"type":"object","properties":{"path":` + pathSchema + `},"required":["path"],"additionalProperties":false}`

const writeInputSchema = `{"type":"object","properties":{"path":` + pathSchema + `,` +
	`"content":{"type":"string","description":"The whole new content of the file: text, or base64 when encoding is \"base64\"."},` +
	`"encoding":{"type":"string","enum":["utf-8","base64"],"default":"utf-8","description":"How content is encoded: \"utf-8\" for text (the default), \"base64\" for binary files such as images and PDF."}},` +
	`"required":["path","content"],"additionalProperties":false}`

const writeOutputSchema = `{"type":"object","properties":{` +
	`"path":{"type":"string","description":"The path written, cleaned."},` +
	`"size":{"type":"integer","description":"Bytes written."},` +
	`"mimeType":{"type":"string"},` +
	`"created":{"type":"boolean","description":"Whether the file is new (false: it was replaced)."}},` +
	`"required":["path","size","mimeType","created"]}`

const listInputSchema = `{"type":"object","properties":{"path":{"type":"string","default":".","maxLength":1024,` +
	`"description":"The directory to list, relative to the engagement's workspace; \".\" (the default) is the workspace itself."}},` +
	`"additionalProperties":false}`

const listOutputSchema = `{"type":"object","properties":{` +
	`"path":{"type":"string","description":"The directory listed, cleaned."},` +
	`"entries":{"type":"array","items":{"type":"object","properties":{` +
	`"name":{"type":"string"},` +
	`"type":{"type":"string","enum":["file","dir","symlink","other"]},` +
	`"size":{"type":"integer","description":"Size in bytes, for files only."}},` +
	`"required":["name","type"]}},` +
	`"truncated":{"type":"boolean","description":"Whether the directory has more entries than were listed."}},` +
	`"required":["path","entries","truncated"]}`

// List returns the definitions of fs.read, fs.write and fs.list. The descriptions state the
// configured size limit and the file types allowed. Each call returns new values.
func (t *Tools) List() []Tool {
	yes, no := true, false
	limit := formatBytes(t.maxBytes)
	return []Tool{
		{
			Name:  ToolRead,
			Title: "Read file",
			Description: "Read a file from this engagement's workspace. Text files are returned as text, " +
				"images as image content, PDF and Office documents as base64 embedded resources. " +
				fmt.Sprintf("Allowed types: %s. Files over %s, symbolic links and files whose content does not match their extension are refused.",
					t.allowedExtensions(), limit),
			InputSchema: json.RawMessage(readInputSchema),
			Annotations: &Annotations{ReadOnlyHint: true, OpenWorldHint: false},
		},
		{
			Name:  ToolWrite,
			Title: "Write file",
			Description: "Create or replace a file in this engagement's workspace, creating its directories. " +
				"The write is atomic: the file is either wholly replaced or left as it was. " +
				fmt.Sprintf("Allowed types: %s; the content must match the extension and be at most %s. Use encoding \"base64\" for binary content.",
					t.allowedExtensions(), limit),
			InputSchema:  json.RawMessage(writeInputSchema),
			OutputSchema: json.RawMessage(writeOutputSchema),
			Annotations:  &Annotations{ReadOnlyHint: false, DestructiveHint: &yes, IdempotentHint: &yes, OpenWorldHint: false},
		},
		{
			Name:  ToolList,
			Title: "List directory",
			Description: "List a directory of this engagement's workspace: each entry's name, type " +
				"(file, dir, symlink or other) and, for files, size in bytes. Symbolic links are listed but never followed.",
			InputSchema:  json.RawMessage(listInputSchema),
			OutputSchema: json.RawMessage(listOutputSchema),
			Annotations:  &Annotations{ReadOnlyHint: true, DestructiveHint: &no, OpenWorldHint: false},
		},
	}
}

// allowedExtensions lists the extensions whose types are permitted, e.g. ".txt, .md, .png".
func (t *Tools) allowedExtensions() string {
	var exts []string
	for _, e := range extensionTable {
		if t.permitted(e.mime) {
			exts = append(exts, e.ext)
		}
	}
	if len(exts) == 0 {
		return "none"
	}
	return strings.Join(slices.Compact(exts), ", ")
}

// formatBytes renders a size limit for people: "10 MiB", "1.5 KiB", "100 bytes".
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
