package cpu

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// benchTypes are the weight types of the speed targets plus the common K-quants.
var benchTypes = []ggml.Type{
	ggml.TypeF32, ggml.TypeF16, ggml.TypeBF16, ggml.TypeQ8_0, ggml.TypeQ4_0, ggml.TypeQ4_1,
	ggml.TypeQ5_0, ggml.TypeIQ4_NL, ggml.TypeQ2_K, ggml.TypeQ3_K, ggml.TypeQ4_K, ggml.TypeQ5_K,
	ggml.TypeQ6_K, ggml.TypeIQ4_XS,
}

// BenchmarkMatMul measures MatMul on the Llama-3.2-1B projection shapes (2048x2048 for
// attention, 8192x2048 for the FFN) for decoding (n=1) and prefill (n=64) with the pool's
// default thread count. It reports GB/s of weight bytes read (each weight is read once per
// call) and, for n>1, tokens/s through that one matrix; GB/cpu-s is the same per CPU-second
// of the whole process (so about GB/s divided by the threads when the machine is quiet).
func BenchmarkMatMul(b *testing.B) {
	pool := NewPool(0)
	defer pool.Close()
	rng := rand.New(rand.NewSource(1))
	for _, typ := range benchTypes {
		for _, shape := range []struct{ rows, cols int }{{2048, 2048}, {8192, 2048}} {
			w := randMatrix(rng, typ, shape.rows, shape.cols)
			for _, n := range []int{1, 64} {
				b.Run(fmt.Sprintf("%s/%dx%d_n%d", typ, shape.rows, shape.cols, n), func(b *testing.B) {
					x := randVec(rng, n*shape.cols)
					y := make([]float32, n*shape.rows)
					pool.MatMul(y, w, x, n)
					cpu0, cpuOK := processCPU()
					b.ResetTimer()
					for range b.N {
						pool.MatMul(y, w, x, n)
					}
					sec := b.Elapsed().Seconds()
					b.ReportMetric(float64(len(w.Data))*float64(b.N)/sec/1e9, "GB/s")
					if n > 1 {
						b.ReportMetric(float64(n*b.N)/sec, "tok/s")
					}
					if cpu1, ok := processCPU(); ok && cpuOK && cpu1 > cpu0 {
						b.ReportMetric(float64(len(w.Data))*float64(b.N)/(cpu1-cpu0)/1e9, "GB/cpu-s")
					}
				})
			}
		}
	}
}

// BenchmarkMatMulCold measures decoding (n=1) through a rotation of 8192x2048 matrices that
// together hold at least 256 MiB, so that every weight comes from DRAM as in token generation
// (BenchmarkMatMul's single matrix may sit in the last-level cache). Its GB/s is the figure to
// hold against BenchmarkMemBandwidth.
func BenchmarkMatMulCold(b *testing.B) {
	pool := NewPool(0)
	defer pool.Close()
	rng := rand.New(rand.NewSource(1))
	for _, typ := range []ggml.Type{ggml.TypeF16, ggml.TypeBF16, ggml.TypeQ8_0, ggml.TypeQ4_0, ggml.TypeQ5_0, ggml.TypeQ4_K, ggml.TypeQ6_K} {
		b.Run(typ.String(), func(b *testing.B) {
			first := randMatrix(rng, typ, 8192, 2048)
			ws := []*Matrix{first}
			for len(ws)*len(first.Data) < 256<<20 {
				w := *first
				w.Data = append([]byte(nil), first.Data...)
				ws = append(ws, &w)
			}
			x := randVec(rng, 2048)
			y := make([]float32, 8192)
			b.ResetTimer()
			for i := range b.N {
				pool.MatMul(y, ws[i%len(ws)], x, 1)
			}
			b.ReportMetric(float64(len(first.Data))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}

// BenchmarkMemBandwidth measures how fast the pool's threads can stream a buffer much larger
// than the caches: the ceiling for token generation, which reads every weight once per token.
func BenchmarkMemBandwidth(b *testing.B) {
	buf := make([]uint64, 512<<20/8) // 512 MiB, far beyond any last-level cache
	for i := range buf {
		buf[i] = uint64(i)
	}
	dst := make([]uint64, len(buf))
	copy(dst, buf) // fault the pages in before timing
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads%d", threads), func(b *testing.B) {
			pool := NewPool(threads)
			defer pool.Close()
			benchBandwidth(b, pool, buf, dst)
		})
	}
}

func benchBandwidth(b *testing.B, pool *Pool, buf, dst []uint64) {
	sums := make([]uint64, len(buf)/(1<<16)+1) // one slot per 512 KiB piece: no shared writes
	b.Run("read", func(b *testing.B) {
		b.SetBytes(int64(len(buf) * 8))
		for range b.N {
			pool.Parallel(len(sums), func(lo, hi int) {
				for p := lo; p < hi; p++ {
					sums[p] = sumWords(buf[min(p<<16, len(buf)):min((p+1)<<16, len(buf))])
				}
			})
		}
	})
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(int64(len(buf) * 8 * 2)) // read + write
		for range b.N {
			pool.Parallel(len(sums), func(lo, hi int) {
				lo, hi = min(lo<<16, len(buf)), min(hi<<16, len(buf))
				copy(dst[lo:hi], buf[lo:hi])
			})
		}
	})
}

// sumWords reads every word with four independent accumulators, so the loop is limited by
// memory rather than by the add latency.
func sumWords(v []uint64) uint64 {
	var a, b, c, d uint64
	for len(v) >= 4 {
		a += v[0]
		b += v[1]
		c += v[2]
		d += v[3]
		v = v[4:]
	}
	for _, x := range v {
		a += x
	}
	return a + b + c + d
}
