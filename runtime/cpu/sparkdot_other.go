//go:build !amd64

package cpu

// maskedScoresAsm has no assembly on this architecture: the Go kernel runs.
func maskedScoresAsm[E uint16 | float32](_ *QuadAttention, _ []float32, _ *MaskedKeys[E], _ *byte) (ok bool, keptUsed, signsUsed int) {
	return false, 0, 0
}

// maskedCPU is the amd64 feature report; no extension applies here.
var maskedCPU struct{ bmi2, vbmi2 bool }
