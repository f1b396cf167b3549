package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// maskedCase is a random block of masked-record rows and its dense (recovered) rows in float64.
type maskedCase[E uint16 | float32] struct {
	k     MaskedKeys[E]
	dense []float64 // [n][d] the rows k stands for
	v     []E       // [n][d]
	v64   []float64 // [n][d] v as numbers
}

// storeElem returns x as an element of E and the number it stores (x rounded to f16 for uint16).
func storeElem[E uint16 | float32](x float32) (E, float64) {
	var e E
	switch p := any(&e).(type) {
	case *uint16:
		*p = ggml.FP32ToFP16(x)
		return e, float64(ggml.FP16ToFP32(*p))
	case *float32:
		*p = x
	}
	return e, float64(x)
}

// newMaskedCase draws n rows of dimension d. Row densities cycle through nothing kept, everything
// kept and a random density from a random start (so chunks with no pruned and no kept channels
// occur, and a shared mask is any of the three); shared uses one mask for all rows; signs false
// stores no recovery. The kept and sign streams get no capacity beyond their ends unless slack,
// so that the kernels' handling of tight streams is exercised too.
func newMaskedCase[E uint16 | float32](r *rand.Rand, d, n int, shared, signs, slack bool) maskedCase[E] {
	start := r.IntN(3)
	return buildMaskedCase[E](r, d, n, shared, signs, slack, func(row int, mask []byte) {
		keep := []float64{0, 1, r.Float64()}[(start+row)%3] // none, all, random density
		for j := range d {
			if r.Float64() < keep {
				mask[j/8] |= 1 << (j % 8)
			}
		}
	})
}

// newSparKCase draws n rows as SparK's fixed ratio stores them: nKeep random channels kept per
// row, signs and α, a slack sign stream.
func newSparKCase(r *rand.Rand, d, n, nKeep int) maskedCase[uint16] {
	return buildMaskedCase[uint16](r, d, n, false, true, true, func(_ int, mask []byte) {
		for _, j := range r.Perm(d)[:nKeep] {
			mask[j/8] |= 1 << (j % 8)
		}
	})
}

// buildMaskedCase draws the rows with masks set by fill (called once per distinct mask).
func buildMaskedCase[E uint16 | float32](r *rand.Rand, d, n int, shared, signs, slack bool, fill func(row int, mask []byte)) maskedCase[E] {
	mb := (d + 7) / 8
	c := maskedCase[E]{k: MaskedKeys[E]{D: d, MaskStride: mb}, dense: make([]float64, n*d)}
	if shared {
		c.k.MaskStride = 0
	}
	c.k.Mask = make([]byte, max(1, n*c.k.MaskStride)*mb)
	if signs {
		c.k.Signs, c.k.Rho = []byte{}, make([]float32, d)
		for j := range c.k.Rho {
			c.k.Rho[j] = float32(r.Float64() + 0.1)
		}
	}
	for row := range n {
		mask := c.k.Mask[row*c.k.MaskStride:][:mb]
		if row == 0 || !shared {
			fill(row, mask)
		}
		var alpha float64
		if signs {
			var a E
			a, alpha = storeElem[E](float32(r.Float64() + 0.5))
			c.k.Alpha = append(c.k.Alpha, a)
		}
		sb, p := len(c.k.Signs), 0
		for j := range d {
			if mask[j/8]>>(j%8)&1 == 1 {
				e, x := storeElem[E](float32(r.NormFloat64()))
				c.k.Kept = append(c.k.Kept, e)
				c.dense[row*d+j] = x
				continue
			}
			if !signs {
				continue
			}
			if p%8 == 0 {
				c.k.Signs = append(c.k.Signs, 0)
			}
			x := -alpha * float64(c.k.Rho[j])
			if r.IntN(2) == 1 {
				c.k.Signs[sb+p/8] |= 1 << (p % 8)
				x = -x
			}
			c.dense[row*d+j] = x
			p++
		}
	}
	if signs && slack {
		c.k.Signs = append(make([]byte, 0, len(c.k.Signs)+SignSlack), c.k.Signs...)
	} else if signs {
		c.k.Signs = c.k.Signs[:len(c.k.Signs):len(c.k.Signs)]
	}
	if !slack {
		c.k.Kept = c.k.Kept[:len(c.k.Kept):len(c.k.Kept)]
	}
	for range n * d {
		e, x := storeElem[E](float32(r.NormFloat64()))
		c.v, c.v64 = append(c.v, e), append(c.v64, x)
	}
	return c
}

// kernelPaths returns the kernel sets to compare: every set the CPU runs (the assembly masked
// kernel runs under the AVX-512 one when the CPU has BMI2/VBMI2).
func kernelPaths(t *testing.T) []kernelSet {
	t.Cleanup(func(use kernelSet) func() { return func() { attendUse = use } }(attendUse))
	return attendKernels
}

// TestMaskedScores checks the masked score kernels (assembly and Go) against scores computed in
// float64 from the dense rows the records stand for, on awkward sizes: head dims that are and are
// not multiples of 16, one row, rows across a block boundary, shared masks, no recovery, and sign
// streams without slack. The tolerance is float32 accumulation error: a few ulps of Σ|q·k|.
func TestMaskedScores(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, path := range kernelPaths(t) {
		attendUse = path
		for _, d := range []int{16, 20, 48, 64, 128, 256} {
			for _, n := range []int{1, 5, attendBlock + 3} {
				for _, o := range []struct{ shared, signs, slack bool }{{false, true, true}, {false, true, false}, {false, false, false}, {true, true, true}, {true, false, false}} {
					name := fmt.Sprintf("%s/d%d/n%d/%+v", path, d, n, o)
					checkMaskedScores(t, name+"/f16", newMaskedCase[uint16](r, d, n, o.shared, o.signs, o.slack))
					checkMaskedScores(t, name+"/f32", newMaskedCase[float32](r, d, n, o.shared, o.signs, o.slack))
				}
			}
		}
	}
}

func checkMaskedScores[E uint16 | float32](t *testing.T, name string, c maskedCase[E]) {
	t.Helper()
	d := c.k.D
	n := len(c.dense) / d
	r := rand.New(rand.NewPCG(uint64(d), uint64(n)))
	q := randNormals(r, quad*d)
	var a QuadAttention
	a.Start(q, d, 1)
	for r0 := 0; r0 < n; r0 += attendBlock {
		nb := min(attendBlock, n-r0)
		kp, sp := c.k.streams(0, r0)
		blk := c.k
		if c.k.MaskStride != 0 {
			blk.Mask = c.k.Mask[r0*c.k.MaskStride:]
		}
		blk.Kept = c.k.Kept[kp:]
		if c.k.Signs != nil {
			blk.Signs, blk.Alpha = c.k.Signs[sp:], c.k.Alpha[r0:]
		}
		s := make([]float32, nb*quad)
		maskedScores(&a, s, &blk, nil)
		for row := range nb {
			for h := range quad {
				var want, mag float64
				for j := range d {
					x := float64(q[h*d+j]) * c.dense[(r0+row)*d+j]
					want += x
					mag += math.Abs(x)
				}
				if got := float64(s[row*quad+h]); math.Abs(got-want) > 1e-6*mag+1e-30 {
					t.Fatalf("%s: row %d head %d: score %v, want %v", name, r0+row, h, got, want)
				}
			}
		}
	}
}

// TestQuadAttentionMasked checks whole attentions: masked rows followed by dense tail rows, every
// kernel set, against a float64 two-pass softmax over the dense rows. The tolerance is relative to
// the largest value: the online softmax's float32 rescaling and summation error.
func TestQuadAttentionMasked(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, path := range kernelPaths(t) {
		attendUse = path
		for _, d := range []int{20, 64, 128} {
			for _, n := range []int{0, 1, 2*attendBlock + 7} {
				name := fmt.Sprintf("%s/d%d/n%d", path, d, n)
				checkQuadAttention(t, name+"/f16", r, newMaskedCase[uint16](r, d, n, false, true, true))
				checkQuadAttention(t, name+"/f32", r, newMaskedCase[float32](r, d, n, false, true, true))
			}
		}
	}
}

func checkQuadAttention[E uint16 | float32](t *testing.T, name string, r *rand.Rand, c maskedCase[E]) {
	t.Helper()
	d := c.k.D
	n := len(c.dense) / d
	const tail = 9
	tk, tv := make([]float32, tail*d), make([]float32, tail*d)
	for i := range tk {
		tk[i], tv[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	q := make([]float32, quad*d)
	for i := range q {
		q[i] = float32(r.NormFloat64()) / 2
	}
	scale := float32(1 / math.Sqrt(float64(d)))
	var a QuadAttention
	a.Start(q, d, scale)
	AttendMasked(&a, &c.k, c.v, n)
	AttendRows(&a, tk, tv)
	got := make([]float32, quad*d)
	a.Finish(got)
	for h := range quad {
		w := make([]float64, n+tail)
		mx := math.Inf(-1)
		for row := range n + tail {
			for j := range d {
				var k float64
				if row < n {
					k = c.dense[row*d+j]
				} else {
					k = float64(tk[(row-n)*d+j])
				}
				w[row] += float64(q[h*d+j]) * k
			}
			w[row] *= float64(scale)
			mx = max(mx, w[row])
		}
		var sum float64
		for row := range w {
			w[row] = math.Exp(w[row] - mx)
			sum += w[row]
		}
		for j := range d {
			var want, vmax float64
			for row := range w {
				var v float64
				if row < n {
					v = c.v64[row*d+j]
				} else {
					v = float64(tv[(row-n)*d+j])
				}
				want += w[row] / sum * v
				vmax = max(vmax, math.Abs(v))
			}
			if g := float64(got[h*d+j]); math.Abs(g-want) > 1e-5*vmax {
				t.Fatalf("%s: head %d channel %d: %v, want %v", name, h, j, g, want)
			}
		}
	}
}

// TestMaskedScoresAsmMatchesGo compares every assembly kernel set the CPU runs (AVX2 and, where
// present, AVX-512, which falls back to the AVX2 kernel on a sign stream without slack) with the
// pure-Go kernel on every head dim the assembly covers (multiples of 16 up to 256) and row counts
// from 1 to 259, with per-row and shared masks, with and without recovery, and with kept and sign
// streams that have or lack spare capacity. Both kernels accumulate in float32 in different
// orders, so each may be a few ulps of Σ|q·k̂| off the exact score: 2e-6 of it bounds the gap.
func TestMaskedScoresAsmMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	opts := []struct{ shared, signs, slack bool }{
		{false, true, true}, {false, true, false}, {false, false, false}, {false, false, true},
		{true, true, true}, {true, true, false}, {true, false, false},
	}
	// The first set is the Go one; a CPU without AVX2 has no other (and runs no assembly).
	for _, path := range kernelPaths(t)[1:] {
		for d := 16; d <= 256; d += 16 {
			for _, n := range []int{1, 2, 2 + r.IntN(257), attendBlock + 3} {
				for _, o := range opts {
					name := fmt.Sprintf("%s/d%d/n%d/%+v", path, d, n, o)
					compareMaskedAsm(t, name+"/f16", path, newMaskedCase[uint16](r, d, n, o.shared, o.signs, o.slack))
					compareMaskedAsm(t, name+"/f32", path, newMaskedCase[float32](r, d, n, o.shared, o.signs, o.slack))
				}
			}
		}
	}
}

func compareMaskedAsm[E uint16 | float32](t *testing.T, name string, path kernelSet, c maskedCase[E]) {
	t.Helper()
	d := c.k.D
	n := len(c.dense) / d
	r := rand.New(rand.NewPCG(uint64(d), uint64(n)))
	q := randNormals(r, quad*d)
	want, got := make([]float32, n*quad), make([]float32, n*quad)
	var ag, aa QuadAttention
	ag.Start(q, d, 1)
	gk, gs := maskedScoresGo(&ag, want, &c.k)
	attendUse = path
	aa.Start(q, d, 1)
	ok, ak, as := maskedScoresAsm(&aa, got, &c.k, nil)
	if !ok {
		t.Fatalf("%s: the assembly did not run", name)
	}
	// Both kernels must report the streams the rows took, which AttendMasked's blocks follow.
	wk, ws := c.k.streams(0, n)
	if gk != wk || gs != ws || ak != wk || as != ws {
		t.Fatalf("%s: streams used: Go %d kept %d signs, assembly %d, %d; want %d, %d", name, gk, gs, ak, as, wk, ws)
	}
	for row := range n {
		for h := range quad {
			var mag float64
			for j := range d {
				mag += math.Abs(float64(q[h*d+j]) * c.dense[row*d+j])
			}
			g, w := float64(got[row*quad+h]), float64(want[row*quad+h])
			if math.Abs(g-w) > 2e-6*mag+1e-30 {
				t.Fatalf("%s: row %d head %d: assembly %v, Go %v", name, row, h, g, w)
			}
		}
	}
}

// TestMaskedScoresAsmTaken checks that an assembly kernel runs under every assembly kernel set
// (AVX2, and AVX-512 with or without BMI2/VBMI2) for a head dim that is a multiple of 16, and that
// none runs under the Go set or for other head dims, so the comparisons above test the assembly.
func TestMaskedScoresAsmTaken(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, path := range kernelPaths(t) {
		attendUse = path
		for _, d := range []int{24, 64} {
			c16 := newMaskedCase[uint16](r, d, 3, false, true, true)
			c32 := newMaskedCase[float32](r, d, 3, false, true, true)
			var a QuadAttention
			a.Start(make([]float32, quad*d), d, 1)
			s := make([]float32, 3*quad)
			want := path != kernelsGo && d%16 == 0
			if got, _, _ := maskedScoresAsm(&a, s, &c32.k, nil); got != want {
				t.Errorf("%s d%d f32 rows: assembly ran %v, want %v", path, d, got, want)
			}
			if got, _, _ := maskedScoresAsm(&a, s, &c16.k, nil); got != want {
				t.Errorf("%s d%d f16 rows: assembly ran %v, want %v", path, d, got, want)
			}
		}
	}
}

// randNormals returns n values ~N(0,1) drawn from r.
func randNormals(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}
