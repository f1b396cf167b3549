package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkMaskedAttention compares one KV head's decode attention (four query heads, f16, head
// dim 64 or 128, 4096 rows) over SparK records with 80% of each key's channels pruned against
// the dense kernels on the same rows, per kernel set (generic: the Go kernels; avx2: the AVX2
// masked kernel, which also runs on AVX-512 CPUs without BMI2/VBMI2; avx512): "scores" is the key
// pass alone, "attend" the whole streaming softmax. Each reports CPU time per op besides wall
// time (cpuTimed): the development machines are shared.
func BenchmarkMaskedAttention(b *testing.B) {
	defer func(use kernelSet) { attendUse = use }(attendUse)
	r := rand.New(rand.NewPCG(1, 2))
	const n = 4096
	for _, d := range []int{64, 128} {
		c := newSparKCase(r, d, n, d-int(0.8*float64(d)))
		dense := make([]uint16, n*d)
		for i := range dense {
			dense[i], _ = storeElem[uint16](float32(r.NormFloat64()))
		}
		q := make([]float32, quad*d)
		for i := range q {
			q[i] = float32(r.NormFloat64())
		}
		s := make([]float32, n*quad)
		out := make([]float32, quad*d)
		for _, path := range attendKernels {
			attendUse = path
			var a QuadAttention
			b.Run(fmt.Sprintf("d%d/%s/scores/spark0.8", d, path), func(b *testing.B) {
				cpuTimed(b, func() {
					a.Start(q, d, 1)
					maskedScores(&a, s, &c.k)
				})
			})
			b.Run(fmt.Sprintf("d%d/%s/scores/dense", d, path), func(b *testing.B) {
				cpuTimed(b, func() {
					for r0 := 0; r0 < n; r0 += attendBlock {
						kvScores(s[r0*quad:(r0+attendBlock)*quad], q, dense[r0*d:(r0+attendBlock)*d], d)
					}
				})
			})
			b.Run(fmt.Sprintf("d%d/%s/attend/spark0.8", d, path), func(b *testing.B) {
				cpuTimed(b, func() {
					a.Start(q, d, 0.125)
					AttendMasked(&a, &c.k, c.v, n)
					a.Finish(out)
				})
			})
			b.Run(fmt.Sprintf("d%d/%s/attend/dense", d, path), func(b *testing.B) {
				cpuTimed(b, func() { AttendF16(out, q, d, dense, c.v, 0.125) })
			})
		}
	}
}
