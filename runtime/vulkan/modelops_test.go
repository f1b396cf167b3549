//go:build cgo

package vulkan

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// TestAddRows adds a bias to every row, in place, for awkward row lengths; the f32 sum is exact
// to the rounding of one addition, which the float64 reference rounded to f32 reproduces.
func TestAddRows(t *testing.T) {
	forEachConfig(t, func(t *testing.T, c *Context) {
		rng := rand.New(rand.NewPCG(31, 32))
		for _, s := range []struct{ rows, width int }{{1, 1}, {3, 67}, {40, 130}} {
			x, bias := randF32(rng, s.rows*s.width), randF32(rng, s.width)
			xb, bb := f32Buffer(t, c, x), f32Buffer(t, c, bias)
			run(t, c, func(r *Recorder) error { return r.AddRows(xb.All(), bb.All(), xb.All(), s.rows, s.width) })
			want := make([]float64, len(x))
			for i := range x {
				want[i] = float64(x[i] + bias[i%s.width])
			}
			checkClose(t, fmt.Sprintf("add rows [%d][%d]", s.rows, s.width), readF32(t, xb, len(x)), want, []float64{0})
		}
	})
}

// TestGatherRows gathers rows of an f32 activation buffer, repeated and out of order, into a
// host-visible buffer, and reads them back without a staging submission.
func TestGatherRows(t *testing.T) {
	forEachConfig(t, func(t *testing.T, c *Context) {
		rng := rand.New(rand.NewPCG(33, 34))
		rows, cols := 13, 37
		src := randF32(rng, rows*cols)
		sb := f32Buffer(t, c, src)
		ids := []uint32{12, 0, 5, 5, 7}
		ib, err := c.NewHostBuffer(4 * uint64(len(ids)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ib.Close)
		ob, err := c.NewHostBuffer(4 * uint64(len(ids)*cols))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ob.Close)
		if err := ib.WriteU32(0, ids); err != nil {
			t.Fatal(err)
		}
		before := c.Submits()
		run(t, c, func(r *Recorder) error { return r.GatherRows(sb.All(), rows, cols, ib.All(), ob.All(), len(ids)) })
		got := readF32(t, ob, len(ids)*cols)
		if n := c.Submits() - before; n != 1 {
			t.Fatalf("gather with host-visible ids and output: %d submissions, want 1", n)
		}
		checkRows(t, "gather", got, src, ids, cols)
	})
}

// TestDiscard abandons a recording whose op failed and checks that the recorder then records and
// submits normally.
func TestDiscard(t *testing.T) {
	c := openTest(t, func(*Options) {})
	r, err := c.NewRecorder()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b := f32Buffer(t, c, []float32{1, 2, 3, 4})
	if err := r.Begin(); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(b.All(), b.All(), b.All(), 8); err == nil {
		t.Fatal("add of 8 elements over a 4-element buffer recorded without error")
	}
	if err := r.Discard(); err != nil {
		t.Fatal(err)
	}
	before := c.Submits()
	if err := r.Begin(); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(b.All(), b.All(), b.All(), 4); err != nil {
		t.Fatal(err)
	}
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	if n := c.Submits() - before; n != 1 {
		t.Fatalf("%d submissions after Discard, want 1", n)
	}
	checkClose(t, "doubled", readF32(t, b, 4), []float64{2, 4, 6, 8}, []float64{0})
}

// TestMatrixType lists the types UploadMatrix takes: the same as the CPU kernels (cpu.Supported).
func TestMatrixType(t *testing.T) {
	for typ, want := range map[ggml.Type]bool{
		ggml.TypeF32: true, ggml.TypeF16: true, ggml.TypeBF16: true, ggml.TypeQ8_0: true, ggml.TypeQ4_0: true,
		ggml.TypeQ4_1: true, ggml.TypeQ5_0: true, ggml.TypeQ5_1: true, ggml.TypeQ2_K: true, ggml.TypeQ3_K: true,
		ggml.TypeQ4_K: true, ggml.TypeQ5_K: true, ggml.TypeQ6_K: true, ggml.TypeIQ4_NL: true, ggml.TypeIQ4_XS: true,
		// Types the CPU kernels do not multiply either (cpu.Supported): activation formats, ternary, MXFP4.
		ggml.TypeQ8_1: false, ggml.TypeQ8_K: false, ggml.TypeTQ1_0: false, ggml.TypeTQ2_0: false, ggml.TypeMXFP4: false,
	} {
		if got := MatrixType(typ); got != want {
			t.Errorf("MatrixType(%v) = %v, want %v", typ, got, want)
		}
	}
}
