package cpu

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// TestKQuantRowsMatchGeneric compares the K-quant many-row kernels with the pure-Go oracle:
// the eight-token kernel, setting and adding into an output whose token stride is not the row
// count, and the one-token kernel, also bit for bit against the one-row kernel MatMul uses for
// the type. Row counts are not multiples of 4 or 8; rows have one, three and nine blocks.
func TestKQuantRowsMatchGeneric(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	for _, v := range kquantRowsVariants {
		if !v.supported {
			continue
		}
		k := &kernels[v.typ]
		for _, rows := range []int{1, 3, 7, 13} {
			for _, blocks := range []int{1, 3, 9} {
				cols := blocks * v.typ.BlockSize()
				for _, add := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/%s/%dx%d/add=%v", v.name, v.typ, rows, cols, add), func(t *testing.T) {
						checkKQuantRows(t, rng, v, k, rows, cols, add)
					})
				}
			}
		}
	}
}

// TestKQuantMatMulTokens runs MatMul for the K-quant types with assembly row kernels on every
// token count from 1 to 13 (the eight-, four- and one-token kernels in each combination) and
// 11 rows (not a multiple of 4 or 8), against the references of TestMatMul.
func TestKQuantMatMulTokens(t *testing.T) {
	pool := NewPool(2)
	defer pool.Close()
	rng := rand.New(rand.NewSource(10))
	for _, v := range kquantRowsVariants {
		if !v.supported {
			continue
		}
		for n := 1; n <= 13; n++ {
			t.Run(fmt.Sprintf("%s/%s/n%d", v.name, v.typ, n), func(t *testing.T) {
				checkMatMul(t, pool, rng, v.typ, 11, 3*v.typ.BlockSize(), n)
			})
		}
	}
}

func checkKQuantRows(t *testing.T, rng *rand.Rand, v rows8Variant, k *kernel, rows, cols int, add bool) {
	w := randMatrix(rng, v.typ, rows, cols)
	wf := make([]float32, rows*cols)
	if err := ggml.Dequantize(v.typ, w.Data, wf); err != nil {
		t.Fatal(err)
	}
	var s scratch
	x := randVec(rng, 8*cols)
	xs := s.prepare(k.act, x, 8, cols)
	for i := range xs {
		quantizeAct(k.act, x[i*cols:(i+1)*cols], &xs[i])
	}
	ystride := rows + 3
	y := randVec(rng, 8*ystride)
	y0 := append([]float32(nil), y...)
	rb := len(w.Data) / rows
	v.rows8(w.Data, rb, rows, xs, y, ystride, add)
	y1 := randVec(rng, rows+3) // the one-token kernel's output, past the rows untouched too
	y10 := append([]float32(nil), y1...)
	v.rows1(w.Data, rb, rows, &xs[5], y1)
	for r := range rows {
		wr := w.Data[r*rb : (r+1)*rb]
		for i := range 8 {
			want := k.dot(wr, &xs[i])
			if add {
				want += y0[i*ystride+r]
			}
			// Same products summed in another order, as in TestMatMul, plus one rounding
			// of the added value.
			tol := 1e-5*magnitude(wf[r*cols:(r+1)*cols], k.act, &xs[i]) + 1e-6*math.Abs(float64(want)) + 1e-30
			if got := y[i*ystride+r]; math.Abs(float64(got-want)) > tol {
				t.Fatalf("eight-token kernel, row %d token %d: %g, generic %g (diff %g > %g)", r, i, got, want, got-want, tol)
			}
		}
		want := k.dot(wr, &xs[5])
		tol := 1e-5*magnitude(wf[r*cols:(r+1)*cols], k.act, &xs[5]) + 1e-30
		if got := y1[r]; math.Abs(float64(got-want)) > tol {
			t.Fatalf("one-token kernel, row %d: %g, generic %g (diff %g > %g)", r, got, want, got-want, tol)
		}
		if one := k.fast(wr, &xs[5]); one != y1[r] {
			t.Fatalf("one-token kernel, row %d: %g, one-row kernel %g", r, y1[r], one)
		}
	}
	for i := range 8 {
		for r := rows; r < ystride; r++ {
			if y[i*ystride+r] != y0[i*ystride+r] {
				t.Fatalf("eight-token kernel: token %d, y[%d] past the rows changed", i, r)
			}
		}
	}
	for r := rows; r < len(y1); r++ {
		if y1[r] != y10[r] {
			t.Fatalf("one-token kernel: y[%d] past the rows changed", r)
		}
	}
}
