package rules

import "testing"

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		name, glob, s string
		want          bool
	}{
		{"any", "*", "", true},
		{"any crosses dots and slashes", "*", "a.b/c", true},
		{"literal", "db.read", "db.read", true},
		{"literal differs", "db.read", "db.reads", false},
		{"literal case-sensitive", "db.read", "DB.read", false},
		{"prefix", "db.*", "db.read.all", true},
		{"prefix no", "db.*", "dbx.read", false},
		{"prefix empty rest", "db.*", "db.", true},
		{"suffix", "*.delete", "fs.delete", true},
		{"suffix no", "*.delete", "fs.deleted", false},
		{"contains", "*admin*", "x.admin.y", true},
		{"contains no", "*admin*", "x.adm.y", false},
		{"question mark", "fs.?", "fs.a", true},
		{"question mark needs one", "fs.?", "fs.", false},
		{"question mark one rune", "?", "é", true},
		{"class", "v[0-9]", "v7", true},
		{"class no", "v[0-9]", "vx", false},
		{"negated class !", "v[!0-9]", "vx", true},
		{"negated class ^", "v[^0-9]", "v7", false},
		{"class list", "[abc]x", "bx", true},
		{"escaped star", `a\*b`, "a*b", true},
		{"escaped star is literal", `a\*b`, "axb", false},
		{"escaped in class", `[\]]`, "]", true},
		{"general backtracking", "a*b*c", "axxbyybzc", true},
		{"general backtracking no", "a*b*c", "axxbyyb", false},
		{"general star then one", "*.?", "weather.x", true},
		{"general middle", "file:///srv/*/data/*.csv", "file:///srv/a/b/data/x.csv", true},
		{"general middle no", "file:///srv/*/data/*.csv", "file:///srv/a/b/data/x.txt", false},
		{"general class and star", "db.[rw]*", "db.write", true},
		{"general unicode", "caf?*", "café-bar", true},
		{"trailing stars merge", "a**", "abc", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := compileGlob(tt.glob)
			if err != nil {
				t.Fatalf("compileGlob(%q): %v", tt.glob, err)
			}
			if got := g.match(tt.s); got != tt.want {
				t.Errorf("%q matching %q: got %v, want %v", tt.glob, tt.s, got, tt.want)
			}
		})
	}
}

func TestGlobFastPaths(t *testing.T) {
	tests := []struct {
		glob string
		want globKind
	}{
		{"*", globAny},
		{"**", globAny},
		{"db.read", globLiteral},
		{`db\*`, globLiteral},
		{"db.*", globPrefix},
		{"*.read", globSuffix},
		{"*read*", globContains},
		{"db.?", globGeneral},
		{"a*b", globGeneral},
	}
	for _, tt := range tests {
		t.Run(tt.glob, func(t *testing.T) {
			g, err := compileGlob(tt.glob)
			if err != nil {
				t.Fatal(err)
			}
			if g.kind != tt.want {
				t.Errorf("kind of %q: got %d, want %d", tt.glob, g.kind, tt.want)
			}
		})
	}
}

func TestGlobErrors(t *testing.T) {
	tests := []struct{ glob, want string }{
		{"", "empty glob"},
		{"a[b", "unterminated character class ["},
		{"a[]", "empty character class []"},
		{"[z-a]", "bad range z-a in character class"},
		{`a\`, `ends with a lone \`},
		{"a]", `] without [ (write \] for a literal ])`},
		{"[a-", "unterminated character class ["},
	}
	for _, tt := range tests {
		t.Run(tt.glob, func(t *testing.T) {
			_, err := compileGlob(tt.glob)
			if err == nil {
				t.Fatalf("compileGlob(%q): got no error, want %q", tt.glob, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("compileGlob(%q): got %q, want %q", tt.glob, err, tt.want)
			}
		})
	}
}
