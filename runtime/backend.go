package runtime

import (
	"github.com/sparkrun/sparkrun/runtime/cpu"
)

// Backend is the op set the forward pass is written against. Activations are row-major
// [n][width] float32 slices for n batch entries. A backend also provides the KV cache (see
// KVCache), which owns the attention op because it owns the key/value layout.
//
// Optional fused ops are separate interfaces that the model discovers by type assertion, so a
// new backend only has to implement this set.
type Backend interface {
	// MatMul computes y[t][r] = dot(w row r, x[t]) for t in [0,n). y: [n][w.Rows], x: [n][w.Cols].
	MatMul(y []float32, w *cpu.Matrix, x []float32, n int)
	// RMSNorm normalizes each row of x ([n][len(w)]) into y and scales it by w. y may alias x.
	RMSNorm(y, x, w []float32, eps float32)
	// Rope rotates each head of each of the n rows of x ([n][heads*headDim]) by that row's
	// table in cs ([n][ropeDim]: pairs of cos, sin as cpu.RopeTable makes them).
	Rope(x []float32, n, headDim int, cs []float32, style RopeStyle)
	// SwiGLU computes y = silu(gate) * up elementwise. All: [n*n_ff].
	SwiGLU(y, gate, up []float32)
	// Add adds x to y elementwise.
	Add(y, x []float32)
	// AddRows adds b to every row of y ([n][len(b)]).
	AddRows(y, b []float32)
	// Embed writes row ids[t] of w into y[t] for every t. y: [len(ids)][w.Cols].
	Embed(y []float32, w *cpu.Matrix, ids []int32) error
}

// cpuBackend runs the ops on the CPU. MatMul and long SwiGLUs are parallel; the other ops cost
// O(n·width) cheap operations against the matmuls' O(n·width²) and run serially.
type cpuBackend struct {
	pool   *cpu.Pool
	swi    struct{ y, gate, up []float32 } // arguments of the SwiGLU in flight
	swiRun func(lo, hi int)                // b.swigluRange, bound once so SwiGLU does not allocate
}

// parallelSwiGLU is the length from which SwiGLU is split over the pool: one exp per element
// makes a prompt's SwiGLU (n·n_ff elements) worth sharing; a single token's is not.
const parallelSwiGLU = 1 << 15

func newCPUBackend(pool *cpu.Pool) *cpuBackend {
	b := &cpuBackend{pool: pool}
	b.swiRun = b.swigluRange
	return b
}

func (b *cpuBackend) MatMul(y []float32, w *cpu.Matrix, x []float32, n int) {
	b.pool.MatMul(y, w, x, n)
}

func (b *cpuBackend) RMSNorm(y, x, w []float32, eps float32) {
	d := len(w)
	for r := 0; r+d <= len(x); r += d {
		cpu.RMSNorm(y[r:r+d], x[r:r+d], w, eps)
	}
}

func (b *cpuBackend) Rope(x []float32, n, headDim int, cs []float32, style RopeStyle) {
	width, ropeDim := len(x)/n, len(cs)/n
	for t := 0; t < n; t++ {
		row, tab := x[t*width:(t+1)*width], cs[t*ropeDim:(t+1)*ropeDim]
		if style == RopeNeox {
			cpu.RopeNeox(row, headDim, tab)
		} else {
			cpu.RopeNorm(row, headDim, tab)
		}
	}
}

func (b *cpuBackend) SwiGLU(y, gate, up []float32) {
	if len(y) < parallelSwiGLU {
		cpu.SwiGLU(y, gate, up)
		return
	}
	b.swi.y, b.swi.gate, b.swi.up = y, gate, up
	b.pool.Parallel(len(y), b.swiRun)
	b.swi.y, b.swi.gate, b.swi.up = nil, nil, nil
}

func (b *cpuBackend) swigluRange(lo, hi int) {
	cpu.SwiGLU(b.swi.y[lo:hi], b.swi.gate[lo:hi], b.swi.up[lo:hi])
}

func (b *cpuBackend) Add(y, x []float32) { cpu.Add(y, x) }

func (b *cpuBackend) AddRows(y, bias []float32) { cpu.AddRows(y, bias) }

func (b *cpuBackend) Embed(y []float32, w *cpu.Matrix, ids []int32) error {
	for t, id := range ids {
		if err := cpu.Embed(y[t*w.Cols:(t+1)*w.Cols], w, id); err != nil {
			return err
		}
	}
	return nil
}
