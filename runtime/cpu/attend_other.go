//go:build !amd64

package cpu

import "math"

// On this architecture attention uses the pure-Go kernels (ops.go).

// attendKernels lists the kernel sets this CPU runs: only the pure-Go one here.
var attendKernels = []kernelSet{kernelsGo}

func scoresF16(s, q []float32, k []uint16, d int) {
	clear(s)
	scoreRows(s, q, k, d, 0)
}

func accumF16(o, p []float32, v []uint16, d int) { accumRows(o, p, v, d, 0) }

func scoresF32(s, q, k []float32, d int) {
	clear(s)
	scoreRows(s, q, k, d, 0)
}

func accumF32(o, p, v []float32, d int) { accumRows(o, p, v, d, 0) }

func kvSoftmax(s []float32, scale float32, m, sum *[quad]float32) [quad]float32 {
	return softmaxRows(s, scale, m, sum)
}

// Dot returns a·b over the len(a) elements of a (b must be at least as long).
func Dot(a, b []float32) float32 { return kvDot(a, b) }

// Axpy adds a·x to y elementwise over the len(y) elements of y (x must be at least as long).
func Axpy(y []float32, a float32, x []float32) { kvAxpy(y, a, x) }

// expSubSumAsm, scaleMaxAsm and swigluAsm have no assembly here: they do no elements.
func expSubSumAsm(_ []float32, _ float32) (int, float32) { return 0, 0 }

func swigluAsm(_, _, _ []float32) int { return 0 }

func scaleMaxAsm(_ []float32, _ float32) (int, float32) { return 0, float32(math.Inf(-1)) }
