package runtime

import (
	"unsafe"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/runtime/cpu"
)

// promptRun is the number of entries of one sequence in a batch from which attention runs as
// matrix products: the SIMD matmul kernels then do the O(tokens²) work, and the cost of
// transposing the values is shared by that many queries. Decode steps (one entry per
// sequence) stay on the per-head kernels (cpu.AttendF32/F16).
const promptRun = 8

// maxScores bounds the score matrix of one step (16 MiB of float32); longer prompts are
// processed in parts of fewer query rows.
const maxScores = 1 << 22

// promptPart is the most entries of one part. A part's products cover the keys up to its last
// position only, so splitting a prompt in order into parts skips most of the causally masked
// half of Q·Kᵀ and P·V (at 512 tokens, 8 parts do 56% of the full square) while each part
// still has enough query rows (64·group) for the multi-token kernels.
const promptPart = 64

// denseRows are the cached keys and values of one kv head of one sequence for positions
// [0, n): k32, v32 ([n][head_dim]) in an f32 cache, k16, v16 in an f16 one.
type denseRows struct {
	k32, v32 []float32
	k16, v16 []uint16
}

// promptAttention computes the attention of a prompt chunk (many entries of one sequence) as
// two matrix products per kv head: S = Q·Kᵀ over positions [0, n), a causal softmax per row
// (the entry at position p sees [0, p]), then O = P·V, computed as Oᵀ = Vᵀ·Pᵀ with the
// probabilities as the "weight" matrix. Any cache that keeps a prompt's keys densely (the
// dense cache, the press cache before compression) can use it. Its buffers grow on demand and
// are reused.
type promptAttention struct {
	pool                *cpu.Pool
	nHead, nKV, headDim int
	scale               float32    // 1/sqrt(head_dim)
	maxScores           int        // bound on rows*n per step (maxScores; tests lower it)
	qg                  []float32  // [rows][head_dim] the queries of one kv head's group, gathered
	s                   []float32  // [rows][n] scores, then probabilities
	vt                  []float32  // [head_dim][n] the values, transposed
	y                   []float32  // [head_dim][rows] attention output, transposed
	k, p                cpu.Matrix // the keys and the probabilities as matmul operands
}

func newPromptAttention(c *Config, pool *cpu.Pool, scale float32) promptAttention {
	return promptAttention{pool: pool, nHead: c.NHead, nKV: c.NKVHead, headDim: c.HeadDim, scale: scale, maxScores: maxScores}
}

// attend writes into out the attention of the batch entries idx, all of one sequence, for kv
// head kvh (q, out: [len(batch)][n_head*head_dim], as in KVCache.Attend). rows(n) returns the
// head's cached keys and values of positions [0, n).
func (pa *promptAttention) attend(kvh int, batch []BatchEntry, idx []int, q, out []float32, rows func(n int) denseRows) {
	g := pa.nHead / pa.nKV
	maxPos := 0
	for _, i := range idx {
		maxPos = max(maxPos, batch[i].Pos)
	}
	step := max(1, min(promptPart, pa.maxScores/(g*(maxPos+1)))) // entries per part
	for lo := 0; lo < len(idx); lo += step {
		part := idx[lo:min(lo+step, len(idx))]
		n := 0
		for _, i := range part {
			n = max(n, batch[i].Pos+1)
		}
		pa.attendPart(kvh, batch, part, q, out, rows(n), n)
	}
}

// attendPart is attend for a part of the entries, whose positions are all below n.
func (pa *promptAttention) attendPart(kvh int, batch []BatchEntry, idx []int, q, out []float32, kv denseRows, n int) {
	hd, g := pa.headDim, pa.nHead/pa.nKV
	rows := len(idx) * g // query row r: entry idx[r/g], query head kvh*g + r%g
	pa.qg, pa.s = growF32(pa.qg, rows*hd), growF32(pa.s, rows*n)
	pa.vt, pa.y = growF32(pa.vt, hd*n), growF32(pa.y, hd*rows)
	qg, s, vt, y := pa.qg, pa.s, pa.vt, pa.y

	for r := 0; r < rows; r++ {
		qo := (idx[r/g]*pa.nHead + kvh*g + r%g) * hd
		copy(qg[r*hd:(r+1)*hd], q[qo:qo+hd])
	}
	// S = Q·Kᵀ: the cached keys are the weight matrix.
	if kv.k32 != nil {
		pa.k = cpu.Matrix{Type: ggml.TypeF32, Rows: n, Cols: hd, Data: f32Bytes(kv.k32)}
	} else {
		pa.k = cpu.Matrix{Type: ggml.TypeF16, Rows: n, Cols: hd, Data: u16Bytes(kv.k16)}
	}
	pa.pool.MatMul(s, &pa.k, qg, rows)
	for r := 0; r < rows; r++ {
		row := s[r*n : (r+1)*n]
		seen := batch[idx[r/g]].Pos + 1 // causal: positions [0, pos]
		cpu.ScaledSoftmax(row[:seen], pa.scale)
		clear(row[seen:])
	}
	// Vᵀ, so that each output channel is a dot product of a probability row with a value column.
	for j := 0; j < n; j++ {
		for c := 0; c < hd; c++ {
			if kv.v32 != nil {
				vt[c*n+j] = kv.v32[j*hd+c]
			} else {
				vt[c*n+j] = ggml.FP16ToFP32(kv.v16[j*hd+c])
			}
		}
	}
	pa.p = cpu.Matrix{Type: ggml.TypeF32, Rows: rows, Cols: n, Data: f32Bytes(s)}
	pa.pool.MatMul(y, &pa.p, vt, hd) // y[c][r] = Σ_j P[r][j]·V[j][c]
	for r := 0; r < rows; r++ {
		oo := (idx[r/g]*pa.nHead + kvh*g + r%g) * hd
		for c := 0; c < hd; c++ {
			out[oo+c] = y[c*rows+r]
		}
	}
}

// growF32 returns buf with length n, reallocating only when its capacity is too small.
func growF32(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// f32Bytes views float32 values as their bytes: the layout of a GGUF F32 tensor on the
// little-endian machines this runs on.
func f32Bytes(x []float32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))
}

// u16Bytes views half-precision bit patterns as the bytes of a GGUF F16 tensor.
func u16Bytes(x []uint16) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 2*len(x))
}
