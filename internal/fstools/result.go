package fstools

import (
	"encoding/base64"
	"net/url"
)

// result is an MCP CallToolResult (schema 2025-11-25).
type result struct {
	Content           []any `json:"content"`
	StructuredContent any   `json:"structuredContent,omitempty"`
	IsError           bool  `json:"isError,omitempty"`
}

// textContent is a TextContent block. Text has no omitempty: an empty file is "text": "".
type textContent struct {
	Type string `json:"type"` // "text"
	Text string `json:"text"`
}

// imageContent is an ImageContent block.
type imageContent struct {
	Type     string `json:"type"` // "image"
	Data     string `json:"data"` // base64
	MimeType string `json:"mimeType"`
}

// audioContent is an AudioContent block (only served when audio is allowed by configuration).
type audioContent struct {
	Type     string `json:"type"` // "audio"
	Data     string `json:"data"` // base64
	MimeType string `json:"mimeType"`
}

// embeddedResource is an EmbeddedResource block holding BlobResourceContents.
type embeddedResource struct {
	Type     string       `json:"type"` // "resource"
	Resource blobContents `json:"resource"`
}

// blobContents is BlobResourceContents.
type blobContents struct {
	URI      string `json:"uri"`
	MimeType string `json:"mimeType"`
	Blob     string `json:"blob"` // base64
}

func text(s string) textContent { return textContent{Type: "text", Text: s} }

// errorResult is a tool error with one text block.
func errorResult(msg string) *result {
	return &result{Content: []any{text(msg)}, IsError: true}
}

// contentFor returns the content block fs.read answers with for a file of type ft at clean: text
// for text, an image block for images, an audio block for audio, and for everything else (PDF and
// Office documents) an embedded resource with the bytes as a base64 blob and a fs:/// URI naming the
// file inside the engagement.
func contentFor(clean string, ft fileType, data []byte) any {
	switch {
	case ft.textual():
		return text(string(data))
	case ft.class == classImage:
		return imageContent{Type: "image", Data: base64.StdEncoding.EncodeToString(data), MimeType: ft.mime}
	case ft.class == classAudio:
		return audioContent{Type: "audio", Data: base64.StdEncoding.EncodeToString(data), MimeType: ft.mime}
	}
	return embeddedResource{Type: "resource", Resource: blobContents{
		URI:      fileURI(clean),
		MimeType: ft.mime,
		Blob:     base64.StdEncoding.EncodeToString(data),
	}}
}

// fileURI names a file inside the engagement as fs:///<path>, percent-encoded as a URI path.
func fileURI(clean string) string {
	return (&url.URL{Scheme: "fs", Path: "/" + clean}).String()
}
