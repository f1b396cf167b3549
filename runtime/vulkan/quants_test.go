//go:build cgo

package vulkan

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// halfFields lists, per block type, the byte offsets of its f16 fields (scales and mins) within
// a block. randBlocks overwrites them with realistic scales: the other bytes stay uniformly
// random, so that every level, packed 6-bit scale, sign and high-bit pattern occurs, while no
// scale is NaN, infinite or subnormal (which ggml's own quantizers never write).
var halfFields = map[ggml.Type][]int{
	ggml.TypeQ8_0: {0}, ggml.TypeQ4_0: {0}, ggml.TypeQ4_1: {0, 2}, ggml.TypeQ5_0: {0}, ggml.TypeQ5_1: {0, 2},
	ggml.TypeIQ4_NL: {0}, ggml.TypeQ2_K: {80, 82}, ggml.TypeQ3_K: {108}, ggml.TypeQ4_K: {0, 2},
	ggml.TypeQ5_K: {0, 2}, ggml.TypeQ6_K: {208}, ggml.TypeIQ4_XS: {0},
}

// randBlocks returns a random [rows][cols] matrix of type t in ggml layout and its values as
// ggml's reference dequantizer (package ggml, bit-exact with llama.cpp) decodes them.
func randBlocks(t testing.TB, rng *rand.Rand, typ ggml.Type, rows, cols int) ([]byte, []float32) {
	t.Helper()
	n := rows * cols
	size, err := ggml.RowBytes(typ, int64(n))
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, size)
	if typ == ggml.TypeBF16 {
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint16(raw[2*i:], ggml.FP32ToBF16(2*rng.Float32()-1))
		}
	} else {
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		ts := typ.TypeSize()
		for b := 0; b < len(raw); b += ts {
			for _, off := range halfFields[typ] {
				binary.LittleEndian.PutUint16(raw[b+off:], scaleHalf(rng))
			}
		}
	}
	vals := make([]float32, n)
	if err := ggml.Dequantize(typ, raw, vals); err != nil {
		t.Fatal(err)
	}
	return raw, vals
}

// quantTypes are the weight types beyond F32, F16, Q8_0 and Q4_0 (which ops_test.go covers with
// its own generators), with awkward shapes: row counts that fill no workgroup evenly and column
// counts of one, a few, and many blocks.
var quantTypes = []struct {
	t     ggml.Type
	rows  []int
	cols  []int
	split int // columns for the split test
}{
	{ggml.TypeQ4_K, []int{1, 37, 131}, []int{256, 768, 2304}, 256},
	{ggml.TypeQ6_K, []int{1, 37, 131}, []int{256, 768, 2304}, 256},
	{ggml.TypeQ5_K, []int{1, 37, 131}, []int{256, 1280}, 256},
	{ggml.TypeQ3_K, []int{1, 37, 131}, []int{256, 1280}, 256},
	{ggml.TypeQ2_K, []int{1, 37, 131}, []int{256, 1280}, 256},
	{ggml.TypeIQ4_XS, []int{1, 37, 131}, []int{256, 1280}, 256},
	{ggml.TypeQ4_1, []int{1, 37, 131}, []int{32, 96, 2080}, 96},
	{ggml.TypeQ5_0, []int{1, 37, 131}, []int{32, 96, 2080}, 96},
	{ggml.TypeQ5_1, []int{1, 37, 131}, []int{32, 96, 2080}, 96},
	{ggml.TypeIQ4_NL, []int{1, 37, 131}, []int{32, 96, 2080}, 96},
	{ggml.TypeBF16, []int{1, 37, 131}, []int{1, 77, 1000}, 88}, // 1000 and 88: whole 8-element units
}

// TestQuantMatVecGetRows checks the matvec and getrows kernels of every quant type against
// ggml's dequantizer and a float64 product, under every backend configuration, with the
// validation layer on. Rows gathered by getrows must equal the dequantized values exactly: each
// kernel performs ggml's f32 operations in ggml's order. Matvec sums are held to sumTol.
func TestQuantMatVecGetRows(t *testing.T) {
	forEachConfig(t, func(t *testing.T, c *Context) {
		rng := rand.New(rand.NewPCG(21, 22))
		for _, q := range quantTypes {
			for i, rows := range q.rows {
				cols := q.cols[i%len(q.cols)]
				if testing.Short() && rows*cols > 100_000 {
					continue
				}
				raw, w := randBlocks(t, rng, q.t, rows, cols)
				m := upload(t, c, "w", q.t, rows, cols, raw)
				checkMatVec(t, c, m, w, rng, 1)
				checkMatVec(t, c, m, w, rng, 1+i*4) // 1, 5, 9 vectors: matvec, one matmul tile, a partial second tile
				checkGetRows(t, c, m, w, rng)
			}
		}
	})
}

// checkMatVec runs y = W x for n random vectors in one dispatch and compares with the float64
// product of W's reference values w.
func checkMatVec(t *testing.T, c *Context, m *Matrix, w []float32, rng *rand.Rand, n int) {
	t.Helper()
	x := randF32(rng, n*m.Cols)
	xb, yb := f32Buffer(t, c, x), newBuf(t, c, 4*uint64(n*m.Rows))
	run(t, c, func(r *Recorder) error { return r.MatVec(m, xb.All(), yb.All(), n) })
	got := readF32(t, yb, n*m.Rows)
	for j := 0; j < n; j++ {
		want, mag := matvecRef(w, x[j*m.Cols:], m.Rows, m.Cols)
		checkClose(t, fmt.Sprintf("matvec %v %dx%d in %d chunk(s), vec %d", m.Type, m.Rows, m.Cols, m.Chunks(), j),
			got[j*m.Rows:(j+1)*m.Rows], want, sumTol(mag))
	}
}

// checkGetRows gathers random rows (first and last included, one repeated) and compares them
// with w exactly.
func checkGetRows(t *testing.T, c *Context, m *Matrix, w []float32, rng *rand.Rand) {
	t.Helper()
	ids := []uint32{uint32(m.Rows - 1), 0, uint32(rng.IntN(m.Rows)), 0}
	ib, ob := newBuf(t, c, 4*uint64(len(ids))), newBuf(t, c, 4*uint64(len(ids)*m.Cols))
	if err := ib.WriteU32(0, ids); err != nil {
		t.Fatal(err)
	}
	run(t, c, func(r *Recorder) error { return r.GetRows(m, ib.All(), ob.All(), len(ids)) })
	checkRows(t, fmt.Sprintf("getrows %v %dx%d", m.Type, m.Rows, m.Cols), readF32(t, ob, len(ids)*m.Cols), w, ids, m.Cols)
}

// TestQuantSplit lowers the binding limit so that matrices of every quant type are split into
// chunks (whose blocks then start at a chunk-relative offset), and checks both kernels.
func TestQuantSplit(t *testing.T) {
	c := openTest(t, func(o *Options) { o.MaxBindingBytes = 8192 })
	rng := rand.New(rand.NewPCG(23, 24))
	for _, q := range quantTypes {
		const rows = 301
		raw, w := randBlocks(t, rng, q.t, rows, q.split)
		m := upload(t, c, "w", q.t, rows, q.split, raw)
		if m.Chunks() < 2 {
			t.Fatalf("%v: %d chunk(s), want a split", q.t, m.Chunks())
		}
		checkMatVec(t, c, m, w, rng, 1)
		checkMatVec(t, c, m, w, rng, 6) // matmul: 6 vectors keep x and y under the 8192-byte binding
		checkGetRows(t, c, m, w, rng)
	}
}

// TestInt8Storage checks the Q8_0 kernels with int8 read through 8-bit storage (the default
// where the device has storageBuffer8BitAccess and shaderInt8) and with the word-read fallback
// NoInt8 (SPARKRUN_VK_NO_INT8) selects, with and without subgroups: the right module is chosen
// and both compute the reference result.
func TestInt8Storage(t *testing.T) {
	for _, cf := range []config{
		{"default", func(o *Options) { o.NoInt8 = false }},
		{"noint8", func(o *Options) { o.NoInt8 = true }},
		{"default-nosubgroup", func(o *Options) { o.NoInt8, o.NoSubgroup = false, true }},
		{"noint8-nosubgroup", func(o *Options) { o.NoInt8, o.NoSubgroup = true, true }},
	} {
		t.Run(cf.name, func(t *testing.T) {
			c := openTest(t, cf.mod)
			rng := rand.New(rand.NewPCG(25, 26))
			for _, s := range []struct{ rows, cols int }{{1, 32}, {37, 96}, {333, 2080}} {
				raw, w := randQ8_0(rng, s.rows*s.cols)
				m := upload(t, c, "w", ggml.TypeQ8_0, s.rows, s.cols, raw)
				checkMatVec(t, c, m, w, rng, 1) // matvec kernel
				checkMatVec(t, c, m, w, rng, 3) // matmul kernel
				checkGetRows(t, c, m, w, rng)
			}
			wantI8 := c.Info.Storage8Bit && c.Info.Int8 && !c.opts.NoInt8
			// The kernels with an i8 build (shaders/*.comp "variants:" lines); matmul_q8_0 reads
			// whole blocks through wider words either way.
			for _, k := range []string{"matvec_q8_0", "getrows_q8_0"} {
				p, ok := c.pipes[k]
				if !ok {
					t.Fatalf("kernel %s was not built", k)
				}
				if strings.HasSuffix(p.spv, "_i8") != wantI8 {
					t.Errorf("kernel %s used module %s; want int8 storage=%v", k, p.spv, wantI8)
				}
			}
		})
	}
}

// BenchmarkQuantMatVec times one 2048x2048 product per submission for each quant type (and Q8_0
// with and without int8 storage), without validation, as BenchmarkMatVec does for the float
// types: with 1 vector (decode: the matvec kernel) and 16 (prefill: the matmul kernel). MB/s is
// weight bandwidth, min-gpu-us the dispatch's own time.
func BenchmarkQuantMatVec(b *testing.B) {
	const n = 2048
	for _, cf := range []config{{"", func(*Options) {}}, {"-noint8", func(o *Options) { o.NoInt8 = true }}} {
		c := openTest(b, func(o *Options) {
			cf.mod(o)
			o.Validate, o.DebugKernels, o.DebugOut = false, true, io.Discard
		})
		rng := rand.New(rand.NewPCG(1, 2))
		types := []ggml.Type{ggml.TypeQ8_0}
		if cf.name == "" {
			for _, q := range quantTypes {
				types = append(types, q.t)
			}
		}
		for _, tt := range types {
			raw, _ := randBlocks(b, rng, tt, n, n)
			m, err := c.UploadMatrix("w", tt, n, n, raw)
			if err != nil {
				b.Fatal(err)
			}
			for _, vecs := range []int{1, 16} {
				b.Run(fmt.Sprintf("%v%s/n%d", tt, cf.name, vecs), func(b *testing.B) {
					x, y := f32Buffer(b, c, randF32(rng, vecs*n)), newBuf(b, c, 4*uint64(vecs*n))
					r, err := c.NewRecorder()
					if err != nil {
						b.Fatal(err)
					}
					defer r.Close()
					b.SetBytes(int64(len(raw)))
					gpu := 1e300
					for b.Loop() {
						err := r.Begin()
						if err == nil {
							err = r.MatVec(m, x.All(), y.All(), vecs)
						}
						if err == nil {
							err = r.Submit()
						}
						if err != nil {
							b.Fatal(err)
						}
						for _, kt := range r.Times() {
							gpu = min(gpu, kt.Micros)
						}
					}
					b.ReportMetric(gpu, "min-gpu-us")
				})
			}
			m.Close()
		}
	}
}
