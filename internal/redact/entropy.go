package redact

import "math"

// entropy returns the Shannon entropy, in bits per symbol, of a string of n symbols with the given
// symbol counts.
func entropy(counts []uint16, n int) float64 {
	h := 0.0
	for _, c := range counts {
		if c == 0 {
			continue
		}
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	return h
}
