package pack

// The tables of this file are what Python 3.11.7 answered for the same inputs.

var pythonGlobs = []struct {
	pattern string
	matches []string
}{
	{"*.py", []string{"a.py", "src/a.py"}},
	{"src/*", []string{"src/a.py", "src/"}},
	{"src/**", []string{"src/a.py", "src/"}},
	{"**/*.pem", []string{"x/y/z.pem"}},
	{"a?c", []string{"abc", "a/c"}},
	{"[abc]x", []string{"bx"}},
	{"[!abc]x", []string{"dx", "]x", "!x"}},
	{"[a-c]x", []string{"bx"}},
	{"[]]x", []string{"]x"}},
	{"[!]]x", []string{"bx", "dx", "!x"}},
	{"q[-]z", []string{"q-z"}},
	{"r[a-]s", []string{"r-s", "ras"}},
	{"[", []string{"["}},
	{"a[b", []string{"a[b"}},
	{"[!a-c-e]", []string{"[", "d", "\\", "\n", "é"}},
	{"[a-c-e]", []string{"-", "b"}},
	{"*a*b", []string{"a[b", "a\\b", "a\nb"}},
	{"a\\b", []string{"a\\b"}},
	{"[\\]", []string{"\\"}},
	{"x[&~|]y", []string{"x&y", "x~y", "x|y"}},
	{"**", []string{"a.py", "src/a.py", "src/", "x/y/z.pem", "z.pem", "abc", "a/c", "bx", "dx", "]x", "!x", "q-z", "r-s", "ras", "[", "a[b", "d", "-", "b", "aXbYcZd", "a\\b", "\\", "x&y", "x~y", "x|y", "", "\n", "a\nb", "é"}},
	{"*", []string{"a.py", "src/a.py", "src/", "x/y/z.pem", "z.pem", "abc", "a/c", "bx", "dx", "]x", "!x", "q-z", "r-s", "ras", "[", "a[b", "d", "-", "b", "aXbYcZd", "a\\b", "\\", "x&y", "x~y", "x|y", "", "\n", "a\nb", "é"}},
	{"?", []string{"[", "d", "-", "b", "\\", "\n", "é"}},
	{"a*b*c*d", []string{"aXbYcZd"}},
}

var globPaths = []string{"a.py", "src/a.py", "src/", "x/y/z.pem", "z.pem", "abc", "a/c", "bx", "dx", "]x", "!x", "q-z", "r-s", "ras", "[", "a[b", "d", "-", "b", "aXbYcZd", "a\\b", "\\", "x&y", "x~y", "x|y", "", "\n", "a\nb", "é"}

var pythonFloatRepr = []struct {
	bits uint64
	repr string
}{
	{0x0000000000000000, "0.0"},
	{0x8000000000000000, "-0.0"},
	{0x3ff0000000000000, "1.0"},
	{0x4341c37937e08000, "1e+16"},
	{0x430c6bf526340000, "1000000000000000.0"},
	{0x437b69b4ba630f35, "1.2345678901234568e+17"},
	{0x3f1a36e2eb1c432d, "0.0001"},
	{0x3ee4f8b588e368f1, "1e-05"},
	{0x3fb999999999999a, "0.1"},
	{0x3e8421f5f40d8376, "1.5e-07"},
	{0x4004000000000000, "2.5"},
	{0x7e37e43c8800759c, "1e+300"},
	{0x0000000000000001, "5e-324"},
	{0x7fefffffffffffff, "1.7976931348623157e+308"},
	{0x4059000000000000, "100.0"},
	{0x4480f0cf064dd592, "1e+22"},
	{0x40c81cd6c8b43958, "12345.678"},
}

var pythonInt = []struct {
	in  string
	out string // "" when int() raises
}{
	{"12", "12"},
	{" 7 ", "7"},
	{"1_000", "1000"},
	{"_1", ""},
	{"1__0", ""},
	{"1_", ""},
	{"+3", "3"},
	{"-0", "0"},
	{"١٢", "12"},
	{"𝟎𝟏", "1"},
	{"0x10", ""},
	{"1.0", ""},
	{"", ""},
	{" ", ""},
	{"007", "7"},
	{"\t-5\n", "-5"},
	{" 12 ", "12"},
	{"\u001c9\u001f", ""},
	{"1 2", ""},
}

var pythonRepr = []struct{ in, repr string }{
	{"a", "'a'"},
	{"it's", "\"it's\""},
	{"say \"x\"", "'say \"x\"'"},
	{"both ' and \"", "'both \\' and \"'"},
	{"tab\t", "'tab\\t'"},
	{"nl\n", "'nl\\n'"},
	{"\u0000", "'\\x00'"},
	{"", "'\\x7f'"},
	{"", "'\\x85'"},
	{"é", "'é'"},
	{"​", "'\\u200b'"},
	{"😀", "'😀'"},
	{"퟿", "'\\ud7ff'"},
	{"back\\slash", "'back\\\\slash'"},
	{"\u2028", "'\\u2028'"},
	{" ", "'\\xa0'"},
}

var pythonStripLower = []struct{ in, strip, lower string }{
	{" a ", "a", " a "},
	{"\u001c a\u001f", "a", "\u001c a\u001f"},
	{"　x ", "x", "　x "},
	{"ÀÉ", "ÀÉ", "àé"},
	{"İ", "İ", "i̇"},
	{"Straße", "Straße", "straße"},
	{"ΣΑΣ", "ΣΑΣ", "σας"},
}
