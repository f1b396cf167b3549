package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkAttendF16 is one (token, kv head) task of Llama-3.2-1B decode (32 query heads over
// 8 kv heads: a group of 4, head_dim 64, f16 cache) at 4k and 16k positions of context, with the
// pure-Go and the assembly kernels in one run. Bytes are the K and V rows read.
func BenchmarkAttendF16(b *testing.B) {
	const d, g = 64, 4
	defer func(use kernelSet) { attendUse = use }(attendUse)
	for _, n := range []int{4096, 16384} {
		r := rand.New(rand.NewPCG(9, 10))
		k, v := make([]uint16, n*d), make([]uint16, n*d)
		ToF16(k, randSlice(r, n*d, 1))
		ToF16(v, randSlice(r, n*d, 1))
		q, out := randSlice(r, g*d, 1), make([]float32, g*d)
		for _, path := range attendKernels {
			b.Run(fmt.Sprintf("T=%d/%s", n, path), func(b *testing.B) {
				attendUse = path
				b.SetBytes(int64(2 * 2 * n * d))
				cpuTimed(b, func() { AttendF16(out, q, d, k, v, 0.125) })
			})
		}
	}
}

// BenchmarkLongDecode times the attention of one decode token through every layer of
// Llama-3.2-1B (16 layers, 8 kv heads of 64 dims, 4 query heads each) over an f16 cache of T
// positions, the way the dense cache runs it: per layer, the kv heads in parallel on the pool.
// The cache (128 MiB at 4k, 512 MiB at 16k) is far larger than the caches of the CPU, so this
// measures what a real long-context step pays, unlike BenchmarkAttendF16 whose one head's rows
// stay in cache between iterations. Bytes are the K and V read per token.
func BenchmarkLongDecode(b *testing.B) {
	const layers, nKV, g, d = 16, 8, 4, 64
	defer func(use kernelSet) { attendUse = use }(attendUse)
	pool := NewPool(0)
	defer pool.Close()
	r := rand.New(rand.NewPCG(11, 12))
	pattern := make([]uint16, 1<<16)
	ToF16(pattern, randSlice(r, len(pattern), 1))
	q, out := randSlice(r, layers*nKV*g*d, 1), make([]float32, layers*nKV*g*d)
	for _, n := range []int{4096, 16384} {
		// [layers][nKV][n][d]; the values do not change the work, so a random pattern repeats.
		k, v := make([]uint16, layers*nKV*n*d), make([]uint16, layers*nKV*n*d)
		for i := 0; i < len(k); i += len(pattern) {
			copy(k[i:], pattern)
			copy(v[i:], pattern[len(pattern)/2:])
		}
		for _, path := range attendKernels {
			b.Run(fmt.Sprintf("T=%d/%s", n, path), func(b *testing.B) {
				attendUse = path
				b.SetBytes(int64(2 * 2 * len(k)))
				cpuTimed(b, func() {
					for l := range layers {
						pool.Parallel(nKV, func(lo, hi int) {
							for h := lo; h < hi; h++ {
								i := l*nKV + h
								kv := i * n * d
								AttendF16(out[i*g*d:(i+1)*g*d], q[i*g*d:(i+1)*g*d], d, k[kv:kv+n*d], v[kv:kv+n*d], 0.125)
							}
						})
					}
				})
			})
		}
	}
}

// cpuTimed runs op b.N times and reports, besides the wall time, the process CPU time per op
// (cpu-ns/op, all threads together): on the shared development machines the wall time also
// measures the neighbours, the CPU time mostly the kernels.
func cpuTimed(b *testing.B, op func()) {
	cpu0, ok0 := processCPU()
	for b.Loop() {
		op()
	}
	if cpu1, ok := processCPU(); ok && ok0 {
		b.ReportMetric((cpu1-cpu0)*1e9/float64(b.N), "cpu-ns/op")
	}
}
