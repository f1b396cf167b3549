package cpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// allTypes is every weight type MatMul supports.
var allTypes = []ggml.Type{
	ggml.TypeF32, ggml.TypeF16, ggml.TypeBF16,
	ggml.TypeQ4_0, ggml.TypeQ4_1, ggml.TypeQ5_0, ggml.TypeQ5_1, ggml.TypeQ8_0, ggml.TypeIQ4_NL,
	ggml.TypeQ2_K, ggml.TypeQ3_K, ggml.TypeQ4_K, ggml.TypeQ5_K, ggml.TypeQ6_K, ggml.TypeIQ4_XS,
}

// halfFields lists the byte offsets of the half-precision scales inside one block of each
// quantized type; everything else in a block is quant bits, where any pattern is valid.
var halfFields = map[ggml.Type][]int{
	ggml.TypeQ4_0: {0}, ggml.TypeQ4_1: {0, 2}, ggml.TypeQ5_0: {0}, ggml.TypeQ5_1: {0, 2},
	ggml.TypeQ8_0: {0}, ggml.TypeIQ4_NL: {0}, ggml.TypeQ2_K: {80, 82}, ggml.TypeQ3_K: {108},
	ggml.TypeQ4_K: {0, 2}, ggml.TypeQ5_K: {0, 2}, ggml.TypeQ6_K: {208}, ggml.TypeIQ4_XS: {0},
}

// randMatrix returns a rows x cols matrix of type t. Float types hold N(0,1) values; block
// types hold random bytes (every quant bit pattern occurs) with random half scales of either
// sign in [-0.1, 0.1], which keeps every value finite.
func randMatrix(rng *rand.Rand, t ggml.Type, rows, cols int) *Matrix {
	rb, err := ggml.RowBytes(t, int64(cols))
	if err != nil {
		panic(err)
	}
	m := &Matrix{Type: t, Rows: rows, Cols: cols, Data: make([]byte, int(rb)*rows)}
	offs, quantized := halfFields[t]
	if !quantized {
		if err := ggml.Quantize(t, randVec(rng, rows*cols), m.Data); err != nil {
			panic(err)
		}
		return m
	}
	rng.Read(m.Data)
	ts := t.TypeSize()
	for b := 0; b < len(m.Data); b += ts {
		for _, o := range offs {
			binary.LittleEndian.PutUint16(m.Data[b+o:], ggml.FP32ToFP16(float32(rng.Float64()*0.2-0.1)))
		}
	}
	return m
}

// randVec returns n values ~N(0,1) with a few large outliers, as real activations have.
func randVec(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
		if rng.Intn(50) == 0 {
			v[i] *= 20
		}
	}
	return v
}

// dequantAct returns the float values an activation row stands for after quantization.
func dequantAct(k actKind, r *actRow, cols int) []float64 {
	out := make([]float64, cols)
	for i := range out {
		switch k {
		case actF32, actF16, actBF16:
			out[i] = float64(r.f[i])
		case actQ8_0, actQ8_1:
			out[i] = float64(r.qs[i]) * float64(r.d[i/32])
		case actQ8K:
			out[i] = float64(r.qs[i]) * float64(r.d[i/256])
		}
	}
	return out
}

// actErrBound is an a-priori bound on |x[i] - dequantized x[i]| from the rounding rule of each
// activation format: half a quant step for the 8-bit formats (the step is amax/127; Q8_0/Q8_1
// also round the stored scale to a half, moving a quant of at most 127 by 127*2^-11 steps), and
// half an ulp of the value for F16 (2^-11 relative, plus the subnormal spacing 2^-25) and BF16
// (2^-8 relative).
func actErrBound(k actKind, x []float32) []float64 {
	out := make([]float64, len(x))
	blockMax := func(i, bs int) float64 {
		var m float64
		for _, v := range x[i/bs*bs : i/bs*bs+bs] {
			m = math.Max(m, math.Abs(float64(v)))
		}
		return m
	}
	for i, v := range x {
		a := math.Abs(float64(v))
		switch k {
		case actF16:
			out[i] = a*0x1p-11 + 0x1p-25
		case actBF16:
			out[i] = a * 0x1p-8
		case actQ8_0, actQ8_1:
			out[i] = blockMax(i, 32) / 127 * (0.5 + 127*0x1p-11) * (1 + 1e-6)
		case actQ8K:
			out[i] = blockMax(i, 256) / 127 * 0.5 * (1 + 1e-6)
		}
	}
	return out
}

func TestMatMul(t *testing.T) {
	pool := NewPool(3)
	defer pool.Close()
	rng := rand.New(rand.NewSource(1))
	// n = 13 runs the eight-token, four-token and one-token kernels in one call.
	rowsList, nList := []int{1, 7, 33, 129}, []int{1, 3, 13, 17}
	if testing.Short() {
		rowsList, nList = []int{7, 33}, []int{1, 13}
	}
	defer func() { forceGeneric = false }()
	for _, generic := range []bool{true, false} {
		forceGeneric = generic
		for _, typ := range allTypes {
			if !generic && kernels[typ].fast == nil {
				continue
			}
			cols := 3 * typ.BlockSize()
			if typ.BlockSize() < 32 {
				cols = 32*3 + 8 // float types take any length
			}
			for _, rows := range rowsList {
				for _, n := range nList {
					t.Run(fmt.Sprintf("%s/%s/%dx%d/n%d", implName(), typ, rows, cols, n), func(t *testing.T) {
						checkMatMul(t, pool, rng, typ, rows, cols, n)
					})
				}
			}
		}
	}
}

// TestMatMulTiled runs the eight- and four-token kernels over several column tiles (a lowered
// prefillTile) whose partial sums are added up, including last tiles with an odd number of
// 32-element blocks (one block alone, where the eight-token kernel's Go tail does all) and
// float rows whose tiles are not a multiple of the vector width.
func TestMatMulTiled(t *testing.T) {
	pool := NewPool(2)
	defer pool.Close()
	rng := rand.New(rand.NewSource(6))
	defer func(saved int) { prefillTile = saved }(prefillTile)
	prefillTile = 512
	for _, typ := range allTypes {
		if kernels[typ].fast4 == nil {
			continue
		}
		colsList := []int{3*512 + 3*32, 512 + 32} // last tile: 3 blocks of 32, or 1
		switch {
		case typ.BlockSize() == 256:
			colsList = []int{3*512 + 256}
		case typ.BlockSize() == 1:
			colsList = []int{3*512 + 104} // 16-bit float tiles are 256 wide: the last one is 104 (F32 is not tiled)
		}
		for _, cols := range colsList {
			t.Run(fmt.Sprintf("%s/%d", typ, cols), func(t *testing.T) {
				checkMatMul(t, pool, rng, typ, 7, cols, 13)
			})
		}
	}
}

func implName() string {
	if forceGeneric {
		return "generic"
	}
	return "fast"
}

// magnitude is sum |w_i * x_i| over a weight row and a quantized activation row: the scale of
// the float32 rounding error of any summation order.
func magnitude(wf []float32, k actKind, x *actRow) float64 {
	var mag float64
	for i, v := range dequantAct(k, x, len(wf)) {
		mag += math.Abs(float64(wf[i]) * v)
	}
	return mag
}

// TestFastMatchesGeneric compares every assembly kernel this CPU can run (not only the ones
// MatMul picks) with its pure-Go oracle on rows of awkward lengths: odd block counts exercise
// the unrolled loops' exits and the AVX-512 pair kernels' odd tails; float types get tails
// that are not a multiple of 8.
func TestFastMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	for _, v := range asmVariants {
		if !v.supported {
			continue
		}
		typ := v.typ
		k := &kernels[typ]
		bs := max(typ.BlockSize(), 1)
		for _, blocks := range []int{1, 2, 3, 7, 64, 129} {
			cols := blocks * bs
			if bs == 1 {
				cols = blocks*8 + blocks%8
			}
			t.Run(fmt.Sprintf("%s/%s/%d", v.name, typ, cols), func(t *testing.T) {
				w := randMatrix(rng, typ, 1, cols)
				wf := make([]float32, cols)
				if err := ggml.Dequantize(typ, w.Data, wf); err != nil {
					t.Fatal(err)
				}
				var s scratch
				x := randVec(rng, 4*cols)
				rows := s.prepare(k.act, x, 4, cols)
				for i := range rows {
					quantizeAct(k.act, x[i*cols:(i+1)*cols], &rows[i])
				}
				var out [4]float32
				if v.fast4 != nil {
					v.fast4(w.Data, rows, &out)
				}
				for i := range rows {
					want := k.dot(w.Data, &rows[i])
					// Same products summed in another order: float32 rounding, as in TestMatMul.
					tol := 1e-5*magnitude(wf, k.act, &rows[i]) + 1e-30
					if got := v.fast(w.Data, &rows[i]); math.Abs(float64(got-want)) > tol {
						t.Fatalf("token %d: fast %g, generic %g (diff %g > %g)", i, got, want, got-want, tol)
					}
					if v.fast4 != nil && math.Abs(float64(out[i]-want)) > tol {
						t.Fatalf("four-token kernel, token %d: %g, generic %g (diff %g > %g)", i, out[i], want, out[i]-want, tol)
					}
				}
			})
		}
	}
}

// checkMatMul compares MatMul with two references: the float64 dot of the dequantized weights
// with the quantized-then-dequantized activations (which the kernel computes up to float32
// summation order), and the exact product with the unrounded activations (which differs by at
// most the activation rounding error bound, weighted by |w|).
func checkMatMul(t *testing.T, pool *Pool, rng *rand.Rand, typ ggml.Type, rows, cols, n int) {
	w := randMatrix(rng, typ, rows, cols)
	x := randVec(rng, n*cols)
	y := make([]float32, n*rows)
	pool.MatMul(y, w, x, n)

	wf := make([]float32, rows*cols)
	if err := ggml.Dequantize(typ, w.Data, wf); err != nil {
		t.Fatal(err)
	}
	k := kernelOf(typ)
	var s scratch
	acts := s.prepare(k.act, x, n, cols)
	for tok := range n {
		xt := x[tok*cols : (tok+1)*cols]
		quantizeAct(k.act, xt, &acts[tok])
		xq := dequantAct(k.act, &acts[tok], cols)
		bound := actErrBound(k.act, xt)
		for r := range rows {
			var ref, exact, mag, qerr float64
			for i := range cols {
				wv := float64(wf[r*cols+i])
				ref += wv * xq[i]
				exact += wv * float64(xt[i])
				mag += math.Abs(wv * xq[i])
				qerr += math.Abs(wv) * bound[i]
			}
			corr := q81Correction(w, r, &acts[tok], k.act)
			ref += corr
			got := float64(y[tok*rows+r])
			// float32 accumulation: one rounding per block product and per running sum, each at
			// most 2^-24 relative to the magnitude sum; 1e-5 leaves room for ~160 of them.
			if tol := 1e-5*mag + 1e-30; math.Abs(got-ref) > tol {
				t.Fatalf("token %d row %d: got %g, reference %g (diff %g > %g)", tok, r, got, ref, got-ref, tol)
			}
			if tol := qerr + math.Abs(corr) + 1e-5*mag + 1e-30; math.Abs(got-exact) > tol {
				t.Fatalf("token %d row %d: got %g, exact %g (diff %g > activation rounding bound %g)", tok, r, got, exact, got-exact, tol)
			}
		}
	}
}

// q81Correction is what ggml's Q4_1/Q5_1 dot adds beyond the dequantized product: the weight
// minimum of each block multiplies Q8_1's stored s, which is d*sum(quants) rounded to a half,
// not the exact sum of the dequantized activations.
func q81Correction(w *Matrix, row int, x *actRow, k actKind) float64 {
	if k != actQ8_1 {
		return 0
	}
	ts := w.Type.TypeSize()
	wr := w.Data[row*len(w.Data)/w.Rows:]
	var c float64
	for b := range w.Cols / 32 {
		var sum int
		for _, q := range x.qs[b*32 : b*32+32] {
			sum += int(q)
		}
		m := float64(half(wr[b*ts+2:]))
		c += m * (float64(x.s[b]) - float64(x.d[b])*float64(sum))
	}
	return c
}

// TestRowPairMatchesGeneric compares the two-row, four-token kernels (F16, BF16 and F32) with
// the pure-Go oracle on row lengths with and without a tail past the last 16 elements.
func TestRowPairMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, v := range rowPairVariants {
		if !v.supported {
			continue
		}
		k := &kernels[v.typ]
		for _, cols := range []int{16, 40, 1024, 1031} {
			t.Run(fmt.Sprintf("%s/%s/%d", v.name, v.typ, cols), func(t *testing.T) {
				w := randMatrix(rng, v.typ, 2, cols)
				wf := make([]float32, 2*cols)
				if err := ggml.Dequantize(v.typ, w.Data, wf); err != nil {
					t.Fatal(err)
				}
				var s scratch
				x := randVec(rng, 4*cols)
				rows := s.prepare(k.act, x, 4, cols)
				for i := range rows {
					quantizeAct(k.act, x[i*cols:(i+1)*cols], &rows[i])
				}
				var out [8]float32
				w0, w1 := w.Data[:len(w.Data)/2], w.Data[len(w.Data)/2:]
				v.fast42(w0, w1, rows, &out)
				for i, got := range out {
					wr, wfr := w0, wf[:cols]
					if i >= 4 {
						wr, wfr = w1, wf[cols:]
					}
					want := k.dot(wr, &rows[i%4])
					// Same products summed in another order, as in TestMatMul.
					if tol := 1e-5*magnitude(wfr, k.act, &rows[i%4]) + 1e-30; math.Abs(float64(got-want)) > tol {
						t.Fatalf("row %d token %d: %g, generic %g (diff %g > %g)", i/4, i%4, got, want, got-want, tol)
					}
				}
			})
		}
	}
}

// TestRows8MatchesGeneric compares the eight-token, many-row kernels with the pure-Go oracle
// (and the one-token, many-row kernels with the one-row kernels, bit for bit),
// storing and adding into an output whose token stride is not the row count, on odd and even
// row counts and on rows of one block (the Go tail alone), an odd block count and a long row
// (float rows: with and without a tail past the last 16 columns).
func TestRows8MatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	for _, v := range rows8Variants {
		if !v.supported {
			continue
		}
		k := &kernels[v.typ]
		sizes := []struct{ rows, cols int }{{1, 32}, {5, 96}, {11, 2144}} // 32-element blocks
		if v.typ.BlockSize() == 1 {                                       // float rows: a tail past the last 16 columns, or only a tail
			sizes = []struct{ rows, cols int }{{1, 16}, {2, 7}, {5, 40}, {12, 1031}}
		}
		for _, c := range sizes {
			for _, add := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/%dx%d/add=%v", v.name, v.typ, c.rows, c.cols, add), func(t *testing.T) {
					w := randMatrix(rng, v.typ, c.rows, c.cols)
					wf := make([]float32, c.rows*c.cols)
					if err := ggml.Dequantize(v.typ, w.Data, wf); err != nil {
						t.Fatal(err)
					}
					var s scratch
					x := randVec(rng, 8*c.cols)
					rows := s.prepare(k.act, x, 8, c.cols)
					for i := range rows {
						quantizeAct(k.act, x[i*c.cols:(i+1)*c.cols], &rows[i])
					}
					ystride := c.rows + 3
					y := randVec(rng, 8*ystride)
					y0 := append([]float32(nil), y...)
					rb := len(w.Data) / c.rows
					v.rows8(w.Data, rb, c.rows, rows, y, ystride, add)
					for i := range 8 {
						for r := range c.rows {
							want := k.dot(w.Data[r*rb:(r+1)*rb], &rows[i])
							if add {
								want += y0[i*ystride+r]
							}
							got := y[i*ystride+r]
							// Same products summed in another order, as in TestMatMul, plus one
							// rounding of the added value.
							tol := 1e-5*magnitude(wf[r*c.cols:(r+1)*c.cols], k.act, &rows[i]) + 1e-6*math.Abs(float64(want)) + 1e-30
							if math.Abs(float64(got-want)) > tol {
								t.Fatalf("row %d token %d: %g, generic %g (diff %g > %g)", r, i, got, want, got-want, tol)
							}
						}
						for r := c.rows; r < ystride; r++ { // the gap between tokens is untouched
							if y[i*ystride+r] != y0[i*ystride+r] {
								t.Fatalf("token %d: y[%d] changed", i, r)
							}
						}
					}
					if v.rows1 == nil || add {
						return
					}
					// The one-token, many-row kernel must give exactly the one-row kernel's sums.
					y1 := make([]float32, c.rows)
					v.rows1(w.Data, rb, c.rows, &rows[3], y1)
					for r, got := range y1 {
						if want := k.fast(w.Data[r*rb:(r+1)*rb], &rows[3]); got != want {
							t.Fatalf("one-token kernel, row %d: %g, one-row kernel %g", r, got, want)
						}
					}
				})
			}
		}
	}
}

// TestQuantizeActMatchesGGML checks the activation quantizers, pure Go and assembly, against
// ggml's reference encodings of Q8_0, Q8_1, Q8_K, F16 and BF16, value for value.
func TestQuantizeActMatchesGGML(t *testing.T) {
	defer func() { forceGeneric = false }()
	for _, generic := range []bool{true, false} {
		forceGeneric = generic
		t.Run(fmt.Sprintf("generic=%v", generic), testQuantizeActMatchesGGML)
	}
}

func testQuantizeActMatchesGGML(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	cols := 256 * 3
	x := randVec(rng, cols)
	x[5] = 0 // exact zero
	// Block 1 has scale 1, so these quants are exact halves: rounding goes away from zero.
	copy(x[32:], []float32{127, 0.5, -2.5, 1.5, -0.5, 126.5, -126.5})
	for i := 64; i < 96; i++ {
		x[i] *= 1e-7    // block 2: a scale that rounds to zero in half precision
		x[i+32] *= 1e-5 // block 3: a subnormal half scale
	}
	clear(x[256:512])       // an all-zero block
	x[600] = -x[600] * 1000 // a dominant negative value
	cases := []struct {
		typ ggml.Type
		act actKind
	}{
		{ggml.TypeQ8_0, actQ8_0}, {ggml.TypeQ8_1, actQ8_1}, {ggml.TypeQ8_K, actQ8K},
		{ggml.TypeF16, actF16}, {ggml.TypeBF16, actBF16},
	}
	for _, c := range cases {
		t.Run(c.typ.String(), func(t *testing.T) {
			rb, _ := ggml.RowBytes(c.typ, int64(cols))
			want := make([]byte, rb)
			if err := ggml.Quantize(c.typ, x, want); err != nil {
				t.Fatal(err)
			}
			var s scratch
			r := &s.prepare(c.act, x, 1, cols)[0]
			quantizeAct(c.act, x, r)
			got := encodeAct(c.act, r, cols)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("byte %d: got %#x, ggml %#x", i, got[i], want[i])
				}
			}
			for k, v := range r.ns4 { // Q8_0, Q8_1: minus each 4 quants' sum
				q := r.qs[4*k : 4*k+4]
				if want := -(int32(q[0]) + int32(q[1]) + int32(q[2]) + int32(q[3])); v != want {
					t.Fatalf("ns4[%d] = %d, want %d", k, v, want)
				}
			}
		})
	}
}

// encodeAct writes an activation row in ggml's block layout.
func encodeAct(k actKind, r *actRow, cols int) []byte {
	var out []byte
	le := binary.LittleEndian
	switch k {
	case actF16:
		for _, f := range r.f {
			out = le.AppendUint16(out, ggml.FP32ToFP16(f))
		}
	case actBF16:
		for _, f := range r.f {
			out = le.AppendUint16(out, ggml.FP32ToBF16(f))
		}
	case actQ8_0, actQ8_1:
		for b := range cols / 32 {
			out = le.AppendUint16(out, ggml.FP32ToFP16(r.d[b]))
			if k == actQ8_1 {
				out = le.AppendUint16(out, ggml.FP32ToFP16(r.s[b]))
			}
			for _, q := range r.qs[b*32 : b*32+32] {
				out = append(out, byte(q))
			}
		}
	case actQ8K:
		for b := range cols / 256 {
			out = le.AppendUint32(out, math.Float32bits(r.d[b]))
			for _, q := range r.qs[b*256 : b*256+256] {
				out = append(out, byte(q))
			}
			for _, s := range r.bsums[b*16 : b*16+16] {
				out = le.AppendUint16(out, uint16(s))
			}
		}
	}
	return out
}

func TestMatMulNoAllocs(t *testing.T) {
	pool := NewPool(2)
	defer pool.Close()
	rng := rand.New(rand.NewSource(3))
	for _, typ := range []ggml.Type{ggml.TypeQ8_0, ggml.TypeQ4_K, ggml.TypeF16} {
		w := randMatrix(rng, typ, 64, 512)
		x := randVec(rng, 4*512)
		y := make([]float32, 4*64)
		pool.MatMul(y, w, x, 4) // grows the scratch
		if a := testing.AllocsPerRun(10, func() { pool.MatMul(y, w, x, 4) }); a != 0 {
			t.Errorf("%s: %v allocations per MatMul in steady state", typ, a)
		}
	}
}

func TestMatrixValidate(t *testing.T) {
	cases := []struct {
		name string
		m    Matrix
	}{
		{"unsupported type", Matrix{Type: ggml.TypeIQ2_XXS, Rows: 1, Cols: 256, Data: make([]byte, 66)}},
		{"partial block", Matrix{Type: ggml.TypeQ8_0, Rows: 1, Cols: 33, Data: make([]byte, 34)}},
		{"short data", Matrix{Type: ggml.TypeQ8_0, Rows: 2, Cols: 32, Data: make([]byte, 34)}},
		{"empty", Matrix{Type: ggml.TypeF32, Rows: 0, Cols: 4}},
	}
	for _, c := range cases {
		if err := c.m.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %dx%d %s with %d bytes", c.name, c.m.Rows, c.m.Cols, c.m.Type, len(c.m.Data))
		}
	}
	ok := Matrix{Type: ggml.TypeQ8_0, Rows: 2, Cols: 64, Data: make([]byte, 136)}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid matrix rejected: %v", err)
	}
}

// TestMatMulBatchInvariant checks that a token's products do not depend on the batch it comes
// in: MatMul of 13 tokens (eight-, four- and one-token kernels) equals MatMul of each token
// alone, bit for bit, for F32 weights (whose kernels all add in one order, odd rows and
// column tails included) and for the 32-element block types within one column tile. Batched
// and one-at-a-time evaluation of a model then agree exactly.
func TestMatMulBatchInvariant(t *testing.T) {
	pool := NewPool(2)
	defer pool.Close()
	rng := rand.New(rand.NewSource(9))
	const n = 13
	for _, c := range []struct {
		typ        ggml.Type
		rows, cols int
	}{
		{ggml.TypeF32, 9, 172}, {ggml.TypeF32, 3, 8}, {ggml.TypeF32, 33, 2100},
		{ggml.TypeQ8_0, 9, 96}, {ggml.TypeQ4_0, 9, 2048}, {ggml.TypeQ5_0, 5, 64}, {ggml.TypeIQ4_NL, 7, 32},
	} {
		t.Run(fmt.Sprintf("%s/%dx%d", c.typ, c.rows, c.cols), func(t *testing.T) {
			w := randMatrix(rng, c.typ, c.rows, c.cols)
			x := randVec(rng, n*c.cols)
			y := make([]float32, n*c.rows)
			pool.MatMul(y, w, x, n)
			one := make([]float32, c.rows)
			for tok := range n {
				pool.MatMul(one, w, x[tok*c.cols:(tok+1)*c.cols], 1)
				for r, v := range one {
					if got := y[tok*c.rows+r]; got != v {
						t.Fatalf("token %d row %d: %g in the batch, %g alone", tok, r, got, v)
					}
				}
			}
		})
	}
}
