package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sparkrun/sparkrun/runtime/cpu"
)

// TestPromptAttention checks the matrix-product attention of prompt chunks against the
// per-head kernel on random keys, values and queries: GQA group 3, two sequences interleaved,
// positions out of order, and a score bound small enough to force several parts. The f16
// cache's keys meet queries rounded to f16 in the matmul (as llama.cpp does), which moves
// outputs (O(1)) by up to ~1e-3; f32 differs only by summation order (1e-5).
func TestPromptAttention(t *testing.T) {
	c := Config{NLayer: 2, NHead: 6, NKVHead: 2, HeadDim: 16}
	pool := cpu.NewPool(2)
	defer pool.Close()
	r := rand.New(rand.NewPCG(13, 14))
	qDim, kvDim := c.NHead*c.HeadDim, c.NKVHead*c.HeadDim
	for _, typ := range []KVType{KVF32, KVF16} {
		for _, bound := range []int{maxScores, 100} {
			t.Run(fmt.Sprintf("%s/maxScores=%d", typ, bound), func(t *testing.T) {
				d := newDenseCache(&c, typ, 2, 64, pool)
				d.pa.maxScores = bound
				// Sequence 0 holds positions 0..19, sequence 1 positions 0..10, interleaved and
				// out of order within the batch.
				var batch []BatchEntry
				for p := 19; p >= 0; p-- {
					batch = append(batch, BatchEntry{Seq: 0, Pos: p})
					if p <= 10 {
						batch = append(batch, BatchEntry{Seq: 1, Pos: (p * 7) % 11})
					}
				}
				n := len(batch)
				k, v, q := make([]float32, n*kvDim), make([]float32, n*kvDim), make([]float32, n*qDim)
				for _, x := range [][]float32{k, v, q} {
					for i := range x {
						x[i] = float32(r.NormFloat64())
					}
				}
				const layer = 1
				d.Store(layer, batch, k, v)
				got := make([]float32, n*qDim)
				d.Attend(layer, batch, q, got)

				// The per-head kernel, entry by entry.
				want := make([]float32, n*qDim)
				d.single = d.single[:0]
				for i := range batch {
					d.single = append(d.single, i)
				}
				d.job = attendJob{layer: layer, batch: batch, q: q, out: want}
				d.attendRange(0, n*c.NKVHead)

				tol := 1e-5
				if typ == KVF16 {
					tol = 2e-3
				}
				if diff, at := maxDiff(got, want); diff > tol {
					t.Fatalf("entry %d: prompt path differs from the per-head kernel by %.3g > %.3g", at/qDim, diff, tol)
				}
			})
		}
	}
}
