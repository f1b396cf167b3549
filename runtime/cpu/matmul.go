package cpu

import (
	"fmt"

	"github.com/sparkrun/sparkrun/ggml"
)

// Matrix is a weight matrix as stored in GGUF: Rows rows of Cols elements each, every row
// RowBytes(Type, Cols) bytes long and the rows contiguous. Data usually points straight into
// the mapped model file.
type Matrix struct {
	Type       ggml.Type
	Rows, Cols int    // Cols = ne[0] (row length), Rows = ne[1]
	Data       []byte // [Rows][RowBytes(Type, Cols)]
}

// kernel is how one weight type is multiplied: the activation format and the row dot products.
type kernel struct {
	act  actKind
	dot  func(w []byte, x *actRow) float32 // pure Go: the fallback and the oracle
	fast func(w []byte, x *actRow) float32 // assembly for this CPU, nil if none
	// fast4 is assembly that multiplies one weight row by four consecutive activation rows of
	// the scratch at once, reading and unpacking each weight block once; nil if none.
	fast4 func(w []byte, xs []actRow, out *[4]float32)
	// fast42 is assembly for two weight rows by four activation rows (each activation vector
	// loaded once for both rows); nil if none. Only used where fast4 exists.
	fast42 func(w0, w1 []byte, xs []actRow, out *[8]float32)
	// rows8 is assembly for many weight rows by eight activation rows; nil if none.
	rows8 rows8Kernel
	// rows1 is assembly for many weight rows by one activation row, with the arithmetic of
	// fast; nil if none.
	rows1 rows1Kernel
}

// rows1Kernel multiplies nrows weight rows (rowBytes apart in w) by the activation row x,
// writing row r's sum to y[r].
type rows1Kernel func(w []byte, rowBytes, nrows int, x *actRow, y []float32)

// rows8Kernel multiplies nrows weight rows (each rowBytes apart in w, cut to the column tile
// of xs) by eight consecutive activation rows xs (or column-tile views of them), writing the
// sum of row r and token i to y[i*ystride + r], or adding it there when add is set.
type rows8Kernel func(w []byte, rowBytes, nrows int, xs []actRow, y []float32, ystride int, add bool)

// rows8Variant is an assembly kernel for many weight rows by eight activation rows, and
// (rows1, possibly nil) by one.
type rows8Variant struct {
	name      string
	supported bool
	typ       ggml.Type
	rows8     rows8Kernel
	rows1     rows1Kernel
}

// kernels is indexed by ggml.Type; a nil dot means MatMul does not support the type.
var kernels = [...]kernel{
	ggml.TypeF32:    {act: actF32, dot: vecDotF32},
	ggml.TypeF16:    {act: actF16, dot: vecDotF16},
	ggml.TypeBF16:   {act: actBF16, dot: vecDotBF16},
	ggml.TypeQ4_0:   {act: actQ8_0, dot: vecDotQ4_0},
	ggml.TypeQ4_1:   {act: actQ8_1, dot: vecDotQ4_1},
	ggml.TypeQ5_0:   {act: actQ8_0, dot: vecDotQ5_0},
	ggml.TypeQ5_1:   {act: actQ8_1, dot: vecDotQ5_1},
	ggml.TypeQ8_0:   {act: actQ8_0, dot: vecDotQ8_0},
	ggml.TypeIQ4_NL: {act: actQ8_0, dot: vecDotIQ4_NL},
	ggml.TypeQ2_K:   {act: actQ8K, dot: vecDotQ2_K},
	ggml.TypeQ3_K:   {act: actQ8K, dot: vecDotQ3_K},
	ggml.TypeQ4_K:   {act: actQ8K, dot: vecDotQ4_K},
	ggml.TypeQ5_K:   {act: actQ8K, dot: vecDotQ5_K},
	ggml.TypeQ6_K:   {act: actQ8K, dot: vecDotQ6_K},
	ggml.TypeIQ4_XS: {act: actQ8K, dot: vecDotIQ4_XS},
}

// asmVariant is one assembly implementation of a weight type's kernels (see asmVariants in
// the architecture's files).
type asmVariant struct {
	name      string
	supported bool // this CPU has the instructions
	typ       ggml.Type
	fast      func(w []byte, x *actRow) float32
	fast4     func(w []byte, xs []actRow, out *[4]float32)
}

// rowPairVariant is an assembly kernel for two weight rows by four activation rows.
type rowPairVariant struct {
	name      string
	supported bool
	typ       ggml.Type
	fast42    func(w0, w1 []byte, xs []actRow, out *[8]float32)
}

// forceGeneric makes MatMul use the pure-Go kernels even where assembly exists; tests set it
// to compare the two.
var forceGeneric = false

func kernelOf(t ggml.Type) *kernel {
	if int(t) < len(kernels) && kernels[t].dot != nil {
		return &kernels[t]
	}
	return nil
}

// Supported reports whether MatMul can multiply weights of type t.
func Supported(t ggml.Type) bool { return kernelOf(t) != nil }

// Validate checks that MatMul accepts m: a supported type, positive sizes, Cols a whole number
// of blocks, and Data exactly Rows rows long. Loaders call it once per tensor so that a bad
// file is an error there rather than a panic in MatMul.
func (m *Matrix) Validate() error {
	if !Supported(m.Type) {
		return fmt.Errorf("cpu: matrix type %s is not supported", m.Type)
	}
	if m.Rows <= 0 || m.Cols <= 0 {
		return fmt.Errorf("cpu: matrix %dx%d %s has an empty dimension", m.Rows, m.Cols, m.Type)
	}
	rb, err := ggml.RowBytes(m.Type, int64(m.Cols))
	if err != nil {
		return fmt.Errorf("cpu: matrix %dx%d: %w", m.Rows, m.Cols, err)
	}
	if int64(len(m.Data)) != rb*int64(m.Rows) {
		return fmt.Errorf("cpu: matrix %dx%d %s needs %d bytes, has %d", m.Rows, m.Cols, m.Type, rb*int64(m.Rows), len(m.Data))
	}
	return nil
}

// matmulJob is the MatMul in flight, shared with the workers.
type matmulJob struct {
	y        []float32 // [n][Rows]
	x        []float32 // [n][Cols]
	w        *Matrix
	rowBytes int
	n        int
	act      actKind
	dot      func(w []byte, x *actRow) float32
	dot4     func(w []byte, xs []actRow, out *[4]float32)      // nil: use dot for every token
	dot42    func(w0, w1 []byte, xs []actRow, out *[8]float32) // nil: use dot4 for every row
	rows8    rows8Kernel                                       // nil: use dot4 for every four tokens
	rows1    rows1Kernel                                       // nil: use dot for every row
	rows     []actRow                                          // [n] the quantized activations
	chunks   chunker                                           // over weight rows
	out      [][16]float32                                     // [threads] dot4/dot42 results; 64 bytes apart so workers do not share cache lines
	tile     int                                               // columns per dot4 call (Cols when not tiled)
	views    [][8]actRow                                       // [threads] column-tile views of up to eight activation rows
}

// prefillTile is the column tile of the multi-token kernels, in elements of 8-bit activations
// (16-bit float weights take half; F32 is not tiled): four or eight tokens' tile (quants plus
// repeated scales, 2 bytes per column and token) then stays in a 32-48 KiB L1 data cache while
// weight rows stream past. A multiple of 512, so every tile is whole 256-element blocks and
// whole AVX-512 block pairs; faster than 1024 or 4096 on 64-token products of the Llama-3.2-1B
// shapes (2048 and 8192 columns). Tests lower it.
var prefillTile = 2048

// MatMul computes y[t*Rows + r] = dot(W row r, x[t*Cols : (t+1)*Cols]) for t in [0,n).
// y: [n][Rows], x: [n][Cols]. Activations are first quantized to the weight type's dot type
// like ggml (Q8_0, Q8_1, Q8_K, F16 or BF16; F32 weights use x as is), then each chunk of
// weight rows is read from memory once and multiplied by all n activation rows while it is in
// cache (eight or four tokens at a time where an assembly kernel allows). It uses the pool's
// scratch memory, so it does not allocate in steady state. MatMul panics when w fails
// Validate or when x or y are too short: those are programming errors, not input errors.
func (p *Pool) MatMul(y []float32, w *Matrix, x []float32, n int) {
	if err := w.Validate(); err != nil {
		panic(err)
	}
	if n <= 0 {
		return
	}
	if len(x) < n*w.Cols || len(y) < n*w.Rows {
		panic(fmt.Sprintf("cpu: MatMul of %dx%d by %d vectors: x has %d values (need %d), y has %d (need %d)",
			w.Rows, w.Cols, n, len(x), n*w.Cols, len(y), n*w.Rows))
	}
	k := kernelOf(w.Type)
	dot, dot4, dot42, rows8, rows1 := k.dot, k.fast4, k.fast42, k.rows8, k.rows1
	if k.fast != nil && !forceGeneric {
		dot = k.fast
	}
	if forceGeneric {
		rows1 = nil
	}
	if forceGeneric || dot4 == nil {
		dot4, dot42, rows8 = nil, nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	j := &p.mm
	j.y, j.x, j.w, j.n, j.act, j.dot, j.dot4, j.dot42, j.rows8, j.rows1 = y, x, w, n, k.act, dot, dot4, dot42, rows8, rows1
	j.out = grow(j.out, p.threads)
	j.views = grow(j.views, p.threads)
	j.tile = w.Cols
	// F32 rows are not tiled: their kernels then add every token's products in the same order
	// whatever the batch size (see f32Fast4), and F32 weights are rare enough (tiny models,
	// attention over the f32 cache) not to need the cache blocking.
	if dot4 != nil && n >= 4 && k.act != actF32 {
		tile := prefillTile
		if k.act == actF16 || k.act == actBF16 {
			tile /= 2
		}
		j.tile = min(w.Cols, tile)
	}
	j.rowBytes = len(w.Data) / w.Rows
	j.rows = p.scratch.prepare(k.act, x, n, w.Cols)
	if k.act != actF32 {
		p.parallel(n, p.mmQuant)
	}
	// Chunks of rows small enough for a slow thread not to hold the others up and, when
	// several tokens reuse them, for their column tile to stay in L2 (256 KiB); large enough
	// that taking one costs nothing next to computing it.
	chunk := max(4, (w.Rows+8*p.threads-1)/(8*p.threads))
	if dot4 != nil && n >= 4 {
		tileBytes := j.tile / w.Type.BlockSize() * w.Type.TypeSize()
		chunk = max(4, min(chunk, (256<<10)/tileBytes))
	}
	j.chunks.reset(w.Rows, chunk)
	p.parallel(p.threads, p.mmRun)
	j.y, j.x, j.w, j.rows = nil, nil, nil, nil // do not keep the caller's memory alive
}

// quantizeTokens quantizes activation vectors [lo,hi) of the job in flight.
func (p *Pool) quantizeTokens(lo, hi int) {
	j := &p.mm
	cols := j.w.Cols
	for t := lo; t < hi; t++ {
		quantizeAct(j.act, j.x[t*cols:(t+1)*cols], &j.rows[t])
	}
}

// matmulRows takes chunks of weight rows until none is left and multiplies each row by every
// activation vector. With the multi-token kernels the loops are blocked like a GEMM: for each
// column tile, eight (or four) activation rows (their tile: a few KiB) stay in L1 while the
// chunk's weight rows stream past them from L2, so each weight byte comes from memory once and
// each activation byte from L3 once per chunk. For F32 and the 32-element block types with
// AVX-512 kernels, every kernel adds a token's products in the same order, so a token's
// result does not depend on how many tokens share the call (within one column tile; see
// TestMatMulBatchInvariant); the 16-bit float and K-quant kernels differ in rounding. It runs
// once per thread; worker is the thread's index in [0, Threads()).
func (p *Pool) matmulRows(worker, _ int) {
	j := &p.mm
	rb, rows, data := j.rowBytes, j.w.Rows, j.w.Data
	out := (*[4]float32)(j.out[worker][:4])
	for {
		lo, hi, ok := j.chunks.take()
		if !ok {
			return
		}
		t := 0
		if j.dot4 != nil {
			// Column tiles outermost: one tile of all n activation rows stays in L2 while
			// the chunk's weight rows (that tile of them) are reused for every group of tokens.
			for k0 := 0; k0 < j.w.Cols; k0 += j.tile {
				k1 := min(k0+j.tile, j.w.Cols)
				t = 0
				if j.rows8 != nil {
					for ; t+8 <= j.n; t += 8 {
						p.rowsTimesEight(worker, t, lo, hi, k0, k1)
					}
				}
				for ; t+4 <= j.n; t += 4 {
					p.rowsTimesFour(worker, t, lo, hi, k0, k1, out)
				}
			}
		}
		for ; t < j.n; t++ {
			x := &j.rows[t]
			if j.rows1 != nil {
				j.rows1(data[lo*rb:hi*rb], rb, hi-lo, x, j.y[t*rows+lo:t*rows+hi])
				continue
			}
			for r := lo; r < hi; r++ {
				j.y[t*rows+r] = j.dot(data[r*rb:(r+1)*rb], x)
			}
		}
	}
}

// rowsTimesFour multiplies columns [k0,k1) of weight rows [lo,hi) by activation rows
// t..t+3 with the four-token kernel (two rows at a time where a row-pair kernel exists),
// setting y for the first column tile and adding to it for the others.
func (p *Pool) rowsTimesFour(worker, t, lo, hi, k0, k1 int, out *[4]float32) {
	j := &p.mm
	rb, data := j.rowBytes, j.w.Data
	xs := p.tileRows(worker, t, 4, k0, k1)
	bs, ts := j.w.Type.BlockSize(), j.w.Type.TypeSize()
	b0, b1 := k0/bs*ts, k1/bs*ts
	r := lo
	if j.dot42 != nil {
		out8 := (*[8]float32)(j.out[worker][:8])
		for ; r+2 <= hi; r += 2 {
			j.dot42(data[r*rb+b0:r*rb+b1], data[(r+1)*rb+b0:(r+1)*rb+b1], xs, out8)
			for i, v := range out8 {
				p.store(t+i%4, r+i/4, v, k0 == 0)
			}
		}
	}
	for ; r < hi; r++ {
		j.dot4(data[r*rb+b0:r*rb+b1], xs, out)
		for i, v := range out {
			p.store(t+i, r, v, k0 == 0)
		}
	}
}

// rowsTimesEight multiplies columns [k0,k1) of weight rows [lo,hi) by activation rows
// t..t+7 with the eight-token kernel, which loops over the rows itself and sets y for the
// first column tile and adds to it for the others.
func (p *Pool) rowsTimesEight(worker, t, lo, hi, k0, k1 int) {
	j := &p.mm
	xs := p.tileRows(worker, t, 8, k0, k1)
	bs, ts, rb := j.w.Type.BlockSize(), j.w.Type.TypeSize(), j.rowBytes
	b0, b1 := k0/bs*ts, k1/bs*ts
	j.rows8(j.w.Data[lo*rb+b0:(hi-1)*rb+b1], rb, hi-lo, xs, j.y[t*j.w.Rows+lo:], j.w.Rows, k0 != 0)
}

// tileRows returns activation rows t..t+count-1 (count <= 8), cut to columns [k0,k1) in the
// worker's view slots when that is not every column.
func (p *Pool) tileRows(worker, t, count, k0, k1 int) []actRow {
	j := &p.mm
	if k1-k0 == j.w.Cols {
		return j.rows[t : t+count]
	}
	v := j.views[worker][:count]
	for i := range v {
		v[i] = j.rows[t+i].view(k0, k1)
	}
	return v
}

// store sets (first column tile) or adds to y for token t, weight row r.
func (p *Pool) store(t, r int, v float32, first bool) {
	j := &p.mm
	if first {
		j.y[t*j.w.Rows+r] = v
	} else {
		j.y[t*j.w.Rows+r] += v
	}
}
