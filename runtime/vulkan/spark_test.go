//go:build cgo

package vulkan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/press"
	"github.com/sparkrun/sparkrun/press/presstest"
)

// casesDir is where the press keeps its golden cases (inside the repository).
const casesDir = "../../press/testdata/cases"

// mustCompress runs press name with o on in and returns its layer.
func mustCompress(t testing.TB, name string, o press.Options, in *press.Input) *press.CompressedLayer {
	t.Helper()
	p, err := press.New(name, o)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Compress(in)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res.Layer
}

// attendCase is one decode step to check: a compressed layer, a tail and queries.
type attendCase struct {
	name   string
	layer  *press.CompressedLayer
	tail   *press.DenseTail
	tail16 bool        // upload the tail as f16 (its values are f16-rounded)
	q      [][]float32 // [steps][n_heads][head_dim]
	nHeads int
}

// randTail returns a tail of n random tokens, rounded to dt, with spare capacity (so the kernel
// must use the capacity stride, not the length).
func randTail(t testing.TB, rng *rand.Rand, nKV, D, n int, dt press.DType) *press.DenseTail {
	tl := press.NewDenseTail(press.F32, nKV, D, n+3)
	round := func(xs []float32) []float32 {
		for i, x := range xs {
			xs[i] = dt.Round(x)
		}
		return xs
	}
	for range n {
		if err := tl.Append(round(randNorm(rng, nKV*D)), round(randNorm(rng, nKV*D))); err != nil {
			t.Fatal(err)
		}
	}
	return tl
}

// randNorm returns n standard normal values.
func randNorm(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// checkAttend uploads each case's layer and tail, runs AttendCompressed for every query and
// compares with press.CompressedLayer.Attend (the CPU decode kernel). Both are float32 online
// softmaxes over the same stored numbers and differ only in summation order (logits carry about
// D·2^-24 of the summed |q_j·k_j|), so outputs agree to a few 1e-6·max|V| (measured: at most
// 3.1e-6 absolute, max|V| ≈ 3-4); 1e-4·max|V| leaves a wide margin, while one wrong record (a
// flipped sign, a misplaced kept value, a stream shifted by one) moves logits by O(0.1) and fails
// it (checked by breaking the shader on purpose).
func checkAttend(t *testing.T, c *Context, cases []attendCase) {
	t.Helper()
	for _, ac := range cases {
		l := ac.layer
		dl, err := c.UploadCompressed(l)
		if err != nil {
			t.Fatalf("%s: %v", ac.name, err)
		}
		if n, err := LayoutBytes(l); err != nil || n != dl.Bytes() {
			t.Errorf("%s: LayoutBytes %d (%v), the uploaded layer takes %d", ac.name, n, err, dl.Bytes())
		}
		var tail DenseTail
		if ac.tail != nil && ac.tail.Len > 0 {
			// V follows K without padding, so the kernel must use both element offsets.
			n, dt, tt, es := uint64(len(ac.tail.K)), press.F32, ggml.TypeF32, uint64(4)
			if ac.tail16 {
				dt, tt, es = press.F16, ggml.TypeF16, 2
			}
			raw := wordBytes(appendElems(nil, append(append([]float32(nil), ac.tail.K...), ac.tail.V...), dt))
			tb := newBuf(t, c, uint64(len(raw)))
			if err := tb.Write(0, raw); err != nil {
				t.Fatal(err)
			}
			tail = DenseTail{K: Span{tb, 0, es * n}, V: Span{tb, es * n, es * n}, Cap: ac.tail.Cap(), Len: ac.tail.Len, KV: tt}
		}
		maxV := 0.0
		for _, x := range l.DType.Float32s(l.V, l.V16) {
			maxV = max(maxV, math.Abs(float64(x)))
		}
		if ac.tail != nil {
			for _, x := range ac.tail.V {
				maxV = max(maxV, math.Abs(float64(x)))
			}
		}
		for s, q := range ac.q {
			want := make([]float32, len(q))
			if err := l.Attend(want, q, ac.nHeads, ac.tail, nil); err != nil {
				t.Fatalf("%s: %v", ac.name, err)
			}
			w64 := make([]float64, len(want))
			for i, x := range want {
				w64[i] = float64(x)
			}
			got := deviceAttend(t, c, dl, tail, q, ac.nHeads)
			checkClose(t, fmt.Sprintf("%s step %d", ac.name, s), got, w64, []float64{1e-4 * maxV})
		}
		dl.Close()
	}
}

// deviceAttend runs AttendCompressed for the queries q ([nHeads][head_dim]) and returns the output.
func deviceAttend(t *testing.T, c *Context, dl *CompressedLayer, tail DenseTail, q []float32, nHeads int) []float32 {
	t.Helper()
	qb, ob := f32Buffer(t, c, q), newBuf(t, c, 4*uint64(len(q)))
	run(t, c, func(r *Recorder) error { return r.AttendCompressed(qb.All(), dl, tail, ob.All(), nHeads) })
	return readF32(t, ob, len(q))
}

// TestAttendCompressedGolden runs every press golden case (whatever its name) through its press
// and checks the shader's decode attention on the compressed layer against the CPU kernel for
// each of the case's decode queries, without a tail and with a 5-token tail, and the former also
// against the case's float64 reference output.
func TestAttendCompressedGolden(t *testing.T) {
	golden, err := presstest.LoadDir(casesDir)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(21, 22))
	var cases []attendCase
	layouts := map[string]int{}
	for _, pc := range golden {
		_, res, err := pc.Compress()
		if err != nil {
			t.Fatal(err)
		}
		l := res.Layer
		var qs [][]float32
		for s := range pc.Shape.L {
			qs = append(qs, pc.DecodeQuery(s))
		}
		layouts[fmt.Sprintf("%T", l.Keys)]++
		cases = append(cases,
			attendCase{pc.Name, l, nil, false, qs, pc.Shape.H},
			attendCase{pc.Name + " tail 5", l, randTail(t, rng, l.NKVHeads, l.HeadDim, 5, press.F32), false, qs[:1], pc.Shape.H})
	}
	t.Logf("%d cases, key layouts %v", len(golden), layouts)
	forEachConfig(t, func(t *testing.T, c *Context) {
		checkAttend(t, c, cases)
		// The no-tail decode also against the case's own float64 reference (decode_output),
		// with the press README's float32 tolerance for it: 1e-4 of the array's largest value.
		for k, pc := range golden {
			ac := cases[2*k]
			want, err := pc.Floats("decode_output")
			if err != nil {
				t.Fatal(err)
			}
			dl, err := c.UploadCompressed(ac.layer)
			if err != nil {
				t.Fatal(err)
			}
			got := deviceDecode(t, c, dl, ac.q, pc.Shape)
			dl.Close()
			checkClose(t, ac.name+" vs float64 decode_output", got, want, []float64{1e-4 * maxAbs(want)})
		}
	})
}

// deviceDecode runs AttendCompressed without a tail for each decode query of a case ([L][H][D])
// and returns the outputs as the reference orders them, [H][L][D].
func deviceDecode(t *testing.T, c *Context, dl *CompressedLayer, qs [][]float32, s presstest.Shape) []float32 {
	t.Helper()
	got := make([]float32, s.H*s.L*s.D)
	for l, q := range qs {
		o := deviceAttend(t, c, dl, DenseTail{}, q, s.H)
		for h := range s.H {
			copy(got[(h*s.L+l)*s.D:(h*s.L+l+1)*s.D], o[h*s.D:(h+1)*s.D])
		}
	}
	return got
}

// randPressInput returns a synthetic layer like the press tests': Gaussian keys and queries with
// two large, biased outlier channels, Gaussian values, 64 window queries (SnapKV's window).
func randPressInput(rng *rand.Rand, H, nKV, T, D int) *press.Input {
	gauss := func(n int, outliers bool) []float32 {
		xs := randNorm(rng, n)
		if outliers {
			for i := range xs {
				if i%D == 1 || i%D == D/2+1 {
					xs[i] = 4 + 3*xs[i]
				}
			}
		}
		return xs
	}
	const W = 64
	return &press.Input{
		KV:      press.LayerKV{NKVHeads: nKV, T: T, HeadDim: D, K: gauss(nKV*T*D, true), V: gauss(nKV*T*D, false)},
		Window:  press.Queries{NHeads: H, W: W, HeadDim: D, Q: gauss(H*W*D, true)},
		NLayers: 8, LayerIdx: 3,
	}
}

// TestAttendCompressedShapes checks awkward shapes: head dims that are not multiples of 32 (mask
// words with unused bits), of 8 (mask bytes) or of 2 (value pairs across words), token counts
// across tile boundaries, tails that span tiles, GQA groups of 1, 3, 4, 5 and 6 (two workgroups
// per KV head), f16 and bf16 storage, and SparK's variable-length records (group mode), ThinK and
// token eviction; then the same cases with more token splits than tiles.
func TestAttendCompressedShapes(t *testing.T) {
	type shape struct {
		press  string
		o      press.Options
		H, nKV int
		T, D   int
		tail   int
	}
	shapes := []shape{
		{press: "spark", o: press.Options{KeyRatio: 0.5}, H: 4, nKV: 1, T: 1, D: 8, tail: 0},
		{press: "spark", o: press.Options{KeyRatio: 0.8, DType: press.F16}, H: 6, nKV: 2, T: 129, D: 20, tail: 5},
		{press: "spark", o: press.Options{KeyRatio: 0.5, DType: press.BF16}, H: 8, nKV: 2, T: 300, D: 64, tail: 70},
		{press: "spark", o: press.Options{KeyRatio: 0.8, Recovery: press.RecoveryZero}, H: 12, nKV: 2, T: 77, D: 72, tail: 5},
		{press: "spark", o: press.Options{Mode: press.ModeGroup}, H: 3, nKV: 3, T: 200, D: 72, tail: 70},
		{press: "spark", o: press.Options{Mode: press.ModeTopP, DType: press.F16}, H: 4, nKV: 2, T: 131, D: 64, tail: 0},
		{press: "think", o: press.Options{KeyRatio: 0.5, DType: press.F16}, H: 6, nKV: 2, T: 150, D: 20, tail: 5},
		{press: "snap_spark", o: press.Options{KeyRatio: 0.8, Budget: 100}, H: 8, nKV: 2, T: 260, D: 64, tail: 70},
		{press: "snapkv", o: press.Options{Budget: 90, DType: press.BF16}, H: 4, nKV: 2, T: 200, D: 72, tail: 5},
		{press: "streaming_llm", o: press.Options{TokenRatio: 0.5}, H: 2, nKV: 2, T: 300, D: 8, tail: 70},
		// An odd head dim: value pairs straddle words, and the last pair has one dim.
		{press: "spark", o: press.Options{KeyRatio: 0.5, DType: press.F16}, H: 4, nKV: 2, T: 140, D: 13, tail: 5},
		{press: "spark", o: press.Options{KeyRatio: 0.8}, H: 10, nKV: 2, T: 130, D: 33, tail: 3},
	}
	if testing.Short() {
		shapes = shapes[:4]
	}
	rng := rand.New(rand.NewPCG(23, 24))
	var cases []attendCase
	for _, s := range shapes {
		l := mustCompress(t, s.press, s.o, randPressInput(rng, s.H, s.nKV, s.T, s.D))
		var tail *press.DenseTail
		tail16 := s.o.DType == press.F16 // the usual pairing: an f16 cache with an f16 tail
		if s.tail > 0 {
			dt := press.F32
			if tail16 {
				dt = press.F16
			}
			tail = randTail(t, rng, s.nKV, s.D, s.tail, dt)
		}
		name := fmt.Sprintf("%s %+v H=%d kv=%d T=%d D=%d tail=%d", s.press, s.o, s.H, s.nKV, s.T, s.D, s.tail)
		cases = append(cases, attendCase{name, l, tail, tail16, [][]float32{randNorm(rng, s.H*s.D)}, s.H})
	}
	// A layer of no tokens: everything comes from the tail.
	empty := mustCompress(t, "spark", press.Options{KeyRatio: 0.5}, randPressInput(rng, 2, 1, 40, 20))
	empty = &press.CompressedLayer{NKVHeads: 1, HeadDim: 20, Keys: &press.SparKKeys{Rho: empty.Keys.(*press.SparKKeys).Rho,
		MaskBytes: 3, KeptStart: []int{0, 0}, SignStart: []int{0, 0}, Alpha: []float32{}, Signs: []byte{}}, V: []float32{}}
	cases = append(cases, attendCase{"no compressed tokens", empty, randTail(t, rng, 1, 20, 9, press.F16), true, [][]float32{randNorm(rng, 2*20)}, 2})
	forEachConfig(t, func(t *testing.T, c *Context) { checkAttend(t, c, cases) })
	// More splits than any case has tiles (at most 3): every workgroup finds its split's
	// checkpoint, and the empty splits weigh nothing in the merge.
	t.Run("splits", func(t *testing.T) {
		c := openTest(t, func(*Options) {})
		c.forceSplits = 5
		checkAttend(t, c, cases)
	})
}

// TestSplits checks the token split choice: enough splits for the target number of workgroups
// (splitWorkgroups on a GPU, a few on a CPU driver), never more than one per tile, and no split
// left without tokens.
func TestSplits(t *testing.T) {
	for _, c := range []struct{ wgs, tokens, target, want int }{
		{8, 4096, splitWorkgroups, 16}, // Llama-3.2-1B: 8 KV heads × 16 splits of 2 tiles
		{8, 100, splitWorkgroups, 1},   // one tile
		{2, 300, splitWorkgroups, 3},   // one split per tile
		{128, 10000, splitWorkgroups, 1},
		{8, 129, splitWorkgroups, 2},
		{40, 1000, splitWorkgroups, 4},    // 8 tiles: 4 splits of 2
		{32, 6 * 128, splitWorkgroups, 3}, // 4 wanted, but splits of 2 tiles need only 3 (a 4th would be empty)
		{20, 5 * 128, splitWorkgroups, 5},
		{8, 4096, 4, 1}, // a 2-core CPU driver: the KV heads are enough
		{1, 4096, 4, 4},
		{3, 40, 0, 1}, // a target below the workgroups: no split
	} {
		got := splits(c.wgs, c.tokens, c.target)
		if got != c.want {
			t.Errorf("splits(%d, %d, %d) = %d, want %d", c.wgs, c.tokens, c.target, got, c.want)
		}
		tiles := (c.tokens + wgSize - 1) / wgSize
		if per := (tiles + got - 1) / got; (got-1)*per >= tiles {
			t.Errorf("splits(%d, %d, %d) = %d leaves a split of %d tiles empty", c.wgs, c.tokens, c.target, got, per)
		}
	}
}

// TestAttendCompressedDecodeSteps runs decode steps the way a model does: each submission
// stores the new token's key and value into the device tail with KVStore and then attends over
// the compressed layer plus the tail, with no host round trip; after each step the output must
// match the CPU kernel on a press.DenseTail holding the same tokens. The tail is f32 and f16
// (values pre-rounded to f16 so that the device's conversion is exact).
func TestAttendCompressedDecodeSteps(t *testing.T) {
	const H, nKV, D, T, steps = 8, 2, 64, 150, 4
	forEachConfig(t, func(t *testing.T, c *Context) {
		rng := rand.New(rand.NewPCG(27, 28))
		l := mustCompress(t, "snap_spark", press.Options{KeyRatio: 0.8, Budget: 90}, randPressInput(rng, H, nKV, T, D))
		dl, err := c.UploadCompressed(l)
		if err != nil {
			t.Fatal(err)
		}
		defer dl.Close()
		for _, tt := range []ggml.Type{ggml.TypeF32, ggml.TypeF16} {
			const capacity = 8 // K and V halves of 2·8·64 elements: offsets stay aligned
			es := uint64(4)
			dt := press.F32
			if tt == ggml.TypeF16 {
				es, dt = 2, press.F16
			}
			half := es * nKV * capacity * D
			tb := newBuf(t, c, 2*half)
			tail := DenseTail{K: Span{tb, 0, half}, V: Span{tb, half, half}, Cap: capacity, KV: tt}
			ref := press.NewDenseTail(press.F32, nKV, D, capacity)
			for step := range steps {
				k, v := randNorm(rng, nKV*D), randNorm(rng, nKV*D)
				for j := range k {
					k[j], v[j] = dt.Round(k[j]), dt.Round(v[j])
				}
				if err := ref.Append(k, v); err != nil {
					t.Fatal(err)
				}
				q := randNorm(rng, H*D)
				kb, vb, qb := f32Buffer(t, c, k), f32Buffer(t, c, v), f32Buffer(t, c, q)
				ob := newBuf(t, c, 4*H*D)
				store := KVStore{NKV: nKV, HeadDim: D, TMax: capacity, Pos: step, KV: tt}
				tail.Len = step + 1
				run(t, c, func(r *Recorder) error {
					if err := r.KVStore(kb.All(), tail.K, store); err != nil {
						return err
					}
					if err := r.KVStore(vb.All(), tail.V, store); err != nil {
						return err
					}
					return r.AttendCompressed(qb.All(), dl, tail, ob.All(), H)
				})
				want := make([]float32, H*D)
				if err := l.Attend(want, q, H, ref, nil); err != nil {
					t.Fatal(err)
				}
				w64 := make([]float64, len(want))
				for j, x := range want {
					w64[j] = float64(x)
				}
				// Values are standard normal (max|V| below 5): the checkAttend tolerance.
				checkClose(t, fmt.Sprintf("%v tail step %d", tt, step), readF32(t, ob, H*D), w64, []float64{5e-4})
			}
		}
	})
}

// TestAttendCompressedBadInput checks that malformed layers and operands are refused with an
// error naming the problem, and that nothing invalid reaches the device (validation stays quiet).
func TestAttendCompressedBadInput(t *testing.T) {
	c := openTest(t, func(*Options) {})
	rng := rand.New(rand.NewPCG(25, 26))
	good := mustCompress(t, "spark", press.Options{KeyRatio: 0.5}, randPressInput(rng, 4, 2, 70, 16))
	short := *good
	short.V = short.V[:10]
	wide := &press.CompressedLayer{NKVHeads: 1, NTokens: 1, HeadDim: 300, Keys: &press.DenseKeys{K: make([]float32, 300)}, V: make([]float32, 300)}
	for _, l := range []struct {
		what  string
		layer *press.CompressedLayer
		want  string
	}{{"short values", &short, "len(V)=10"}, {"head dim", wide, "head dim 300"}} {
		if _, err := c.UploadCompressed(l.layer); err == nil || !strings.Contains(err.Error(), l.want) {
			t.Errorf("%s: error %v, want one containing %q", l.what, err, l.want)
		}
	}
	dl, err := c.UploadCompressed(good)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	buf, other := newBuf(t, c, 4096), newBuf(t, c, 4096)
	r := beginRecorder(t, c)
	defer r.Close()
	q := buf.F32(0, 4*16)
	tail := func(k, v Span, cp, n int, tt ggml.Type) DenseTail {
		return DenseTail{K: k, V: v, Cap: cp, Len: n, KV: tt}
	}
	checks := []struct {
		what string
		err  error
		want string
	}{
		{"gqa", r.AttendCompressed(q, dl, DenseTail{}, q, 3), "3 query heads over 2"},
		{"short q", r.AttendCompressed(buf.F32(0, 8), dl, DenseTail{}, q, 4), "operand q has 32 bytes"},
		{"tail len", r.AttendCompressed(q, dl, tail(q, q, 2, 3, ggml.TypeF32), q, 4), "tail of 3 tokens with capacity 2"},
		{"tail buffers", r.AttendCompressed(q, dl, tail(buf.F32(0, 64), other.F32(0, 64), 2, 1, ggml.TypeF32), q, 4), "same buffer"},
		{"tail size", r.AttendCompressed(q, dl, tail(buf.F32(0, 63), buf.F32(64, 64), 2, 1, ggml.TypeF32), q, 4), "need 256"},
		{"tail type", r.AttendCompressed(q, dl, tail(q, q, 2, 1, ggml.TypeQ8_0), q, 4), "tail type"},
		{"tail offset", r.AttendCompressed(q, dl, tail(Span{buf, 2, 256}, buf.F32(64, 64), 2, 1, ggml.TypeF32), q, 4), "not whole"},
	}
	for _, ch := range checks {
		if ch.err == nil || !strings.Contains(ch.err.Error(), ch.want) {
			t.Errorf("%s: error %v, want one containing %q", ch.what, ch.err, ch.want)
		}
	}
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	if msgs := c.ValidationMessages(); len(msgs) > 0 {
		t.Fatalf("validation messages:\n%s", strings.Join(msgs, "\n"))
	}
}
