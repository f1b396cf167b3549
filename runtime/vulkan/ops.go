//go:build cgo

package vulkan

import (
	"fmt"
	"sync"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/runtime/vulkan/vk"
	"github.com/sparkrun/sparkrun/shaders"
)

// This file holds the ops: each checks its operands, then records one dispatch per weight chunk
// (or one in all). Shapes travel as push constants, so one pipeline serves every shape. Operand
// spans are in bytes; f32 activations are little-endian float32.

// bind checks each operand span against the bytes it must hold and returns the bindings.
func (r *Recorder) bind(op string, spans []Span, names []string, need []uint64) ([]vk.BufferRange, error) {
	out := make([]vk.BufferRange, len(spans))
	for i, s := range spans {
		br, err := s.binding(op, names[i], need[i], r.ctx)
		if err != nil {
			return nil, err
		}
		out[i] = br
	}
	return out, nil
}

// binding is the binding of a whole matrix chunk.
func (ch chunk) binding(c *Context) (vk.BufferRange, error) {
	return ch.buf.All().binding("matrix", "chunk", ch.buf.size, c)
}

// groupsFor is the workgroup count covering n invocations.
func groupsFor(n int) uint32 { return uint32((n + wgSize - 1) / wgSize) }

// MatVec records y[j][i] = sum_k W[i][k] * x[j][k] for j < n vectors: x is [n][w.Cols] f32 and
// y is [n][w.Rows] f32. One dispatch per weight chunk; weights dequantize on the fly. Below
// matmulMinTokens vectors the matvec kernel runs once per vector (grid z); from there on the
// matmul kernel computes tiles of matmulTokens vectors, reading each weight once per tile.
func (r *Recorder) MatVec(w *Matrix, x, y Span, n int) error {
	if n <= 0 {
		return fmt.Errorf("vulkan: matvec: %d vectors", n)
	}
	io, err := r.bind("matvec", []Span{x, y}, []string{"x", "y"},
		[]uint64{4 * uint64(n*w.Cols), 4 * uint64(n*w.Rows)})
	if err != nil {
		return err
	}
	kernel, z := "matvec_", n
	if n >= matmulMinTokens && matmulTypes()[w.Type] {
		kernel, z = "matmul_", (n+matmulTokens-1)/matmulTokens
	}
	per := r.ctx.matvecRowsPerGroup()
	for _, ch := range w.chunks {
		wb, err := ch.binding(r.ctx)
		if err != nil {
			return err
		}
		err = r.dispatch(kernel+matrixTypes[w.Type], []vk.BufferRange{wb, io[0], io[1]},
			push(w.Cols, ch.rows, ch.row0, w.Rows, n), uint32((ch.rows+per-1)/per), uint32(z))
		if err != nil {
			return err
		}
	}
	return nil
}

// Tile sizes of the matvec and matmul kernels (NR and NT in shaders/matvec.glsl, which must
// agree). matmulMinTokens was measured on lavapipe: from 3 vectors on, one matmul tile of 4 costs
// less CPU time than 3 matvec passes.
const (
	matvecTileRows = 4 // rows per subgroup (or per invocation without subgroups)
	matmulTokens   = 4 // vectors per matmul tile
	// matmulMinTokens is the vector count from which MatVec uses the matmul kernel.
	matmulMinTokens = 3
)

// matmulTypes reports which weight types have a matmul kernel (an embedded matmul_<type>
// module); MatVec runs the others' matvec kernel once per vector.
var matmulTypes = sync.OnceValue(func() map[ggml.Type]bool {
	has := map[ggml.Type]bool{}
	for t, suffix := range matrixTypes {
		if _, err := shaders.SPIRV("matmul_" + suffix); err == nil {
			has[t] = true
		}
	}
	return has
})

// matvecRowsPerGroup is how many rows one matvec or matmul workgroup computes: a tile per
// subgroup in the subgroup variant (gl_SubgroupSize equals the reported subgroupSize for SPIR-V
// 1.3 modules), a tile per invocation in the other.
func (c *Context) matvecRowsPerGroup() int {
	if c.subgroups {
		return matvecTileRows * wgSize / int(c.caps.SubgroupSize)
	}
	return matvecTileRows * wgSize
}

// GetRows records out[j] = table[ids[j]] dequantized to f32 for j < n: ids is [n] uint32 and out
// is [n][table.Cols] f32. Ids must be below table.Rows (check them on the host); the row of an
// id outside the table is left unwritten.
func (r *Recorder) GetRows(table *Matrix, ids, out Span, n int) error {
	if n <= 0 {
		return fmt.Errorf("vulkan: getrows: %d ids", n)
	}
	io, err := r.bind("getrows", []Span{ids, out}, []string{"ids", "out"},
		[]uint64{4 * uint64(n), 4 * uint64(n*table.Cols)})
	if err != nil {
		return err
	}
	for _, ch := range table.chunks {
		tb, err := ch.binding(r.ctx)
		if err != nil {
			return err
		}
		err = r.dispatch("getrows_"+matrixTypes[table.Type], []vk.BufferRange{tb, io[0], io[1]},
			push(table.Cols, n, ch.row0, ch.rows), groupsFor(n*table.Cols), 1)
		if err != nil {
			return err
		}
	}
	return nil
}

// RMSNorm records y[i] = x[i] / sqrt(mean(x[i]^2) + eps) * w for each of rows rows of dim
// elements: x and y are [rows][dim] f32 (distinct ranges), w is [dim] f32.
func (r *Recorder) RMSNorm(x, w, y Span, rows, dim int, eps float32) error {
	if rows <= 0 || dim <= 0 {
		return fmt.Errorf("vulkan: rmsnorm: shape [%d][%d]", rows, dim)
	}
	b, err := r.bind("rmsnorm", []Span{x, w, y}, []string{"x", "w", "y"},
		[]uint64{4 * uint64(rows*dim), 4 * uint64(dim), 4 * uint64(rows*dim)})
	if err != nil {
		return err
	}
	return r.rowDispatch("rmsnorm", b, push(dim, eps), rows)
}

// Softmax records the softmax of each of rows rows of n f32 elements of x, in place.
func (r *Recorder) Softmax(x Span, rows, n int) error {
	if rows <= 0 || n <= 0 {
		return fmt.Errorf("vulkan: softmax: shape [%d][%d]", rows, n)
	}
	b, err := r.bind("softmax", []Span{x}, []string{"x"}, []uint64{4 * uint64(rows*n)})
	if err != nil {
		return err
	}
	return r.rowDispatch("softmax", b, push(n), rows)
}

// rowDispatch records a one-workgroup-per-row kernel, whose shaders index rows by
// gl_WorkGroupID.x alone.
func (r *Recorder) rowDispatch(name string, b []vk.BufferRange, pc []byte, rows int) error {
	if uint32(rows) > r.ctx.caps.MaxWorkGroupCount[0] {
		return fmt.Errorf("vulkan: %s: %d rows over the device's %d workgroups", name, rows, r.ctx.caps.MaxWorkGroupCount[0])
	}
	return r.dispatch(name, b, pc, uint32(rows), 1)
}

// Add records out = a + b over n f32 elements. out may be the same range as a or b.
func (r *Recorder) Add(a, b, out Span, n int) error { return r.elementwise("add", a, b, out, n) }

// SwiGLU records out = silu(gate) * up over n f32 elements. out may be the same range as gate or
// up.
func (r *Recorder) SwiGLU(gate, up, out Span, n int) error {
	return r.elementwise("swiglu", gate, up, out, n)
}

// elementwise records a two-input elementwise kernel.
func (r *Recorder) elementwise(name string, a, b, out Span, n int) error {
	if n <= 0 {
		return fmt.Errorf("vulkan: %s: %d elements", name, n)
	}
	need := 4 * uint64(n)
	br, err := r.bind(name, []Span{a, b, out}, []string{"a", "b", "out"}, []uint64{need, need, need})
	if err != nil {
		return err
	}
	return r.dispatch(name, br, push(n), groupsFor(n), 1)
}

// RoPE describes a rotary embedding: Rows tokens at positions Pos0, Pos0+1, ... each holding
// NHeads heads of HeadDim f32, of which the first NRot dims rotate.
type RoPE struct {
	HeadDim, NRot, NHeads, Rows, Pos0 int
	Base                              float32 // frequency base (rope theta, e.g. 10000 or 500000)
	NEOX                              bool    // pair i with i+NRot/2 (Qwen2, GPT-NeoX) instead of 2i with 2i+1 (Llama)
}

// RoPE records the rotation of x ([Rows][NHeads][HeadDim] f32) in place. freqFactors, if its Buf
// is set, holds NRot/2 f32 factors dividing each pair's angle (Llama 3.1 rope scaling).
func (r *Recorder) RoPE(x, freqFactors Span, p RoPE) error {
	if p.NRot <= 0 || p.NRot%2 != 0 || p.NRot > p.HeadDim || p.NHeads <= 0 || p.Rows <= 0 || p.Pos0 < 0 {
		return fmt.Errorf("vulkan: rope: invalid parameters %+v", p)
	}
	ff, hasFF := freqFactors, 1
	if ff.Buf == nil {
		ff, hasFF = x, 0 // the shader reads no factors; any valid binding will do
	}
	b, err := r.bind("rope", []Span{x, ff}, []string{"x", "freqFactors"},
		[]uint64{4 * uint64(p.Rows*p.NHeads*p.HeadDim), 2 * uint64(p.NRot) * uint64(hasFF)})
	if err != nil {
		return err
	}
	neox := 0
	if p.NEOX {
		neox = 1
	}
	return r.dispatch("rope", b, push(p.HeadDim, p.NRot, p.NHeads, p.Rows, p.Pos0, p.Base, neox, hasFF),
		groupsFor(p.Rows*p.NHeads*p.NRot/2), 1)
}

// maxHeadDim is the largest head dimension the attention kernel supports (its shared query array).
const maxHeadDim = 256

// Attention describes causal attention of Queries tokens over a KV cache holding T tokens, the
// queries being the last Queries of them (their keys and values already stored).
type Attention struct {
	NHeads  int       // query heads
	NKV     int       // KV heads; NHeads is a multiple (GQA)
	HeadDim int       // at most 256
	T       int       // cached tokens, 1..TMax, including the queries' own
	TMax    int       // cache capacity per KV head
	Queries int       // query tokens, 1..T (0 means 1: decode)
	Scale   float32   // logit scale, usually 1/sqrt(HeadDim)
	KV      ggml.Type // cache element type: TypeF32 or TypeF16
}

// Attend records, for each query token i and head h, out[i][h] = softmax(q[i][h].K[g]^T * Scale)
// V[g] over cache tokens 0..T-Queries+i, with g = h / (NHeads/NKV): q and out are
// [Queries][NHeads][HeadDim] f32, k and v are [NKV][TMax][HeadDim] in p.KV. Decode is Queries = 1;
// prefill stores the prompt's keys and values first (KVStore) and attends with Queries = tokens.
// Decode may split the tokens over more workgroups and merge them (attendSplit: two dispatches);
// prefill has a workgroup per query token already and records one dispatch.
func (r *Recorder) Attend(q, k, v, out Span, p Attention) error {
	elem := map[ggml.Type]uint64{ggml.TypeF32: 4, ggml.TypeF16: 2}[p.KV]
	nq := max(p.Queries, 1)
	switch {
	case elem == 0:
		return fmt.Errorf("vulkan: attention: KV type %v (want f32 or f16)", p.KV)
	case p.NHeads <= 0 || p.NKV <= 0 || p.NHeads%p.NKV != 0:
		return fmt.Errorf("vulkan: attention: %d query heads over %d KV heads", p.NHeads, p.NKV)
	case p.HeadDim <= 0 || p.HeadDim > maxHeadDim:
		return fmt.Errorf("vulkan: attention: head dim %d (supported 1..%d)", p.HeadDim, maxHeadDim)
	case p.T <= 0 || p.T > p.TMax:
		return fmt.Errorf("vulkan: attention: %d tokens in a cache of %d", p.T, p.TMax)
	case nq > p.T:
		return fmt.Errorf("vulkan: attention: %d queries over %d cached tokens", nq, p.T)
	}
	qn := 4 * uint64(nq*p.NHeads*p.HeadDim)
	kvn := elem * uint64(p.NKV*p.TMax*p.HeadDim)
	b, err := r.bind("attention", []Span{q, k, v, out}, []string{"q", "k", "v", "out"}, []uint64{qn, kvn, kvn, qn})
	if err != nil {
		return err
	}
	// One workgroup per KV head, block of up to sparkGroup of its query heads and query token
	// (prefill) or token split (decode).
	G := p.NHeads / p.NKV
	blocks := (G + sparkGroup - 1) / sparkGroup
	kernel, pc := "attn_"+matrixTypes[p.KV], push(p.HeadDim, p.T, p.TMax, G, p.Scale, nq, blocks)
	if nq > 1 {
		return r.dispatch(kernel, b, pc, uint32(p.NKV*blocks), uint32(nq))
	}
	return r.attendSplit(kernel, b, pc, p.NKV*blocks, r.ctx.splitsFor(p.NKV*blocks, p.T), p.NHeads, p.HeadDim)
}

// KVStore describes a write of Tokens tokens' keys or values into a KV cache.
type KVStore struct {
	NKV     int       // KV heads
	HeadDim int       // elements per head (even)
	TMax    int       // cache capacity per KV head
	Pos     int       // slot of the first token
	Tokens  int       // tokens to write, in slots Pos..Pos+Tokens-1 (0 means 1)
	KV      ggml.Type // cache element type: TypeF32 or TypeF16
}

// KVStore records cache[g][Pos+t] = src[t][g] for every token t and KV head g: src is
// [Tokens][NKV][HeadDim] f32 (the K or V projection's output rows), cache is
// [NKV][TMax][HeadDim] in p.KV (f16 values are rounded by the device's f32-to-f16 conversion).
func (r *Recorder) KVStore(src, cache Span, p KVStore) error {
	elem := map[ggml.Type]uint64{ggml.TypeF32: 4, ggml.TypeF16: 2}[p.KV]
	nt := max(p.Tokens, 1)
	switch {
	case elem == 0:
		return fmt.Errorf("vulkan: kv store: cache type %v (want f32 or f16)", p.KV)
	case p.NKV <= 0 || p.HeadDim <= 0 || p.HeadDim%2 != 0:
		return fmt.Errorf("vulkan: kv store: %d heads of dim %d (dim must be even)", p.NKV, p.HeadDim)
	case p.Pos < 0 || p.Pos+nt > p.TMax:
		return fmt.Errorf("vulkan: kv store: slots %d..%d outside a cache of %d", p.Pos, p.Pos+nt-1, p.TMax)
	}
	b, err := r.bind("kv store", []Span{src, cache}, []string{"src", "cache"},
		[]uint64{4 * uint64(nt*p.NKV*p.HeadDim), elem * uint64(p.NKV*p.TMax*p.HeadDim)})
	if err != nil {
		return err
	}
	return r.dispatch("kv_store_"+matrixTypes[p.KV], b, push(p.HeadDim, p.NKV, p.TMax, p.Pos, nt),
		groupsFor(nt*p.NKV*p.HeadDim/2), 1)
}
