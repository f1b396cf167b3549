//go:build !unix

package cpu

// processCPU is unavailable here: benchmarks report wall-time figures only.
func processCPU() (float64, bool) { return 0, false }
