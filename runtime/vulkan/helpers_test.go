//go:build cgo

package vulkan

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// config is one set of backend choices every op test runs under, so that each shader variant
// (subgroup or shared-memory reductions, 16-bit storage or 32-bit words, direct or staged memory)
// is checked against the reference.
type config struct {
	name string
	mod  func(*Options)
}

var configs = []config{
	{"default", func(*Options) {}},
	{"nosubgroup", func(o *Options) { o.NoSubgroup = true }},
	{"nof16", func(o *Options) { o.NoF16 = true }},
	// staging also takes both fallbacks: the configuration of a discrete GPU without subgroup
	// arithmetic or 16-bit storage.
	{"staging", func(o *Options) { o.ForceStaging = true; o.NoSubgroup = true; o.NoF16 = true }},
}

// openTest opens a validated context with mod applied to the environment's options. The test
// fails if any validation message is reported while it runs or when the context closes. Without
// a Vulkan device the test fails, unless SPARKRUN_VK_OPTIONAL=1 (machines without lavapipe).
func openTest(t testing.TB, mod func(*Options)) *Context {
	t.Helper()
	o, err := OptionsFromEnv("auto")
	if err != nil {
		t.Fatal(err)
	}
	o.Validate = true
	mod(&o)
	c, err := Open(o)
	if errors.Is(err, ErrNoDevice) && os.Getenv("SPARKRUN_VK_OPTIONAL") == "1" {
		t.Skipf("no Vulkan device and SPARKRUN_VK_OPTIONAL=1: %v", err)
	}
	if err != nil {
		t.Fatalf("opening Vulkan (install mesa-vulkan-drivers and vulkan-validationlayers, or set SPARKRUN_VK_OPTIONAL=1 to skip): %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// openBench opens a context for a benchmark: no validation (its checks would be timed), kernel
// timestamps on (discarded as text; the benchmarks read KernelTimes).
func openBench(b *testing.B) *Context {
	b.Helper()
	return openTest(b, func(o *Options) {
		o.Validate = false
		o.DebugKernels, o.DebugOut = true, io.Discard
	})
}

// forEachConfig runs f in a subtest per config, each with its own context.
func forEachConfig(t *testing.T, f func(t *testing.T, c *Context)) {
	for _, cf := range configs {
		t.Run(cf.name, func(t *testing.T) {
			c := openTest(t, cf.mod)
			f(t, c)
			if msgs := c.ValidationMessages(); len(msgs) > 0 {
				t.Fatalf("validation messages:\n%s", strings.Join(msgs, "\n"))
			}
		})
	}
}

// beginRecorder returns a new recorder of c with a recording begun; the caller closes it.
func beginRecorder(t testing.TB, c *Context) *Recorder {
	t.Helper()
	r, err := c.NewRecorder()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Begin(); err != nil {
		r.Close()
		t.Fatal(err)
	}
	return r
}

// run records ops into one submission and submits it.
func run(t *testing.T, c *Context, ops func(r *Recorder) error) {
	t.Helper()
	r := beginRecorder(t, c)
	defer r.Close()
	if err := ops(r); err != nil {
		t.Fatal(err)
	}
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
}

// f32Buffer uploads v to a new buffer that is closed with the test.
func f32Buffer(t testing.TB, c *Context, v []float32) *Buffer {
	t.Helper()
	b := newBuf(t, c, 4*uint64(len(v)))
	if err := b.WriteF32(0, v); err != nil {
		t.Fatal(err)
	}
	return b
}

// newBuf creates a buffer of n bytes that is closed with the test.
func newBuf(t testing.TB, c *Context, n uint64) *Buffer {
	t.Helper()
	b, err := c.NewBuffer(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// readF32 downloads n f32 values from b.
func readF32(t testing.TB, b *Buffer, n int) []float32 {
	t.Helper()
	out := make([]float32, n)
	if err := b.ReadF32(0, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// randF32 returns n values uniform in [-1, 1).
func randF32(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 2*rng.Float32() - 1
	}
	return v
}

// randHalf returns a random normal f16 with magnitude in [2^-14, 2) (no subnormals, whose
// handling drivers may flush).
func randHalf(rng *rand.Rand) uint16 {
	sign := uint16(rng.IntN(2)) << 15
	exp := uint16(1 + rng.IntN(15)) // biased 1..15: 2^-14 .. 2^0
	return sign | exp<<10 | uint16(rng.IntN(1024))
}

// halfToFloat decodes an IEEE binary16 value (written from the format definition, independent of
// the shaders' unpackHalf2x16).
func halfToFloat(h uint16) float32 {
	sign := float32(1)
	if h&0x8000 != 0 {
		sign = -1
	}
	exp, man := int(h>>10&0x1f), float64(h&0x3ff)
	switch exp {
	case 0:
		return sign * float32(man*math.Pow(2, -24))
	case 31:
		if man == 0 {
			return sign * float32(math.Inf(1))
		}
		return float32(math.NaN())
	}
	return sign * float32((1+man/1024)*math.Pow(2, float64(exp-15)))
}

// randHalves returns n random f16 values as little-endian bytes and as decoded f32.
func randHalves(rng *rand.Rand, n int) ([]byte, []float32) {
	raw, vals := make([]byte, 2*n), make([]float32, n)
	for i := range vals {
		h := randHalf(rng)
		binary.LittleEndian.PutUint16(raw[2*i:], h)
		vals[i] = halfToFloat(h)
	}
	return raw, vals
}

// randQ8_0 returns n/32 random Q8_0 blocks (f16 scale d, 32 int8 q; value q*d) and the
// values they encode.
func randQ8_0(rng *rand.Rand, n int) ([]byte, []float32) {
	raw, vals := make([]byte, 0, n/32*34), make([]float32, n)
	for b := 0; b < n/32; b++ {
		d := scaleHalf(rng)
		raw = binary.LittleEndian.AppendUint16(raw, d)
		for j := 0; j < 32; j++ {
			q := int8(rng.IntN(255) - 127)
			raw = append(raw, byte(q))
			vals[32*b+j] = halfToFloat(d) * float32(q)
		}
	}
	return raw, vals
}

// randQ4_0 returns n/32 random Q4_0 blocks (f16 scale d, 16 bytes whose low nibbles are elements
// 0..15 and high nibbles 16..31; value (q-8)*d) and the values they encode.
func randQ4_0(rng *rand.Rand, n int) ([]byte, []float32) {
	raw, vals := make([]byte, 0, n/32*18), make([]float32, n)
	for b := 0; b < n/32; b++ {
		d := scaleHalf(rng)
		raw = binary.LittleEndian.AppendUint16(raw, d)
		for j := 0; j < 16; j++ {
			lo, hi := rng.IntN(16), rng.IntN(16)
			raw = append(raw, byte(lo|hi<<4))
			vals[32*b+j] = halfToFloat(d) * float32(lo-8)
			vals[32*b+16+j] = halfToFloat(d) * float32(hi-8)
		}
	}
	return raw, vals
}

// scaleHalf returns a random positive or negative f16 block scale of magnitude about 1/64..1/8,
// like those of real quantized weights.
func scaleHalf(rng *rand.Rand) uint16 {
	return uint16(rng.IntN(2))<<15 | uint16(9+rng.IntN(3))<<10 | uint16(rng.IntN(1024))
}

// f32Bytes encodes v as little-endian f32.
func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// checkClose fails the test at the first element where |got-want| > tol[i] (tol of length 1
// applies to all elements).
func checkClose(t *testing.T, what string, got []float32, want []float64, tol []float64) {
	t.Helper()
	worst, at := 0.0, -1
	for i := range want {
		tl := tol[0]
		if len(tol) > 1 {
			tl = tol[i]
		}
		e := math.Abs(float64(got[i]) - want[i])
		if !(e <= tl) { // also catches NaN
			t.Fatalf("%s: element %d = %g, want %g (|err| %.3g > tol %.3g)", what, i, got[i], want[i], e, tl)
		}
		if e > worst {
			worst, at = e, i
		}
	}
	t.Logf("%s: %d elements, max |err| %.3g at %d", what, len(want), worst, at)
}
