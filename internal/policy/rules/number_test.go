package rules

import "testing"

func TestCompareNumbers(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1", "1", 0},
		{"1", "1.0", 0},
		{"1.0e2", "100", 0},
		{"0", "-0", 0},
		{"0.000", "0e10", 0},
		{"1", "2", -1},
		{"-1", "1", -1},
		{"-2", "-1", -1},
		{"500.0000000000000001", "500", 1},
		{"499.99999999999999999", "500", -1},
		{"-500.0000000000000001", "-500", -1},
		{"0.1", "0.10000000000000001", -1},
		{"1e999", "1e998", 1},
		{"1e-999", "0", 1},
		{"-1e-999", "0", -1},
		{"12345678901234567890", "12345678901234567891", -1},
		{"1e99999999999999999999", "1e99999999999999999999", 0},
		{"100", "1e2", 0},
		{"10", "9.99999999999999999999", 1},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			a, ok := numberFromText(tt.a)
			if !ok {
				t.Fatalf("numberFromText(%q) failed", tt.a)
			}
			b, ok := numberFromText(tt.b)
			if !ok {
				t.Fatalf("numberFromText(%q) failed", tt.b)
			}
			if got := cmpNumber(&a, &b); got != tt.want {
				t.Errorf("cmp(%s, %s): got %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := cmpNumber(&b, &a); got != -tt.want {
				t.Errorf("cmp(%s, %s): got %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestJSONNumberGrammar(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"0", true}, {"-0", true}, {"12", true}, {"1.5", true}, {"1e5", true}, {"1E+5", true}, {"-1.5e-3", true},
		{"", false}, {"-", false}, {"01", false}, {"1.", false}, {".5", false}, {"1e", false}, {"+1", false},
		{" 1", false}, {"1 ", false}, {"0x10", false}, {"Inf", false}, {"NaN", false}, {"1_000", false}, {"1e5.5", false},
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) {
			if _, got := parseDecimal(tt.s); got != tt.want {
				t.Errorf("parseDecimal(%q): got %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}
