package config

import (
	"strings"
	"testing"
)

// A built-in fs upstream whose largest file cannot fit in the message limit once base64-encoded is
// warned about, located at its max_file_mb (or the upstream when the size is a default); one that fits
// is not.
func TestServeWarnsWhenFilesCannotFitInAMessage(t *testing.T) {
	const head = "listen: 127.0.0.1:1\ntenancy: {enabled: true}\npolicy: {rules: rules.yaml}\n"
	for _, c := range []struct {
		name string
		body string
		env  []string
		want []string // substrings of the one warning; none: no warning
	}{
		{name: "defaults fit", body: head + "upstreams:\n  - name: files\n    builtin: fs\n"},
		{name: "37 MiB fits in 50", body: head + "upstreams:\n  - name: files\n    builtin: fs\n    fs: {max_file_mb: 37}\n"},
		{name: "38 MiB does not fit in 50", body: head + "upstreams:\n  - name: files\n    builtin: fs\n    fs:\n      max_file_mb: 38\n",
			want: []string{":8: upstreams[0].fs.max_file_mb: (files): a binary file of 38 MiB", "more than limits.max_message_mb (50 MiB)",
				"payload_too_large", "lower max_file_mb to at most 37, or raise limits.max_message_mb to at least 51"}},
		{name: "the default 10 MiB in 1 MiB messages", body: head + "limits: {max_message_mb: 1}\nupstreams:\n  - name: files\n    builtin: fs\n",
			want: []string{":6: upstreams[0].fs.max_file_mb: (files): a binary file of 10 MiB", "(1 MiB)", "; raise limits.max_message_mb to at least 14"}},
		{name: "MCP_MAX_REQUEST_SIZE_MB", body: head + "upstreams:\n  - name: files\n    builtin: fs\n", env: []string{"MCP_MAX_REQUEST_SIZE_MB=5"},
			want: []string{"upstreams[0].fs.max_file_mb", "of 10 MiB", "(5 MiB)", "lower max_file_mb to at most 3, or raise limits.max_message_mb to at least 14"}},
		{name: "not a builtin", body: head + "limits: {max_message_mb: 1}\nupstreams:\n  - name: web\n    url: http://127.0.0.1:2/mcp\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeServe(t, c.body)
			cfg, src, err := LoadServe(path, c.env)
			if err == nil {
				err = cfg.Validate(src)
			}
			if err != nil {
				t.Fatalf("the configuration is invalid: %v", err)
			}
			var got []string
			for _, p := range cfg.Warnings(src) {
				got = append(got, p.String())
			}
			if c.want == nil {
				if got != nil {
					t.Errorf("warnings %q, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("warnings %q, want one", got)
			}
			if !strings.HasPrefix(got[0], path+":") {
				t.Errorf("warning %q is not located in %s", got[0], path)
			}
			for _, w := range c.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("warning %q lacks %q", got[0], w)
				}
			}
		})
	}
}
