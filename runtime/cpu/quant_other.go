//go:build !amd64

package cpu

// quantQ8Asm and roundF16Asm have no assembly here: they do nothing.
func quantQ8Asm(_ []float32, _ *actRow, _ bool) bool { return false }

func roundF16Asm(_, _ []float32) int { return 0 }
