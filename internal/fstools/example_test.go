package fstools_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/gatehouse-mcp/gatehouse/internal/fstools"
)

func ExampleValidatePath() {
	for _, p := range []string{"notes/./summary.md", "../secret.txt", "%2e%2e%2fsecret.txt", "．．／secret.txt", "$HOME/x.txt"} {
		clean, err := fstools.ValidatePath(p)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println("ok:", clean)
	}
	// Output:
	// ok: notes/summary.md
	// path "../secret.txt" refused: it contains a ".." segment
	// path "%2e%2e%2fsecret.txt" refused: it contains a ".." segment (after percent-decoding once)
	// path "．．／secret.txt" refused: it contains U+FF0E, which looks like or normalises to "."
	// path "$HOME/x.txt" refused: it contains '$' (variable or command expansion)
}

func ExampleTools_Call() {
	dir, err := os.MkdirTemp("", "fstools-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	tools, err := fstools.New(fstools.Config{Root: dir})
	if err != nil {
		panic(err)
	}
	defer tools.Close()

	ctx := context.Background()
	for _, call := range []struct{ tool, args string }{
		{fstools.ToolWrite, `{"path":"notes/todo.md","content":"- ship it\n"}`},
		{fstools.ToolRead, `{"path":"notes/todo.md"}`},
		{fstools.ToolList, `{"path":"notes"}`},
		{fstools.ToolRead, `{"path":"../other-engagement/secret.txt"}`},
	} {
		result, err := tools.Call(ctx, "acme", call.tool, json.RawMessage(call.args))
		if err != nil {
			panic(err)
		}
		fmt.Println(string(result))
	}
	// Output:
	// {"content":[{"type":"text","text":"created notes/todo.md (10 bytes, text/markdown)"}],"structuredContent":{"path":"notes/todo.md","size":10,"mimeType":"text/markdown","created":true}}
	// {"content":[{"type":"text","text":"- ship it\n"}]}
	// {"content":[{"type":"text","text":"{\"path\":\"notes\",\"entries\":[{\"name\":\"todo.md\",\"type\":\"file\",\"size\":10}],\"truncated\":false}"}],"structuredContent":{"path":"notes","entries":[{"name":"todo.md","type":"file","size":10}],"truncated":false}}
	// {"content":[{"type":"text","text":"fs.read: path \"../other-engagement/secret.txt\" refused: it contains a \"..\" segment"}],"isError":true}
}
