//go:build !linux

package rego

import "time"

// threadCPU is unavailable here: CPU-time percentiles are not reported.
func threadCPU() time.Duration { return 0 }
