package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// Tolerances in this file: the ops compute in float32 (with float64 sums), the references in
// float64 on the same float32 inputs. Values are O(1), so 1e-5 absolute is a few float32 ulps
// accumulated over rows of up to a few hundred elements.
const opsTol = 1e-5

func randSlice(r *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64() * scale)
	}
	return s
}

func assertClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= tol) {
			t.Fatalf("%s[%d] = %g, want %g (diff %g > %g)", what, i, got[i], want[i], d, tol)
		}
	}
}

func TestRMSNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 7, 64, 255} {
		x, w := randSlice(r, n, 3), randSlice(r, n, 1)
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		scale := 1 / math.Sqrt(ss/float64(n)+1e-5)
		want := make([]float64, n)
		for i := range want {
			want[i] = float64(x[i]) * scale * float64(w[i])
		}
		y := make([]float32, n)
		RMSNorm(y, x, w, 1e-5)
		assertClose(t, "RMSNorm", y, want, opsTol)
		RMSNorm(x, x, w, 1e-5) // in place
		assertClose(t, "RMSNorm in place", x, want, opsTol)
	}
}

// TestRope checks both layouts against the rotation written out by hand, with legible inputs
// (element value = 10*head + dim), including partial rotary (ropeDim < headDim) and a frequency
// factor.
func TestRope(t *testing.T) {
	cases := []struct {
		name             string
		neox             bool
		headDim, ropeDim int
		scale            float64
		factors          []float32
	}{
		{"norm", false, 8, 8, 1, nil},
		{"neox", true, 8, 8, 1, nil},
		{"norm partial", false, 8, 4, 1, nil},
		{"neox partial", true, 8, 4, 1, nil},
		{"norm factors", false, 4, 4, 1, []float32{1, 8}},
		{"neox linear scaling", true, 4, 4, 4, nil},
	}
	const nHeads, pos, base = 3, 37, 100.0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := make([]float32, nHeads*c.headDim)
			for i := range x {
				x[i] = float32(10*(i/c.headDim) + i%c.headDim)
			}
			want := make([]float64, len(x))
			for i := range x {
				want[i] = float64(x[i])
			}
			half := c.ropeDim / 2
			for h := 0; h < nHeads; h++ {
				for i := 0; i < half; i++ {
					theta := pos / c.scale * math.Pow(base, -2*float64(i)/float64(c.ropeDim))
					if c.factors != nil {
						theta /= float64(c.factors[i])
					}
					a, b := 2*i, 2*i+1
					if c.neox {
						a, b = i, i+half
					}
					a, b = h*c.headDim+a, h*c.headDim+b
					xa, xb := float64(x[a]), float64(x[b])
					want[a] = xa*math.Cos(theta) - xb*math.Sin(theta)
					want[b] = xa*math.Sin(theta) + xb*math.Cos(theta)
				}
			}
			cs := make([]float32, c.ropeDim)
			RopeTable(cs, RopeFreqs(c.ropeDim, base, c.scale, c.factors), pos)
			if c.neox {
				RopeNeox(x, c.headDim, cs)
			} else {
				RopeNorm(x, c.headDim, cs)
			}
			// Values reach ~30, so allow a few float32 ulps at that magnitude.
			assertClose(t, "rope", x, want, 3e-5*30)
		})
	}
}

// TestSoftmax checks Softmax on every kernel path (the assembly does the longest multiple of
// 8 elements, Go the rest), including masked (-Inf) scores.
func TestSoftmax(t *testing.T) {
	defer func(use kernelSet) { attendUse = use }(attendUse)
	for _, path := range attendKernels {
		attendUse = path
		t.Run(string(path), testSoftmax)
	}
}

func testSoftmax(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 5, 8, 300, 1001} {
		x := randSlice(r, n, 10)
		if n > 8 {
			x[3], x[n-2] = float32(math.Inf(-1)), float32(math.Inf(-1))
		}
		m := math.Inf(-1)
		for _, v := range x {
			m = math.Max(m, float64(v))
		}
		want := make([]float64, n)
		var sum float64
		for i, v := range x {
			want[i] = math.Exp(float64(v) - m)
			sum += want[i]
		}
		for i := range want {
			want[i] /= sum
		}
		scaled := append([]float32(nil), x...)
		Softmax(x)
		assertClose(t, "Softmax", x, want, opsTol)

		// ScaledSoftmax(x, s) is the softmax of s·x.
		const scale = 0.125
		for i := range want {
			want[i] = math.Exp(float64(scaled[i])*scale - m*scale)
		}
		sum = 0
		for _, w := range want {
			sum += w
		}
		for i := range want {
			want[i] /= sum
		}
		ScaledSoftmax(scaled, scale)
		assertClose(t, "ScaledSoftmax", scaled, want, opsTol)
	}
}

// TestElementwise checks SwiGLU (on every kernel path: the assembly does the longest multiple
// of 8 elements), Add and AddRows.
func TestElementwise(t *testing.T) {
	defer func(use kernelSet) { attendUse = use }(attendUse)
	for _, path := range attendKernels {
		attendUse = path
		t.Run(string(path), testElementwise)
	}
}

func testElementwise(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const n = 341 // 31 rows of the 11-element bias; not a multiple of 8
	g, u, b := randSlice(r, n, 4), randSlice(r, n, 1), randSlice(r, 11, 1)
	g[5], g[6], g[7], g[40] = 120, -120, 0, -88 // saturated and zero gates
	want := make([]float64, n)
	for i := range want {
		gi := float64(g[i])
		want[i] = gi / (1 + math.Exp(-gi)) * float64(u[i])
	}
	y := make([]float32, n)
	SwiGLU(y, g, u)
	assertClose(t, "SwiGLU", y, want, opsTol)

	for i := range want {
		want[i] = float64(y[i]) + float64(u[i])
	}
	Add(y, u)
	assertClose(t, "Add", y, want, opsTol)

	for i := range want {
		want[i] = float64(y[i]) + float64(b[i%11])
	}
	AddRows(y, b)
	assertClose(t, "AddRows", y, want, opsTol)
}

// refAttend is two-pass attention in float64: the textbook formula.
func refAttend(q []float32, k, v []float64, scale float64) []float64 {
	d := len(q)
	n := len(k) / d
	s := make([]float64, n)
	m := math.Inf(-1)
	for j := range s {
		for i := 0; i < d; i++ {
			s[j] += float64(q[i]) * k[j*d+i]
		}
		s[j] *= scale
		m = math.Max(m, s[j])
	}
	var sum float64
	for j := range s {
		s[j] = math.Exp(s[j] - m)
		sum += s[j]
	}
	out := make([]float64, d)
	for j := range s {
		for i := range out {
			out[i] += s[j] / sum * v[j*d+i]
		}
	}
	return out
}

// TestAttend checks grouped attention (g query heads sharing one kv head) against the
// two-pass float64 formula, head by head, for f32 and f16 storage. Keys have a large spread so
// the running maximum changes and the online rescaling is exercised; groups that are not a
// multiple of four exercise the zero-padded last quad. Tolerance: outputs are O(1) averages of
// n terms; float32 accumulation gives ~1e-6.
func TestAttend(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, c := range []struct{ n, d, g int }{{1, 4, 1}, {3, 8, 2}, {130, 64, 4}, {17, 16, 2*quad + 3}} {
		q := randSlice(r, c.g*c.d, 1)
		k, v := randSlice(r, c.n*c.d, 3), randSlice(r, c.n*c.d, 1)
		scale := 1 / math.Sqrt(float64(c.d))
		k16, v16 := make([]uint16, len(k)), make([]uint16, len(v))
		ToF16(k16, k)
		ToF16(v16, v)
		for _, f16 := range []bool{false, true} {
			k64, v64 := make([]float64, len(k)), make([]float64, len(v))
			for i := range k {
				k64[i], v64[i] = float64(k[i]), float64(v[i])
				if f16 {
					k64[i], v64[i] = float64(ggml.FP16ToFP32(k16[i])), float64(ggml.FP16ToFP32(v16[i]))
				}
			}
			out := make([]float32, c.g*c.d)
			if f16 {
				AttendF16(out, q, c.d, k16, v16, float32(scale))
			} else {
				AttendF32(out, q, c.d, k, v, float32(scale))
			}
			for h := 0; h < c.g; h++ {
				want := refAttend(q[h*c.d:(h+1)*c.d], k64, v64, scale)
				assertClose(t, fmt.Sprintf("n=%d d=%d g=%d f16=%v head %d", c.n, c.d, c.g, f16, h), out[h*c.d:(h+1)*c.d], want, 1e-5)
			}
		}
	}
}

func TestAttendNoAlloc(t *testing.T) {
	q, out := make([]float32, 16), make([]float32, 16)
	k, v := make([]float32, 80), make([]float32, 80)
	k16, v16 := make([]uint16, 80), make([]uint16, 80)
	if a := testing.AllocsPerRun(10, func() { AttendF32(out, q, 8, k, v, 0.3) }); a != 0 {
		t.Errorf("AttendF32 allocates %v times per call", a)
	}
	if a := testing.AllocsPerRun(10, func() { AttendF16(out, q, 8, k16, v16, 0.3) }); a != 0 {
		t.Errorf("AttendF16 allocates %v times per call", a)
	}
}

// TestExp32 compares with math.Exp over the whole float32 range that does not overflow, plus
// the edges. 2.5e-7 relative is about two float32 ulps.
func TestExp32(t *testing.T) {
	for x := float32(-87.3); x < 88.7; x += 0.00731 {
		want := math.Exp(float64(x))
		if got := float64(Exp32(x)); math.Abs(got-want) > 2.5e-7*want {
			t.Fatalf("Exp32(%g) = %g, want %g (rel %.3g)", x, got, want, math.Abs(got-want)/want)
		}
	}
	for _, c := range []struct{ x, want float32 }{
		{0, 1}, {-100, 0}, {100, float32(math.Inf(1))}, {float32(math.Inf(-1)), 0},
	} {
		if got := Exp32(c.x); got != c.want {
			t.Errorf("Exp32(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	if nan := Exp32(float32(math.NaN())); nan == nan {
		t.Errorf("Exp32(NaN) = %g", nan)
	}
}

func BenchmarkExp32(b *testing.B) {
	x := float32(0)
	for i := 0; i < b.N; i++ {
		x += Exp32(float32(i%64) * -0.1)
	}
	_ = x
}

func TestEmbed(t *testing.T) {
	// Row r of a 3x4 F16 matrix holds 100*r + c, exactly representable in half precision.
	const rows, cols = 3, 4
	data := make([]byte, rows*cols*2)
	for i := 0; i < rows*cols; i++ {
		h := ggml.FP32ToFP16(float32(100*(i/cols) + i%cols))
		data[2*i], data[2*i+1] = byte(h), byte(h>>8)
	}
	w := &Matrix{Type: ggml.TypeF16, Rows: rows, Cols: cols, Data: data}
	y := make([]float32, cols)
	if err := Embed(y, w, 2); err != nil {
		t.Fatal(err)
	}
	assertClose(t, "Embed", y, []float64{200, 201, 202, 203}, 0)
	for _, bad := range []int32{-1, rows} {
		if err := Embed(y, w, bad); err == nil {
			t.Errorf("Embed(id %d) succeeded on %d rows", bad, rows)
		}
	}
}

// TestSwiGLUPrefixes checks that each SwiGLU output is the same whatever the length of the
// call (the assembly pads a short last part instead of leaving it to Go), so that batched and
// one-token forward passes agree exactly.
func TestSwiGLUPrefixes(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	g, u := randSlice(r, 45, 4), randSlice(r, 45, 1)
	full := make([]float32, len(g))
	SwiGLU(full, g, u)
	for n := 1; n <= len(g); n++ {
		y := make([]float32, n)
		SwiGLU(y, g[:n], u[:n])
		for i, v := range y {
			if v != full[i] {
				t.Fatalf("length %d: y[%d] = %g, %g in the length-%d call", n, i, v, full[i], len(g))
			}
		}
	}
}
