package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// Awkward sizes for the attention kernels: head dims below, at and just past the assembly's
// 8-, 16- and 32-column steps (65 and 130 leave scalar tails), and odd and even row counts
// around the 64-row block (the softmax and AVX-512 score kernels take rows in pairs).
var (
	attendDims = []int{1, 7, 8, 63, 64, 65, 130, 256}
	attendLens = []int{1, 2, 3, 31, 63, 64, 65, 129, 300}
)

// u is the float32 unit roundoff: a sum of n float32 terms computed in any order is within
// (n-1)·u·Σ|terms| of the exact sum (the classical worst-case bound, used for the tolerances).
const u = 1.0 / (1 << 24)

// kvRows returns random rows as E (float32, or half precision rounded from them) and the float64
// values E stands for.
func kvRows[E uint16 | float32](r *rand.Rand, n int, scale float64) ([]E, []float64) {
	x := randSlice(r, n, scale)
	e, f := make([]E, n), make([]float64, n)
	switch e := any(e).(type) {
	case []uint16:
		ToF16(e, x)
		for i, h := range e {
			f[i] = float64(ggml.FP16ToFP32(h))
		}
	case []float32:
		copy(e, x)
		for i, v := range x {
			f[i] = float64(v)
		}
	}
	return e, f
}

// TestAttendScoresAccum checks the score and accumulation kernels of every path against float64
// sums of the same inputs, for f16 and f32 rows of every awkward size. Tolerances are the
// worst-case float32 summation bound: (terms)·u·Σ|terms|.
func TestAttendScoresAccum(t *testing.T) {
	defer func(use kernelSet) { attendUse = use }(attendUse)
	for _, path := range attendKernels {
		attendUse = path
		for _, d := range attendDims {
			for _, n := range attendLens {
				t.Run(fmt.Sprintf("%s/d=%d/n=%d", path, d, n), func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(d), uint64(n)))
					checkScoresAccum[uint16](t, r, d, n)
					checkScoresAccum[float32](t, r, d, n)
				})
			}
		}
	}
}

func checkScoresAccum[E uint16 | float32](t *testing.T, r *rand.Rand, d, n int) {
	t.Helper()
	q := randSlice(r, quad*d, 1)
	k, kf := kvRows[E](r, n*d, 2)
	v, vf := kvRows[E](r, n*d, 1)
	s := make([]float32, n*quad)
	for i := range s {
		s[i] = float32(math.NaN()) // the kernel must overwrite, not add
	}
	kvScores(s, q, k, d)
	for row := range n {
		for h := range quad {
			var want, mag float64
			for i := range d {
				p := float64(q[h*d+i]) * kf[row*d+i]
				want += p
				mag += math.Abs(p)
			}
			if got := float64(s[row*quad+h]); !(math.Abs(got-want) <= float64(d)*u*mag) {
				t.Fatalf("%T scores row %d head %d: %g, want %g (tol %g)", k, row, h, got, want, float64(d)*u*mag)
			}
		}
	}

	o := randSlice(r, quad*d, 1)
	p := randSlice(r, n*quad, 1)
	want, mag := make([]float64, len(o)), make([]float64, len(o))
	for h := range quad {
		for i := range d {
			want[h*d+i], mag[h*d+i] = float64(o[h*d+i]), math.Abs(float64(o[h*d+i]))
			for row := range n {
				x := float64(p[row*quad+h]) * vf[row*d+i]
				want[h*d+i] += x
				mag[h*d+i] += math.Abs(x)
			}
		}
	}
	kvAccum(o, p, v, d)
	for i, w := range want {
		if tol := float64(n+1) * u * mag[i]; !(math.Abs(float64(o[i])-w) <= tol) {
			t.Fatalf("%T accum head %d col %d: %g, want %g (tol %g)", v, i/d, i%d, o[i], w, tol)
		}
	}
}

// TestAttendSoftmax checks kvSoftmax on every path against float64 exponentials: for a first
// block (no running maximum), a block that raises the maximum and one that does not, with some
// scores far enough below the maximum that their weight is 0. Tolerances: each weight is
// e^(x−m) of a float32 difference x−m (rounding error up to |x−m|·u, which becomes a relative
// error of the weight) through an exponential good to 2.5e-7 relative (TestExp32); weights
// under the smallest normal float32 may flush to zero. Sums add (n+1)·u relative for the
// float32 additions of positive terms.
func TestAttendSoftmax(t *testing.T) {
	defer func(use kernelSet) { attendUse = use }(attendUse)
	const scale = 0.125
	for _, path := range attendKernels {
		attendUse = path
		for _, n := range attendLens {
			for _, start := range []struct{ m, sum float32 }{{float32(math.Inf(-1)), 0}, {0.5, 3}, {40, 2}} {
				t.Run(fmt.Sprintf("%s/n=%d/m=%g", path, n, start.m), func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(n), 3))
					s := randSlice(r, n*quad, 30)
					s[r.IntN(len(s))] = -1e4 // weight 0 whatever the maximum
					raw := append([]float32(nil), s...)
					m := [quad]float32{start.m, start.m, start.m, start.m}
					sum := [quad]float32{start.sum, start.sum, start.sum, start.sum}
					f := kvSoftmax(s, scale, &m, &sum)
					for h := range quad {
						newm := float64(start.m)
						for row := range n {
							newm = math.Max(newm, float64(raw[row*quad+h]*scale))
						}
						if float64(m[h]) != newm {
							t.Fatalf("head %d: running max %g, want %g", h, m[h], newm)
						}
						wantF := math.Exp(float64(start.m) - newm)
						checkWeight(t, fmt.Sprintf("head %d factor", h), f[h], wantF, float64(start.m)-newm)
						wantSum := float64(start.sum) * wantF
						for row := range n {
							x := float64(raw[row*quad+h]*scale) - newm
							w := math.Exp(x)
							wantSum += w
							checkWeight(t, fmt.Sprintf("head %d row %d", h, row), s[row*quad+h], w, x)
						}
						if tol := (float64(n+1)*u + 2.5e-7) * wantSum; !(math.Abs(float64(sum[h])-wantSum) <= tol) {
							t.Fatalf("head %d: sum %g, want %g (tol %g)", h, sum[h], wantSum, tol)
						}
					}
				})
			}
		}
	}
}

// checkWeight compares a softmax weight with e^x (see TestAttendSoftmax for the tolerance).
func checkWeight(t *testing.T, what string, got float32, want, x float64) {
	t.Helper()
	const smallest = 0x1p-126 // smallest normal float32
	tol := smallest
	if want > 0 { // x is finite
		tol += (2.5e-7 + math.Abs(x)*u) * want
	}
	if !(math.Abs(float64(got)-want) <= tol) {
		t.Fatalf("%s: weight %g, want e^%g = %g (tol %g)", what, got, x, want, tol)
	}
}

// TestAttendPaths runs whole AttendF16 and AttendF32 calls on every path, for every awkward head
// dim and context length and for groups of 1, 4 and 7 heads (padded quads), against the
// two-pass float64 formula (tolerance opsTol: outputs are O(1) weighted averages).
func TestAttendPaths(t *testing.T) {
	defer func(use kernelSet) { attendUse = use }(attendUse)
	for _, path := range attendKernels {
		attendUse = path
		for _, d := range attendDims {
			for _, n := range attendLens {
				t.Run(fmt.Sprintf("%s/d=%d/n=%d", path, d, n), func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(d), uint64(n)+100))
					for _, g := range []int{1, 4, 7} {
						q := randSlice(r, g*d, 1)
						scale := 1 / math.Sqrt(float64(d))
						k16, kf16 := kvRows[uint16](r, n*d, 3)
						v16, vf16 := kvRows[uint16](r, n*d, 1)
						k32, kf32 := kvRows[float32](r, n*d, 3)
						v32, vf32 := kvRows[float32](r, n*d, 1)
						out16, out32 := make([]float32, g*d), make([]float32, g*d)
						AttendF16(out16, q, d, k16, v16, float32(scale))
						AttendF32(out32, q, d, k32, v32, float32(scale))
						for h := range g {
							qh := q[h*d : (h+1)*d]
							assertClose(t, fmt.Sprintf("f16 g=%d head %d", g, h), out16[h*d:(h+1)*d], refAttend(qh, kf16, vf16, scale), opsTol)
							assertClose(t, fmt.Sprintf("f32 g=%d head %d", g, h), out32[h*d:(h+1)*d], refAttend(qh, kf32, vf32, scale), opsTol)
						}
					}
				})
			}
		}
	}
}

// TestDotAxpy checks Dot and Axpy on every path against float64 for lengths around the
// assembly's 8- and 32-element steps. Tolerances: a sum of n products is within n·u·Σ|products|;
// each Axpy element is one product and one addition, at most 2u·(|y|+|a·x|) off.
func TestDotAxpy(t *testing.T) {
	defer func(use kernelSet) { attendUse = use }(attendUse)
	for _, path := range attendKernels {
		attendUse = path
		for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 130, 256, 300} {
			r := rand.New(rand.NewPCG(uint64(n), 5))
			a, b := randSlice(r, n, 1), randSlice(r, n+3, 1) // b longer than a: only len(a) counts
			var want, mag float64
			for i := range a {
				want += float64(a[i]) * float64(b[i])
				mag += math.Abs(float64(a[i]) * float64(b[i]))
			}
			if got := float64(Dot(a, b)); !(math.Abs(got-want) <= float64(n)*u*mag) {
				t.Errorf("%s: Dot of %d: %g, want %g", path, n, got, want)
			}
			c := float32(0.7)
			y := randSlice(r, n, 1)
			wantY := make([]float64, n)
			for i := range y {
				wantY[i] = float64(y[i]) + float64(c)*float64(b[i])
			}
			tolY := make([]float64, n)
			for i := range y {
				tolY[i] = 2 * u * (math.Abs(float64(y[i])) + math.Abs(float64(c)*float64(b[i])))
			}
			Axpy(y, c, b)
			for i := range y {
				if !(math.Abs(float64(y[i])-wantY[i]) <= tolY[i]) {
					t.Fatalf("%s: Axpy of %d, element %d: %g, want %g", path, n, i, y[i], wantY[i])
				}
			}
		}
	}
}

// TestAttendNoAllocPaths checks that no kernel set makes the attention ops allocate (the block
// buffers must stay on the stack), for a full quad and a padded one.
func TestAttendNoAllocPaths(t *testing.T) {
	defer func(use kernelSet) { attendUse = use }(attendUse)
	const d, n = 72, 100
	q, out := make([]float32, 7*d), make([]float32, 7*d)
	k, v := make([]float32, n*d), make([]float32, n*d)
	k16, v16 := make([]uint16, n*d), make([]uint16, n*d)
	for _, path := range attendKernels {
		attendUse = path
		if a := testing.AllocsPerRun(5, func() { AttendF32(out, q, d, k, v, 0.3) }); a != 0 {
			t.Errorf("%s: AttendF32 allocates %v times per call", path, a)
		}
		if a := testing.AllocsPerRun(5, func() { AttendF16(out, q, d, k16, v16, 0.3) }); a != 0 {
			t.Errorf("%s: AttendF16 allocates %v times per call", path, a)
		}
	}
}
