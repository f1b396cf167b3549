package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
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
		q := randNormals(r, quad*d)
		s := make([]float32, n*quad)
		out := make([]float32, quad*d)
		for _, path := range attendKernels {
			attendUse = path
			var a QuadAttention
			b.Run(fmt.Sprintf("d%d/%s/scores/spark0.8", d, path), func(b *testing.B) {
				cpuTimed(b, func() {
					a.Start(q, d, 1)
					maskedScores(&a, s, &c.k, nil)
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

// BenchmarkMaskedAttentionDRAM is one thread's decode attention over a cache far larger than the
// CPU's caches, as a long context reads it from DRAM: 16 KV heads of 16384 rows (d 64, f16; 64
// MiB of dense keys and values), dense against SparK records with 80% and 50% of each key's
// channels pruned, per kernel set. The three caches are timed in turns within each of b.N rounds
// and each reports its fastest round in ns per row (<cache>-ns/row, wall time: on a shared
// machine the minimum is the figure least disturbed by the neighbours) and its speed relative to
// dense (<cache>-x, above 1 is faster). Run with -benchtime=Nx.
func BenchmarkMaskedAttentionDRAM(b *testing.B) {
	defer func(use kernelSet) { attendUse = use }(attendUse)
	r := rand.New(rand.NewPCG(3, 4))
	const d, n, heads = 64, 16384, 16
	names := []string{"dense", "spark0.8", "spark0.5"}
	spark := [][]maskedCase[uint16]{make([]maskedCase[uint16], heads), make([]maskedCase[uint16], heads)}
	dense := make([][]uint16, heads)
	for h := range heads {
		spark[0][h] = newSparKCase(r, d, n, d-d*8/10)
		spark[1][h] = newSparKCase(r, d, n, d-d*5/10)
		dense[h] = make([]uint16, n*d)
		for i := range dense[h] {
			dense[h][i], _ = storeElem[uint16](float32(r.NormFloat64()))
		}
	}
	q := randNormals(r, quad*d)
	out := make([]float32, quad*d)
	for _, path := range attendKernels {
		attendUse = path
		b.Run(string(path), func(b *testing.B) {
			var a QuadAttention
			best := make([]time.Duration, len(names))
			for round := range b.N {
				for c := range names {
					start := time.Now()
					for h := range heads {
						if c == 0 {
							AttendF16(out, q, d, dense[h], spark[0][h].v, 0.125)
							continue
						}
						k := &spark[c-1][h]
						a.Start(q, d, 0.125)
						AttendMasked(&a, &k.k, k.v, n)
						a.Finish(out)
					}
					if t := time.Since(start); round == 0 || t < best[c] {
						best[c] = t
					}
				}
			}
			for c, name := range names {
				b.ReportMetric(float64(best[c])/float64(heads*n), name+"-ns/row")
				if c > 0 {
					b.ReportMetric(float64(best[0])/float64(best[c]), name+"-x")
				}
			}
		})
	}
}
