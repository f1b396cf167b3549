//go:build cgo

package vulkan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/shaders"
)

// upload copies a matrix to the device; it is freed with the test.
func upload(t *testing.T, c *Context, name string, tt ggml.Type, rows, cols int, raw []byte) *Matrix {
	t.Helper()
	m, err := c.UploadMatrix(name, tt, rows, cols, raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// randMatrix returns a random [rows][cols] matrix of type t in ggml layout and its values.
func randMatrix(rng *rand.Rand, t ggml.Type, rows, cols int) ([]byte, []float32) {
	switch t {
	case ggml.TypeF32:
		v := randF32(rng, rows*cols)
		return f32Bytes(v), v
	case ggml.TypeF16:
		return randHalves(rng, rows*cols)
	case ggml.TypeQ8_0:
		return randQ8_0(rng, rows*cols)
	default:
		return randQ4_0(rng, rows*cols)
	}
}

// matvecRef returns y = W x in float64 and, per row, sum_k |W x| for the tolerance.
func matvecRef(w, x []float32, rows, cols int) (y, mag []float64) {
	y, mag = make([]float64, rows), make([]float64, rows)
	for i := 0; i < rows; i++ {
		for k := 0; k < cols; k++ {
			p := float64(w[i*cols+k]) * float64(x[k])
			y[i] += p
			mag[i] += math.Abs(p)
		}
	}
	return y, mag
}

// sumTol is the tolerance for an f32 sum of products whose absolute values add up to mag. The
// longest chain of f32 additions is the shared-memory-free fallback's (one invocation walks a whole
// row of up to 2080 products one by one); rounding errors of random sign grow like the square root
// of the chain, about 46·2^-24·mag ≈ 3e-6·mag here, and the other paths' chains are shorter (a
// subgroup lane adds 32-element blocks, summed first, then up to 3 reduction levels). 5e-5·mag
// keeps a margin of 15 and still fails on a single wrong product, which moves the sum by about
// mag/cols (≥ 4.8e-4·mag for cols ≤ 2080).
func sumTol(mag []float64) []float64 {
	tol := make([]float64, len(mag))
	for i, m := range mag {
		tol[i] = 5e-5*m + 1e-7
	}
	return tol
}

// matvecCounts are the vector counts the matvec tests run: 1 and 2 use the matvec kernel; 3 (a
// partial tile) and 10 (a whole tile and a partial one) the matmul kernel.
var matvecCounts = []int{1, 2, matmulMinTokens, matmulTokens + 2}

// checkMatVecCounts runs MatVec on m for each of counts vectors, all in one submission, and
// compares every output with the float64 reference of w.
func checkMatVecCounts(t *testing.T, c *Context, rng *rand.Rand, what string, m *Matrix, w []float32, counts []int) {
	t.Helper()
	rows, cols := m.Rows, m.Cols
	type job struct {
		n      int
		x      []float32
		xb, yb *Buffer
	}
	jobs := make([]job, len(counts))
	for i, n := range counts {
		x := randF32(rng, n*cols)
		jobs[i] = job{n, x, f32Buffer(t, c, x), newBuf(t, c, 4*uint64(n*rows))}
	}
	run(t, c, func(r *Recorder) error {
		for _, j := range jobs {
			if err := r.MatVec(m, j.xb.All(), j.yb.All(), j.n); err != nil {
				return err
			}
		}
		return nil
	})
	for _, j := range jobs {
		got := readF32(t, j.yb, j.n*rows)
		for v := 0; v < j.n; v++ {
			want, mag := matvecRef(w, j.x[v*cols:], rows, cols)
			checkClose(t, fmt.Sprintf("%s, %d vectors, vector %d", what, j.n, v), got[v*rows:(v+1)*rows], want, sumTol(mag))
		}
	}
}

// TestMatVec checks every weight type against the float64 reference on awkward shapes, through
// both the matvec and the matmul kernel (matvecCounts). Columns that are a multiple of 8 take the
// float types' vector-load path and the others the element path; row counts are not multiples of
// the tiles, and the 1-row Q8_0/Q4_0 matrices and 333x2080 end with a block whose 8-byte read
// window would cross the end of the binding, so their last tile takes the quad path.
func TestMatVec(t *testing.T) {
	type shape struct{ rows, cols int }
	cases := []struct {
		t      ggml.Type
		shapes []shape
	}{
		{ggml.TypeF32, []shape{{1, 1}, {67, 50}, {5, 8}, {333, 1000}, {5, 2049}}},
		{ggml.TypeF16, []shape{{1, 3}, {67, 50}, {7, 8}, {333, 1001}, {70, 1000}, {5, 2049}}},
		{ggml.TypeQ8_0, []shape{{1, 32}, {37, 96}, {333, 2080}}},
		{ggml.TypeQ4_0, []shape{{1, 32}, {37, 96}, {333, 2080}}},
	}
	forEachConfig(t, func(t *testing.T, c *Context) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, tc := range cases {
			for _, s := range tc.shapes {
				raw, w := randMatrix(rng, tc.t, s.rows, s.cols)
				m := upload(t, c, "w", tc.t, s.rows, s.cols, raw)
				checkMatVecCounts(t, c, rng, fmt.Sprintf("%v %dx%d", tc.t, s.rows, s.cols), m, w, matvecCounts)
			}
		}
	})
}

// TestMatVecSplit lowers the binding limit so that matrices are split into several chunks, as
// large output projections are on lavapipe's 128 MiB limit, and checks the result is unchanged.
func TestMatVecSplit(t *testing.T) {
	c := openTest(t, func(o *Options) { o.MaxBindingBytes = 8192 })
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tt := range []ggml.Type{ggml.TypeF32, ggml.TypeF16, ggml.TypeQ8_0, ggml.TypeQ4_0} {
		const rows, cols = 301, 256
		raw, w := randMatrix(rng, tt, rows, cols)
		m := upload(t, c, "w", tt, rows, cols, raw)
		if m.Chunks() < 2 {
			t.Fatalf("%v: %d chunk(s), want a split", tt, m.Chunks())
		}
		// x and y must fit the lowered binding limit too: at most 6 vectors (a partial matmul tile).
		checkMatVecCounts(t, c, rng, fmt.Sprintf("%v split in %d", tt, m.Chunks()), m, w, []int{1, matmulMinTokens, 6})

		ids := []uint32{300, 0, 17, 150, 17}
		ib, ob := newBuf(t, c, 4*uint64(len(ids))), newBuf(t, c, 4*uint64(len(ids)*cols))
		if err := ib.WriteU32(0, ids); err != nil {
			t.Fatal(err)
		}
		run(t, c, func(r *Recorder) error { return r.GetRows(m, ib.All(), ob.All(), len(ids)) })
		checkRows(t, fmt.Sprintf("%v rows split", tt), readF32(t, ob, len(ids)*cols), w, ids, cols)
	}
}

// checkRows compares gathered rows with the table's values exactly: dequantizing is one f32
// product of an f16 scale and a small integer, which is exact.
func checkRows(t *testing.T, what string, got, table []float32, ids []uint32, cols int) {
	t.Helper()
	for j, id := range ids {
		for k := 0; k < cols; k++ {
			if g, w := got[j*cols+k], table[int(id)*cols+k]; g != w {
				t.Fatalf("%s: row %d (id %d) element %d = %g, want %g", what, j, id, k, g, w)
			}
		}
	}
}

// TestGetRows gathers embedding rows from tables of every type.
func TestGetRows(t *testing.T) {
	forEachConfig(t, func(t *testing.T, c *Context) {
		rng := rand.New(rand.NewPCG(5, 6))
		for _, tt := range []ggml.Type{ggml.TypeF32, ggml.TypeF16, ggml.TypeQ8_0, ggml.TypeQ4_0} {
			rows, cols := 71, 160
			if tt == ggml.TypeF32 || tt == ggml.TypeF16 {
				cols = 77
			}
			raw, w := randMatrix(rng, tt, rows, cols)
			m := upload(t, c, "token_embd", tt, rows, cols, raw)
			ids := []uint32{3, 70, 0, 3, 41, 12, 69}
			ib, ob := newBuf(t, c, 4*uint64(len(ids))), newBuf(t, c, 4*uint64(len(ids)*cols))
			if err := ib.WriteU32(0, ids); err != nil {
				t.Fatal(err)
			}
			run(t, c, func(r *Recorder) error { return r.GetRows(m, ib.All(), ob.All(), len(ids)) })
			checkRows(t, tt.String(), readF32(t, ob, len(ids)*cols), w, ids, cols)
		}
	})
}

// TestRMSNorm normalizes several rows of awkward length.
func TestRMSNorm(t *testing.T) {
	forEachConfig(t, func(t *testing.T, c *Context) {
		rng := rand.New(rand.NewPCG(7, 8))
		for _, s := range []struct{ rows, dim int }{{1, 1}, {3, 100}, {2, 4097}} {
			const eps = 1e-5
			x, w := randF32(rng, s.rows*s.dim), randF32(rng, s.dim)
			xb, wb, yb := f32Buffer(t, c, x), f32Buffer(t, c, w), newBuf(t, c, 4*uint64(s.rows*s.dim))
			run(t, c, func(r *Recorder) error { return r.RMSNorm(xb.All(), wb.All(), yb.All(), s.rows, s.dim, eps) })
			want := make([]float64, s.rows*s.dim)
			for i := 0; i < s.rows; i++ {
				ss := 0.0
				for _, v := range x[i*s.dim : (i+1)*s.dim] {
					ss += float64(v) * float64(v)
				}
				inv := 1 / math.Sqrt(ss/float64(s.dim)+eps)
				for k := 0; k < s.dim; k++ {
					want[i*s.dim+k] = float64(x[i*s.dim+k]) * inv * float64(w[k])
				}
			}
			// inversesqrt is within 2 ulp in Vulkan and the sum of squares is an f32 reduction:
			// relative 1e-5 of the output scale bounds both with margin.
			checkClose(t, fmt.Sprintf("rmsnorm %dx%d", s.rows, s.dim), readF32(t, yb, len(want)), want, []float64{1e-5 * maxAbs(want)})
		}
	})
}

// maxAbs returns max |v|.
func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}

// TestSoftmax normalizes rows with a wide range of logits.
func TestSoftmax(t *testing.T) {
	forEachConfig(t, func(t *testing.T, c *Context) {
		rng := rand.New(rand.NewPCG(9, 10))
		for _, s := range []struct{ rows, n int }{{1, 1}, {4, 33}, {2, 3001}} {
			x := randF32(rng, s.rows*s.n)
			for i := range x {
				x[i] *= 20 // logits spanning [-20, 20]: exp overflows without the max shift
			}
			xb := f32Buffer(t, c, x)
			run(t, c, func(r *Recorder) error { return r.Softmax(xb.All(), s.rows, s.n) })
			want := make([]float64, len(x))
			for i := 0; i < s.rows; i++ {
				row, m, sum := x[i*s.n:(i+1)*s.n], math.Inf(-1), 0.0
				for _, v := range row {
					m = math.Max(m, float64(v))
				}
				for _, v := range row {
					sum += math.Exp(float64(v) - m)
				}
				for k, v := range row {
					want[i*s.n+k] = math.Exp(float64(v)-m) / sum
				}
			}
			// exp is within a few ulp and the sum an f32 reduction: relative 1e-5 per element.
			tol := make([]float64, len(want))
			for i, w := range want {
				tol[i] = 1e-5*w + 1e-9
			}
			checkClose(t, fmt.Sprintf("softmax %dx%d", s.rows, s.n), readF32(t, xb, len(want)), want, tol)
		}
	})
}

// TestElementwise checks add and swiglu, including writing the result over an input.
func TestElementwise(t *testing.T) {
	forEachConfig(t, func(t *testing.T, c *Context) {
		rng := rand.New(rand.NewPCG(11, 12))
		for _, n := range []int{1, 127, 5000} {
			a, b := randF32(rng, n), randF32(rng, n)
			for i := range a {
				a[i] *= 8 // gates in [-8, 8] reach both tails of silu
			}
			ab, bb := f32Buffer(t, c, a), f32Buffer(t, c, b)
			ob := newBuf(t, c, 4*uint64(n))
			run(t, c, func(r *Recorder) error {
				if err := r.SwiGLU(ab.All(), bb.All(), ob.All(), n); err != nil {
					return err
				}
				return r.Add(ob.All(), bb.All(), ob.All(), n) // out = swiglu(a, b) + b, in place
			})
			want := make([]float64, n)
			tol := make([]float64, n)
			for i := range want {
				g, u := float64(a[i]), float64(b[i])
				s := g / (1 + math.Exp(-g)) * u
				want[i] = s + u
				// exp within a few ulp, then a division, a product and a sum in f32.
				tol[i] = 1e-6 * (math.Abs(s) + math.Abs(u) + 1)
			}
			checkClose(t, fmt.Sprintf("swiglu+add n=%d", n), readF32(t, ob, n), want, tol)
		}
	})
}

// TestRoPE rotates in normal and NEOX mode, with and without frequency factors, with partial
// rotation (nRot < headDim) and several rows.
func TestRoPE(t *testing.T) {
	cases := []RoPE{
		{HeadDim: 64, NRot: 64, NHeads: 3, Rows: 1, Pos0: 0, Base: 10000},
		{HeadDim: 64, NRot: 64, NHeads: 3, Rows: 2, Pos0: 517, Base: 500000},
		{HeadDim: 80, NRot: 48, NHeads: 5, Rows: 3, Pos0: 31, Base: 10000, NEOX: true},
		{HeadDim: 128, NRot: 128, NHeads: 2, Rows: 1, Pos0: 1000, Base: 1000000, NEOX: true},
	}
	forEachConfig(t, func(t *testing.T, c *Context) {
		rng := rand.New(rand.NewPCG(13, 14))
		for _, p := range cases {
			for _, withFF := range []bool{false, true} {
				x := randF32(rng, p.Rows*p.NHeads*p.HeadDim)
				ff := make([]float32, p.NRot/2)
				for i := range ff {
					ff[i] = 1
					if withFF {
						ff[i] = 1 + 7*rng.Float32()
					}
				}
				xb := f32Buffer(t, c, x)
				var ffs Span
				if withFF {
					ffs = f32Buffer(t, c, ff).All()
				}
				run(t, c, func(r *Recorder) error { return r.RoPE(xb.All(), ffs, p) })
				want, tol := ropeRef(x, ff, p)
				checkClose(t, fmt.Sprintf("rope %+v ff=%v", p, withFF), readF32(t, xb, len(x)), want, tol)
			}
		}
	})
}

// ropeRef rotates x in float64 and returns per-element tolerances: the shader computes the angle
// in f32 (pow within a few ulp, one product), so the angle is off by up to about 1e-6·pos radians
// relative error budget; 2e-6·(pos+1) + 1e-5 covers that plus sin/cos error.
func ropeRef(x, ff []float32, p RoPE) (want, tol []float64) {
	want, tol = make([]float64, len(x)), make([]float64, len(x))
	for i, v := range x {
		want[i] = float64(v)
	}
	half := p.NRot / 2
	for t := 0; t < p.Rows; t++ {
		pos := float64(p.Pos0 + t)
		for h := 0; h < p.NHeads; h++ {
			base := (t*p.NHeads + h) * p.HeadDim
			for i := 0; i < half; i++ {
				theta := pos * math.Pow(float64(p.Base), -2*float64(i)/float64(p.NRot)) / float64(ff[i])
				i0, i1 := base+2*i, base+2*i+1
				if p.NEOX {
					i0, i1 = base+i, base+i+half
				}
				a, b := float64(x[i0]), float64(x[i1])
				want[i0] = a*math.Cos(theta) - b*math.Sin(theta)
				want[i1] = a*math.Sin(theta) + b*math.Cos(theta)
			}
			for k := 0; k < p.HeadDim; k++ {
				tol[base+k] = 2e-6*(pos+1) + 1e-5
			}
		}
	}
	return want, tol
}

// attendSplits are the token splits TestAttend forces on decode: 0 (the device's choice), 1, 2,
// 3 (more than some cases' tiles: empty splits) and more splits than any case has tokens.
var attendSplits = []int{0, 1, 2, 3, 400}

// TestAttend checks causal attention with GQA over f32 and f16 caches: decode (one query) with
// context lengths below, at and above one tile (128 tokens) and a cache larger than the context,
// each under every split count of attendSplits, and prefill (several queries, each seeing one
// more token than the previous), which never splits.
func TestAttend(t *testing.T) {
	cases := []Attention{
		{NHeads: 4, NKV: 4, HeadDim: 64, T: 1, TMax: 1},
		{NHeads: 6, NKV: 2, HeadDim: 48, T: 77, TMax: 100},
		{NHeads: 8, NKV: 2, HeadDim: 128, T: 300, TMax: 301},
		{NHeads: 2, NKV: 1, HeadDim: 256, T: 128, TMax: 130},
		{NHeads: 4, NKV: 2, HeadDim: 32, T: 7, TMax: 9, Queries: 7},
		{NHeads: 3, NKV: 1, HeadDim: 64, T: 140, TMax: 150, Queries: 13},
		// Groups over the workgroup's 4 heads (two workgroups per KV head, the second with 2),
		// and head dims that leave the last value invocation part of its 8 dims (20) or one
		// dim of a pair (7, f16 pairs then straddle words).
		{NHeads: 12, NKV: 2, HeadDim: 20, T: 260, TMax: 261},
		{NHeads: 6, NKV: 1, HeadDim: 7, T: 9, TMax: 11, Queries: 3},
	}
	forEachConfig(t, func(t *testing.T, c *Context) {
		rng := rand.New(rand.NewPCG(15, 16))
		for _, S := range attendSplits {
			c.forceSplits = S
			for _, kv := range []ggml.Type{ggml.TypeF32, ggml.TypeF16} {
				for _, p := range cases {
					if S != 0 && p.Queries > 1 {
						continue // prefill does not split
					}
					p.KV, p.Scale = kv, float32(1/math.Sqrt(float64(p.HeadDim)))
					in := newAttendInput(t, c, rng, p)
					ob := newBuf(t, c, 4*uint64(len(in.q)))
					run(t, c, func(r *Recorder) error { return r.Attend(in.qb.All(), in.kb.All(), in.vb.All(), ob.All(), p) })
					// Outputs are convex combinations of values in [-1, 1]; scores are f32 dots
					// of ≤256 terms and the online rescaling (and the splits' merge) multiplies
					// a few exp factors, so errors stay around 1e-6; 2e-5 leaves margin yet
					// fails on any misplaced token, head or split.
					checkClose(t, fmt.Sprintf("attention S=%d %v %+v", S, kv, p), readF32(t, ob, len(in.want)), in.want, []float64{2e-5})
				}
			}
		}
	})
}

// attendInput is one Attend case on the device with its float64 reference output.
type attendInput struct {
	q, k, v    []float32 // [Queries][NHeads][HeadDim]; [NKV][TMax][HeadDim] twice
	qb, kb, vb *Buffer   // q, k and v on the device (k and v in p.KV)
	want       []float64 // [Queries][NHeads][HeadDim]
}

// newAttendInput uploads random queries, keys and values for p (buffers closed with the test).
func newAttendInput(t *testing.T, c *Context, rng *rand.Rand, p Attention) attendInput {
	t.Helper()
	n := p.NKV * p.TMax * p.HeadDim
	kraw, k := randKV(rng, p.KV, n)
	vraw, v := randKV(rng, p.KV, n)
	q := randF32(rng, max(p.Queries, 1)*p.NHeads*p.HeadDim)
	in := attendInput{q: q, k: k, v: v, qb: f32Buffer(t, c, q), kb: newBuf(t, c, uint64(len(kraw))), vb: newBuf(t, c, uint64(len(vraw)))}
	if err := in.kb.Write(0, kraw); err != nil {
		t.Fatal(err)
	}
	if err := in.vb.Write(0, vraw); err != nil {
		t.Fatal(err)
	}
	in.want = attnRef(q, k, v, p)
	return in
}

// TestAttendSplitScratch records several split decode attentions in one submission, so that
// they share the recorder's scratch: the second needs more partial states than the first (the
// scratch grows while the first's dispatches still bind the old buffer) and the third takes the
// second's output as its query (the merge must finish before the next kernel reads it, and the
// third's split kernel must not overwrite partial states the second's merge still reads). The
// third's reference is computed from the second's device output.
func TestAttendSplitScratch(t *testing.T) {
	c := openTest(t, func(*Options) {})
	c.forceSplits = 3
	rng := rand.New(rand.NewPCG(17, 18))
	ps := []Attention{
		{NHeads: 4, NKV: 2, HeadDim: 16, T: 300, TMax: 300},
		{NHeads: 8, NKV: 2, HeadDim: 64, T: 290, TMax: 300},
		{NHeads: 8, NKV: 4, HeadDim: 64, T: 260, TMax: 260},
	}
	var ins []attendInput
	var outs []*Buffer
	for i := range ps {
		ps[i].KV, ps[i].Scale = ggml.TypeF16, float32(1/math.Sqrt(float64(ps[i].HeadDim)))
		ins = append(ins, newAttendInput(t, c, rng, ps[i]))
		outs = append(outs, newBuf(t, c, 4*uint64(ps[i].NHeads*ps[i].HeadDim)))
	}
	ins[2].qb = outs[1]
	r := beginRecorder(t, c)
	defer r.Close()
	for i, p := range ps {
		if err := r.Attend(ins[i].qb.All(), ins[i].kb.All(), ins[i].vb.All(), outs[i].All(), p); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := r.Dispatches(), 2*len(ps); got != want {
		t.Fatalf("%d dispatches recorded, want %d (a split kernel and a merge per attention)", got, want)
	}
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	ins[2].want = attnRef(readF32(t, outs[1], ps[1].NHeads*ps[1].HeadDim), ins[2].k, ins[2].v, ps[2])
	for i, in := range ins {
		// TestAttend's tolerance.
		checkClose(t, fmt.Sprintf("attention %d of one submission", i), readF32(t, outs[i], len(in.want)), in.want, []float64{2e-5})
	}
	if len(r.parts) != 2 {
		t.Errorf("recorder scratch replaced %d times, want once (the second attention needs more)", len(r.parts)-1)
	}
	// The next recording frees the outgrown scratch: the submission that used it has finished.
	if err := r.Begin(); err != nil {
		t.Fatal(err)
	}
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	if len(r.parts) != 1 {
		t.Errorf("%d scratch buffers after the next Begin, want the current one only", len(r.parts))
	}
}

// randKV returns n random cache values of type kv (f32 or f16) as bytes and values.
func randKV(rng *rand.Rand, kv ggml.Type, n int) ([]byte, []float32) {
	if kv == ggml.TypeF16 {
		raw, v := make([]byte, 2*n), make([]float32, n)
		for i := range v {
			// Values in (-1, 1): a normal half with biased exponent below 15.
			h := uint16(rng.IntN(2))<<15 | uint16(1+rng.IntN(14))<<10 | uint16(rng.IntN(1024))
			binary.LittleEndian.PutUint16(raw[2*i:], h)
			v[i] = halfToFloat(h)
		}
		return raw, v
	}
	v := randF32(rng, n)
	return f32Bytes(v), v
}

// attnRef is causal softmax(q.K^T * scale) V per query and head in float64.
func attnRef(q, k, v []float32, p Attention) []float64 {
	D, nq := p.HeadDim, max(p.Queries, 1)
	out := make([]float64, nq*p.NHeads*D)
	for qh := 0; qh < nq*p.NHeads; qh++ {
		i, h := qh/p.NHeads, qh%p.NHeads
		g := h / (p.NHeads / p.NKV)
		s := make([]float64, p.T-nq+1+i) // tokens query i sees
		m := math.Inf(-1)
		for t := range s {
			for d := 0; d < D; d++ {
				s[t] += float64(q[qh*D+d]) * float64(k[(g*p.TMax+t)*D+d])
			}
			s[t] *= float64(p.Scale)
			m = math.Max(m, s[t])
		}
		sum := 0.0
		for t := range s {
			s[t] = math.Exp(s[t] - m)
			sum += s[t]
		}
		for t := range s {
			for d := 0; d < D; d++ {
				out[qh*D+d] += s[t] / sum * float64(v[(g*p.TMax+t)*D+d])
			}
		}
	}
	return out
}

// TestKVStore writes single tokens and a run of tokens into f32 and f16 caches at scattered
// slots and checks every slot:
// written ones hold the source (f16: within one f16 ulp, since Vulkan lets the device round to
// nearest or toward zero), the others keep their previous contents.
func TestKVStore(t *testing.T) {
	forEachConfig(t, func(t *testing.T, c *Context) {
		rng := rand.New(rand.NewPCG(17, 18))
		for _, kv := range []ggml.Type{ggml.TypeF32, ggml.TypeF16} {
			p := KVStore{NKV: 3, HeadDim: 34, TMax: 9, KV: kv}
			n := p.NKV * p.TMax * p.HeadDim
			elem := 4
			if kv == ggml.TypeF16 {
				elem = 2
			}
			cache := newBuf(t, c, uint64(elem*n))
			if err := cache.Write(0, make([]byte, elem*n)); err != nil {
				t.Fatal(err)
			}
			want := make([]float64, n)
			tol := make([]float64, n)
			for _, w := range []struct{ pos, tokens int }{{0, 1}, {8, 0}, {3, 3}} { // Tokens 0 means 1
				nt := max(w.tokens, 1)
				src := randF32(rng, nt*p.NKV*p.HeadDim)
				sb := f32Buffer(t, c, src)
				p.Pos, p.Tokens = w.pos, w.tokens
				run(t, c, func(r *Recorder) error { return r.KVStore(sb.All(), cache.All(), p) })
				for tok := 0; tok < nt; tok++ {
					for g := 0; g < p.NKV; g++ {
						for d := 0; d < p.HeadDim; d++ {
							i := (g*p.TMax+w.pos+tok)*p.HeadDim + d
							want[i] = float64(src[(tok*p.NKV+g)*p.HeadDim+d])
							if kv == ggml.TypeF16 {
								tol[i] = math.Abs(want[i])/1024 + 1.0/(1<<24) // one f16 ulp
							}
						}
					}
				}
			}
			raw := make([]byte, elem*n)
			if err := cache.Read(0, raw); err != nil {
				t.Fatal(err)
			}
			got := make([]float32, n)
			for i := range got {
				if kv == ggml.TypeF16 {
					got[i] = halfToFloat(binary.LittleEndian.Uint16(raw[2*i:]))
				} else {
					got[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
				}
			}
			checkClose(t, "kv store "+kv.String(), got, want, tol)
		}
	})
}

// TestSharedMemory checks sharedBytes on the attention kernels against their declarations
// counted by hand, that every other embedded module stays within the 16 KiB of shared memory
// every Vulkan device provides (so that Open's check of bigSharedKernels covers them all), that
// DeviceInfo reports the device's limit, and that Open refuses a device with less shared memory than the kernels it would use need, naming
// both numbers, and accepts one with exactly enough.
func TestSharedMemory(t *testing.T) {
	// attn.glsl: qs[256] + ps[128] + red4[128] + big[1024] vec4; SG adds red4Out (a vec4).
	// attn_spark adds rho[256] f32 and scanP[128] u32; SG adds scanTot (a u32).
	const attn, spark = 16 * (256 + 128 + 128 + 1024), 16*(256+128+128+1024) + 4*(256+128)
	want := map[string]uint64{
		"attn_f32": attn, "attn_f32_sg": attn + 16, "attn_f16": attn, "attn_f16_s16": attn,
		"attn_f16_sg": attn + 16, "attn_f16_sg_s16": attn + 16, "attn_spark": spark, "attn_spark_sg": spark + 16 + 4,
	}
	// The compiled modules in the repository (shaders/spv), as embedded.
	files, err := os.ReadDir("../../shaders/spv")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(f.Name(), ".spv")
		code, err := shaders.SPIRV(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sharedBytes(code, wgSize)
		switch w, big := want[name]; {
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case big && got != w:
			t.Errorf("%s: %d bytes of shared memory, counted %d", name, got, w)
		case !big && got > 16<<10:
			t.Errorf("%s: %d bytes of shared memory, over the 16 KiB every device has and not in bigSharedKernels", name, got)
		}
	}
	for name := range want {
		if _, err := shaders.SPIRV(name); err != nil {
			t.Errorf("counted module %s is not embedded: %v", name, err)
		}
	}

	c := openTest(t, func(*Options) {})
	if c.Info.MaxSharedMemory != c.caps.MaxComputeSharedMemory || c.Info.MaxSharedMemory == 0 {
		t.Errorf("DeviceInfo.MaxSharedMemory = %d, device limit %d", c.Info.MaxSharedMemory, c.caps.MaxComputeSharedMemory)
	}
	var need uint64
	for _, k := range bigSharedKernels {
		spv, _, err := c.module(k)
		if err != nil {
			t.Fatal(err)
		}
		need = max(need, want[spv])
	}
	o, err := OptionsFromEnv("auto")
	if err != nil {
		t.Fatal(err)
	}
	o.maxSharedBytes = uint32(need) - 1
	if c, err := Open(o); err == nil {
		c.Close()
		t.Errorf("Open with %d bytes of shared memory succeeded; the kernels need %d", need-1, need)
	} else if msg := err.Error(); !errors.Is(err, ErrNoFit) || !strings.Contains(msg, fmt.Sprint(need)) || !strings.Contains(msg, fmt.Sprint(need-1)) {
		t.Errorf("Open with %d bytes of shared memory: %v; want ErrNoFit naming %d and %d", need-1, err, need, need-1)
	}
	o.maxSharedBytes = uint32(need)
	c2, err := Open(o)
	if err != nil {
		t.Fatalf("Open with exactly the %d bytes of shared memory needed: %v", need, err)
	}
	if err := c2.Close(); err != nil {
		t.Error(err)
	}
}

// TestSharedBytes checks the SPIR-V walk on hand-made modules: arrays sized by constants and by
// the workgroup-size specialization constant, structs, and only Workgroup variables counted;
// and malformed modules, which must return errors.
func TestSharedBytes(t *testing.T) {
	ins := func(op uint32, operands ...uint32) []uint32 {
		return append([]uint32{uint32(len(operands)+1)<<16 | op}, operands...)
	}
	header := []uint32{0x07230203, 0x00010300, 0, 100, 0}
	module := func(body ...[]uint32) []uint32 {
		m := append([]uint32(nil), header...)
		for _, b := range body {
			m = append(m, b...)
		}
		return m
	}
	const storageFunction = 7
	const opTypeRuntimeArray = 29
	// ids: 1 float, 2 vec4, 3 uint, 4 const 10, 5 spec const (SpecId 0, default 64), 6 vec4[10],
	// 7 float[WG], 8 struct{vec4[10], float}, 9..11 pointers, 12..14 variables, 16 float[], 17
	// struct{float[]} (a buffer block: no size, but no shared variable of it either).
	types := [][]uint32{
		ins(opDecorate, 5, decorationSpecID, 0),
		ins(opTypeFloat, 1, 32), ins(opTypeRuntimeArray, 16, 1), ins(opTypeStruct, 17, 16),
		ins(opTypeVector, 2, 1, 4), ins(opTypeInt, 3, 32, 0),
		ins(opConstant, 3, 4, 10), ins(opSpecConstant, 3, 5, 64),
		ins(opTypeArray, 6, 2, 4), ins(opTypeArray, 7, 1, 5), ins(opTypeStruct, 8, 6, 1),
		ins(opTypePointer, 9, storageWorkgroup, 8), ins(opTypePointer, 10, storageWorkgroup, 7),
		ins(opTypePointer, 11, storageFunction, 6),
	}
	good := module(append(types,
		ins(opVariable, 9, 12, storageWorkgroup), ins(opVariable, 10, 13, storageWorkgroup),
		ins(opVariable, 11, 14, storageFunction))...)
	for _, c := range []struct {
		name string
		code []uint32
		wg   uint32
		want uint64 // bytes
		err  bool   // malformed: want an error
	}{
		{"struct and spec-sized array", good, 128, 16*10 + 4 + 4*128, false},
		{"another workgroup size", good, 32, 16*10 + 4 + 4*32, false},
		{"no shared variables", module(types...), 128, 0, false},
		{"header only", header[:4], 128, 0, true},
		{"zero-length instruction", module(types[0], []uint32{0}), 128, 0, true},
		{"instruction past the end", module(types[0], []uint32{5<<16 | opTypeFloat, 1}), 128, 0, true},
		{"array of an unknown length", module(ins(opTypeFloat, 1, 32), ins(opTypeArray, 2, 1, 99),
			ins(opTypePointer, 3, storageWorkgroup, 2), ins(opVariable, 3, 4, storageWorkgroup)), 128, 0, true},
		{"shared runtime array", module(append(types, ins(opTypePointer, 18, storageWorkgroup, 17),
			ins(opVariable, 18, 19, storageWorkgroup))...), 128, 0, true},
		{"variable of an unknown type", module(ins(opTypePointer, 3, storageWorkgroup, 42), ins(opVariable, 3, 4, storageWorkgroup)), 128, 0, true},
	} {
		got, err := sharedBytes(c.code, c.wg)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("%s: sharedBytes = %d, %v; want %d (error: %v)", c.name, got, err, c.want, c.err)
		}
	}
}
