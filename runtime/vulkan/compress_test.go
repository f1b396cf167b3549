//go:build cgo

package vulkan

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/press"
	"github.com/sparkrun/sparkrun/press/presstest"
)

// compressCase is one layer to compress on the device and with the CPU press.
type compressCase struct {
	name    string
	press   string
	o       press.Options
	in      *press.Input
	decode  [][]float32 // [steps][n_heads][head_dim] decode queries
	want    []float64   // the float64 reference's decode output [H][L][D], or nil
	kv      ggml.Type   // cache type on the device
	slots   int         // compressor slots (LayerIdx < slots)
	extraTM int         // cache capacity beyond T, so that the shaders must use the stride
	// For the presses that score from prefill statistics (DevicePress.NeedsStats): the query rows
	// the device accumulates them from, [T][n_heads][head_dim] (observed: post-RoPE; expected:
	// pre-RoPE, the n_sink first rows filler that must not count), fed as prefill chunks of
	// the given sizes; inspect, if set, checks the device's scores and statistics after the
	// compression.
	prefill []float32
	chunks  []int
	inspect func(t *testing.T, cm *Compressor, st *PrefillStats)
	restart bool // prefill another prompt into the statistics first, then restart at position 0
}

// deviceCompress uploads the case's cache and window queries like a model holds them (a
// [n_kv_heads][T+extra][head_dim] cache of kv elements, a ring of window queries whose rows do
// not start at position 0), runs CompressLayer and returns the device layer (nil if the press
// kept everything).
func deviceCompress(t *testing.T, c *Context, cc compressCase) *CompressedLayer {
	t.Helper()
	dp, err := NewDevicePress(cc.press, cc.o)
	if err != nil {
		t.Fatal(err)
	}
	in := cc.in
	nKV, T, D, H := in.KV.NKVHeads, in.KV.T, in.KV.HeadDim, in.Window.NHeads
	tmax := T + cc.extraTM
	dt := press.F32
	if cc.kv == ggml.TypeF16 {
		dt = press.F16
	}
	cache := func(x []float32) Span {
		full := make([]float32, nKV*tmax*D)
		for i := range nKV {
			copy(full[i*tmax*D:], x[i*T*D:(i+1)*T*D])
		}
		raw := wordBytes(appendElems(nil, full, dt))
		b := newBuf(t, c, uint64(len(raw)))
		if err := b.Write(0, raw); err != nil {
			t.Fatal(err)
		}
		return b.All()
	}
	winCap := dp.Window() + 5 // not a divisor of T: rows wrap around the ring
	W := in.Window.W
	ring := make([]float32, winCap*H*D)
	for r := max(0, W-winCap); r < W; r++ {
		p := T - W + r
		for h := range H {
			copy(ring[(p%winCap*H+h)*D:][:D], in.Window.Q[(h*W+r)*D:][:D])
		}
	}
	cm, err := c.NewCompressor(cc.slots, T, H, nKV, D, dp.Window())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cm.Close)
	li := LayerInput{K: cache(in.KV.K), V: cache(in.KV.V), KV: cc.kv, TMax: tmax, Window: f32Buffer(t, c, ring).All(), WinCap: winCap,
		T: T, NHeads: H, NKV: nKV, HeadDim: D, LayerIdx: in.LayerIdx, NLayers: in.NLayers}
	if dp.NeedsStats() {
		li.Stats = deviceStats(t, c, dp, cc, li)
	}
	var dl *CompressedLayer
	run(t, c, func(r *Recorder) error {
		var err error
		dl, err = r.CompressLayer(dp, li, cm)
		return err
	})
	if cc.inspect != nil {
		cc.inspect(t, cm, li.Stats)
	}
	return dl
}

// deviceStats accumulates the case's prefill statistics on the device as a model's prefill
// does: one submission per chunk of cc.prefill, the keys of the whole prompt already in the
// cache (the observed shader reads only the positions each row sees).
func deviceStats(t *testing.T, c *Context, dp *DevicePress, cc compressCase, li LayerInput) *PrefillStats {
	t.Helper()
	qDim := li.NHeads * li.HeadDim
	st, err := c.NewPrefillStats(dp, StatsShape{NHeads: li.NHeads, NKV: li.NKV, HeadDim: li.HeadDim, TMax: li.TMax,
		MaxRows: slices.Max(cc.chunks), InvFreq: cc.in.RoPEInvFreq, NeoX: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	feed := func(prefill []float32) {
		pos := 0
		for _, n := range cc.chunks {
			q := f32Buffer(t, c, prefill[pos*qDim:(pos+n)*qDim])
			run(t, c, func(r *Recorder) error {
				if dp.token == "observed_attention" {
					return r.AccumulateObserved(st, q.All(), li.K, li.KV, n, pos)
				}
				return r.AccumulateExpected(st, q.All(), n, pos)
			})
			pos += n
		}
		if pos != li.T {
			t.Fatalf("%s: chunks of %d rows for a prompt of %d", cc.name, pos, li.T)
		}
	}
	if cc.restart {
		other := make([]float32, len(cc.prefill))
		for i, x := range cc.prefill {
			other[i] = 3 - 2*x
		}
		feed(other)
	}
	feed(cc.prefill)
	return st
}

// chunkSizes splits T prefill rows into a first chunk of first rows and then chunks of size.
func chunkSizes(T, first, size int) []int {
	c := []int{min(first, T)}
	for p := c[0]; p < T; p += size {
		c = append(c, min(size, T-p))
	}
	return c
}

// rows turns queries [n_heads][W][head_dim] into prefill rows [W][n_heads][head_dim].
func rows(q press.Queries) []float32 {
	out := make([]float32, len(q.Q))
	for h := range q.NHeads {
		for r := range q.W {
			copy(out[(r*q.NHeads+h)*q.HeadDim:][:q.HeadDim], q.Q[(h*q.W+r)*q.HeadDim:][:q.HeadDim])
		}
	}
	return out
}

// statsPrefill sets the prefill rows the device accumulates a statistics press's input from:
// ObservedAttention's post-RoPE queries of every position (all, [T][H][D]), or
// ExpectedAttention's pre-RoPE queries of positions n_sink.. (in.PreRoPE) after n_sink filler
// rows of 1000 in every channel, which would wreck the mean and covariance if they were counted.
func statsPrefill(cc *compressCase, all []float32, nSink int) {
	if cc.press == "observed_attention" {
		cc.prefill = all
		return
	}
	qDim := cc.in.Window.NHeads * cc.in.KV.HeadDim
	cc.prefill = make([]float32, nSink*qDim, cc.in.KV.T*qDim)
	for i := range cc.prefill {
		cc.prefill[i] = 1000
	}
	cc.prefill = append(cc.prefill, rows(cc.in.PreRoPE)...)
}

// readF32At downloads n floats at element offset off of b.
func readF32At(t *testing.T, b *Buffer, off, n int) []float32 {
	t.Helper()
	v := make([]float32, n)
	if err := b.ReadF32(off, v); err != nil {
		t.Fatal(err)
	}
	return v
}

// checkScores compares the device's token scores, which the shaders store as natural
// logarithms, with want (skipping the forced tokens) within the press README's float32 tolerance
// for scores, which span orders of magnitude: 1e-4 relative, 1e-9 absolute. The device's
// observed scores carry the float32 column sums' error (below T·2^-24 = 4e-6 relative at the
// golden case's T = 72, prefill_stats.go); its expected scores the float32 logits' error, which
// exp turns into a relative error of the scores of about |Δz| (measured below 2e-6 on the
// golden case); storing logarithms adds an absolute error of about 2^-24·|log s| to log s, a
// relative error of 1e-6 for scores down to e^-16.
func checkScores(t *testing.T, what string, got []float32, want []float64, skip func(t int) bool) {
	t.Helper()
	worst := 0.0
	for i, w := range want {
		if skip(i) {
			continue
		}
		e := math.Abs(math.Exp(float64(got[i])) - w)
		if !(e <= 1e-4*math.Abs(w)+1e-9) {
			t.Fatalf("%s: score %d = exp(%g), want %g", what, i, got[i], w)
		}
		if w != 0 {
			worst = max(worst, e/math.Abs(w))
		}
	}
	t.Logf("%s: %d scores, max relative error %.3g", what, len(want), worst)
}

// layerWords downloads a device layer's words.
func layerWords(t *testing.T, dl *CompressedLayer) []uint32 {
	t.Helper()
	raw := make([]byte, dl.buf.Size())
	if err := dl.buf.Read(0, raw); err != nil {
		t.Fatal(err)
	}
	w := make([]uint32, len(raw)/4)
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	return w
}

// elemValue decodes element e of an element stream of dt starting at word base.
func elemValue(w []uint32, base, e int, dt press.DType) float64 {
	switch dt {
	case press.F16:
		return float64(ggml.FP16ToFP32(uint16(w[base+e/2] >> (16 * (e % 2)))))
	case press.BF16:
		return float64(ggml.BF16ToFP32(uint16(w[base+e/2] >> (16 * (e % 2)))))
	}
	return float64(math.Float32frombits(w[base+e]))
}

// checkCompress compresses each case on the device and with the CPU press and compares the
// layers word by word in the layout of spark.go: header, checkpoints, keep masks, kept values,
// sign bits and values must be identical (the same kept tokens in the same order, the same
// channels, the cache's bits copied); ρ and α, computed in float32 on the device and in float64
// by the press, must agree within the press README's float32 tolerance for α (1e-5 relative plus
// 1e-7 of the largest), widened to one unit in the last place of f16 storage (2^-11 relative)
// when α is stored in f16, where the two roundings may fall on either side. Then the device
// layer's decode attention (AttendCompressed) must match the CPU kernel on the press's layer, and
// the float64 reference's decode_output when the case has one (1e-4 of its scale, the README's
// tolerance).
func checkCompress(t *testing.T, c *Context, cases []compressCase) {
	t.Helper()
	for _, cc := range cases {
		p, err := press.New(cc.press, cc.o)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Compress(cc.in)
		if err != nil {
			t.Fatalf("%s: %v", cc.name, err)
		}
		l := res.Layer
		dl := deviceCompress(t, c, cc)
		_, dense := l.Keys.(*press.DenseKeys)
		if dl == nil {
			if !dense || l.NTokens != cc.in.KV.T {
				t.Fatalf("%s: the device kept the layer dense, the press compressed it to %d tokens (%T)", cc.name, l.NTokens, l.Keys)
			}
			continue
		}
		defer dl.Close()
		want, _, err := packLayer(l)
		if err != nil {
			t.Fatal(err)
		}
		got := layerWords(t, dl)
		if len(got) != len(want) {
			t.Fatalf("%s: device layer of %d words, press layer %d", cc.name, len(got), len(want))
		}
		hdr := got[:hWords]
		approx := map[int]func(int) (float64, float64){} // word -> (got, want) values
		if hdr[hSigns] != 0 {
			D, nKV, n := int(hdr[hHeadDim]), int(hdr[hNKV]), int(hdr[hTokens])
			for x := range nKV * D {
				o := int(hdr[hRho]) + x
				approx[o] = func(int) (float64, float64) {
					return float64(math.Float32frombits(got[o])), float64(math.Float32frombits(want[o]))
				}
			}
			base := int(hdr[hAlpha])
			for e := range nKV * n {
				o := base + e*l.DType.Size()/4
				approx[o] = func(int) (float64, float64) {
					return elemValue(got, base, e, l.DType), elemValue(want, base, e, l.DType)
				}
			}
		}
		rtol := 1e-5
		if l.DType != press.F32 {
			rtol = 1.0 / 2048
		}
		bad := 0
		for i := range want {
			if f, ok := approx[i]; ok {
				g, w := f(i)
				if math.Abs(g-w) <= rtol*math.Abs(w)+1e-7 {
					continue
				}
				if bad < 5 {
					t.Errorf("%s: word %d (ρ or α) %.9g, press %.9g", cc.name, i, g, w)
				}
				bad++
				continue
			}
			if got[i] != want[i] {
				if bad < 5 {
					t.Errorf("%s: word %d = %#x, press %#x (%s)", cc.name, i, got[i], want[i], region(hdr, i))
				}
				bad++
			}
		}
		if bad > 0 {
			t.Fatalf("%s: %d of %d words differ", cc.name, bad, len(want))
		}
		maxV := 0.0
		for _, x := range l.DType.Float32s(l.V, l.V16) {
			maxV = max(maxV, math.Abs(float64(x)))
		}
		out := make([]float64, 0, len(cc.decode)*cc.in.Window.NHeads*l.HeadDim)
		for s, q := range cc.decode {
			ref := make([]float32, len(q))
			if err := l.Attend(ref, q, cc.in.Window.NHeads, nil, nil); err != nil {
				t.Fatal(err)
			}
			r64 := make([]float64, len(ref))
			for j, x := range ref {
				r64[j] = float64(x)
			}
			o := deviceAttend(t, c, dl, DenseTail{}, q, cc.in.Window.NHeads)
			// The tolerance of checkAttend: the same stored numbers, summation order only.
			checkClose(t, fmt.Sprintf("%s decode %d", cc.name, s), o, r64, []float64{1e-4 * maxV})
			for _, x := range o {
				out = append(out, float64(x))
			}
		}
		if cc.want != nil {
			H, D, L := cc.in.Window.NHeads, l.HeadDim, len(cc.decode)
			got := make([]float32, len(out)) // [L][H][D] -> [H][L][D]
			for s := range L {
				for h := range H {
					for j := range D {
						got[(h*L+s)*D+j] = float32(out[(s*H+h)*D+j])
					}
				}
			}
			checkClose(t, cc.name+" vs float64 decode_output", got, cc.want, []float64{1e-4 * maxAbs(cc.want)})
		}
	}
}

// region names the layout region of word i, for failure messages.
func region(hdr []uint32, i int) string {
	names := []struct {
		off  uint32
		name string
	}{{hRho, "rho"}, {hMask, "mask"}, {hCkpt, "checkpoints"}, {hKept, "kept"}, {hSign, "signs"}, {hAlpha, "alpha"}, {hV, "values"}}
	at := "header"
	best := uint32(0)
	for _, n := range names {
		if o := hdr[n.off]; o != 0 && o <= uint32(i) && o >= best {
			at, best = n.name, o
		}
	}
	return at
}

// TestCompressLayerGolden runs every press golden case through CompressLayer (f32 cache, the
// cases' own numbers) and checks the layer against the CPU press and the case's float64 decode
// output (checkCompress). ObservedAttention and ExpectedAttention accumulate their statistics
// on the device from the case's queries in prefill chunks (the observed case's q_prefill holds
// every prompt query; the expected case's q_prerope the pre-RoPE queries), and their scores,
// and ExpectedAttention's logits and rotated query means, are checked against the case's within
// the press README's float32 tolerances (checkScores; logits and means 1e-5 of the array's
// largest magnitude).
func TestCompressLayerGolden(t *testing.T) {
	golden, err := presstest.LoadDir(casesDir)
	if err != nil {
		t.Fatal(err)
	}
	var cases []compressCase
	for _, gc := range golden {
		name, o, layer, nLayers, err := gc.Options()
		if err != nil {
			t.Fatal(err)
		}
		want, err := gc.Floats("decode_output")
		if err != nil {
			t.Fatal(err)
		}
		var qs [][]float32
		for l := range gc.Shape.L {
			qs = append(qs, gc.DecodeQuery(l))
		}
		cc := compressCase{name: gc.Name, press: name, o: o, in: gc.Input(layer, nLayers), decode: qs,
			want: want, kv: ggml.TypeF32, slots: layer + 1, extraTM: 3}
		if name == "observed_attention" || name == "expected_attention" {
			goldenStats(t, gc, &cc)
		}
		cases = append(cases, cc)
	}
	forEachConfig(t, func(t *testing.T, c *Context) { checkCompress(t, c, cases) })
}

// goldenStats sets up a golden statistics case: its prefill rows in chunks that start inside
// the sink tokens (so that ExpectedAttention's shift comes from a partly counted chunk), and the
// checks of the device's scores and statistics against the case's expected fields.
func goldenStats(t *testing.T, gc *presstest.Case, cc *compressCase) {
	field := func(name string) []float64 {
		x, err := gc.Floats(name)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	in, T, H, nKV, D := cc.in, gc.Shape.T, gc.Shape.H, gc.Shape.Hkv, gc.Shape.D
	ns := cmp.Or(cc.o.NSink, 4)
	statsPrefill(cc, rows(in.Window), ns)
	cc.chunks = chunkSizes(T, 3, 29)
	scores := field("scores")
	if cc.press == "observed_attention" {
		cc.inspect = func(t *testing.T, cm *Compressor, _ *PrefillStats) {
			checkScores(t, cc.name, readF32At(t, cm.buf, cm.work[3], nKV*T), scores, func(int) bool { return false })
		}
		return
	}
	logits, means := field("logits"), field("query_mean_rotated")
	cc.inspect = func(t *testing.T, cm *Compressor, st *PrefillStats) {
		checkClose(t, cc.name+" logits", readF32At(t, cm.buf, cm.work[2], H*(T-ns)), logits, []float64{1e-5 * maxAbs(logits)})
		mu := make([]float32, 0, H*D)
		for h := range H {
			mu = append(mu, readF32At(t, st.buf, h*(2*D+D*D), D)...)
		}
		checkClose(t, cc.name+" rotated query means", mu, means, []float64{1e-5 * maxAbs(means)})
		checkScores(t, cc.name, readF32At(t, cm.buf, cm.work[3], nKV*T), scores, func(i int) bool { return i%T < ns })
	}
}

// TestCompressLayerStats compresses synthetic layers with ObservedAttention and ExpectedAttention,
// whose statistics the device accumulates from random prefill queries in chunks: f32 and f16
// caches, GQA groups of 1 to 4, head dims 20 to 64, chunk boundaries inside the sink tokens, at
// the first counted position (ExpectedAttention's shift from a single query) and nowhere (one
// chunk), statistics reused after a restart, ε, no covariance, no value norm, 8 sink tokens,
// and peaked attention whose probabilities for half the tokens are below float32's range
// (about e^-200 against e^-104), which the CPU's float64 still orders (the shaders keep
// logarithms): the budget's boundary lies among those tokens.
// The CPU press gets the float64 column sums of the same queries over the same (rounded) keys,
// and the pre-RoPE queries themselves.
func TestCompressLayerStats(t *testing.T) {
	type shape struct {
		press        string
		o            press.Options
		H, nKV, T, D int
		kv           ggml.Type
		first, chunk int
		restart      bool
		peaked       bool // queries along u, keys of odd positions along -u (see peak)
	}
	f16 := ggml.TypeF16
	shapes := []shape{
		{"observed_attention", press.Options{TokenRatio: 0.5, DType: press.F16}, 6, 2, 150, 20, f16, 3, 61, true, false},
		{"expected_attention", press.Options{TokenRatio: 0.6, DType: press.F16}, 8, 2, 200, 64, f16, 5, 64, true, false},
		{"observed_attention", press.Options{Budget: 77}, 4, 4, 300, 64, ggml.TypeF32, 1, 128, false, false},
		{"expected_attention", press.Options{Budget: 50, NoCovariance: true, Epsilon: 0.01}, 3, 1, 130, 36, ggml.TypeF32, 4, 40, false, false},
		{"expected_attention", press.Options{TokenRatio: 0.5, NoVNorm: true, NSink: 8}, 4, 2, 100, 32, ggml.TypeF32, 100, 100, false, false},
		{"observed_attention", press.Options{TokenRatio: 0.1}, 4, 2, 120, 16, ggml.TypeF32, 40, 40, false, true},
		{"expected_attention", press.Options{TokenRatio: 0.1}, 4, 2, 120, 16, ggml.TypeF32, 120, 120, false, true},
	}
	if testing.Short() {
		shapes = shapes[:2]
	}
	rng := rand.New(rand.NewPCG(43, 44))
	var cases []compressCase
	for _, s := range shapes {
		in := randPressInput(rng, s.H, s.nKV, s.T, s.D)
		if s.kv == ggml.TypeF16 {
			in = f16Input(in)
		}
		cc := compressCase{name: fmt.Sprintf("%s %+v H=%d kv=%d T=%d D=%d", s.press, s.o, s.H, s.nKV, s.T, s.D),
			press: s.press, o: s.o, in: in, decode: [][]float32{randNorm(rng, s.H*s.D), randNorm(rng, s.H*s.D)},
			kv: s.kv, slots: in.LayerIdx + 1, extraTM: 5, chunks: chunkSizes(s.T, s.first, s.chunk), restart: s.restart}
		ns := cmp.Or(s.o.NSink, 4)
		all := randNorm(rng, s.T*s.H*s.D) // [T][H][D]
		if s.peaked {
			peak(in, all)
		}
		if s.press == "observed_attention" {
			in.ObservedColSums = observedColSums(in, all)
		} else {
			// Pre-RoPE queries with a mean far from zero in a few channels, the case a
			// covariance accumulated about zero would lose to cancellation.
			N := s.T - ns
			in.PreRoPE = press.Queries{NHeads: s.H, W: N, HeadDim: s.D, Q: randNorm(rng, s.H*N*s.D)}
			for i := range in.PreRoPE.Q {
				if j := i % s.D; j%7 == 2 && !s.peaked {
					in.PreRoPE.Q[i] += 20 + float32(j)
				}
			}
			in.RoPEInvFreq = make([]float64, s.D/2)
			for k := range in.RoPEInvFreq {
				in.RoPEInvFreq[k] = math.Pow(10000, -2*float64(k)/float64(s.D))
			}
			if s.peaked {
				// Slow rotations (R ≈ I), so that the mean query stays along u.
				for k := range in.RoPEInvFreq {
					in.RoPEInvFreq[k] = 1e-7 * float64(k+1)
				}
				peak(in, in.PreRoPE.Q)
			}
		}
		statsPrefill(&cc, all, ns)
		cases = append(cases, cc)
	}
	c := openTest(t, func(*Options) {})
	checkCompress(t, c, cases)
	if msgs := c.ValidationMessages(); len(msgs) > 0 {
		t.Fatalf("validation messages:\n%s", strings.Join(msgs, "\n"))
	}
}

// peak adds 20·u (u = (1, ..., 1)/sqrt(D)) to every query of qs and ±20·u to in's keys, + at
// even positions and - at odd ones: logits q·k/sqrt(D) of about ±100/sqrt(D/16), so the odd
// positions get probabilities near e^-200 at D = 16.
func peak(in *press.Input, qs []float32) {
	D := in.KV.HeadDim
	u := float32(1 / math.Sqrt(float64(D)))
	for i := range qs {
		qs[i] += 20 * u
	}
	for i := range in.KV.K {
		if t := i / D % in.KV.T; t%2 == 0 {
			in.KV.K[i] += 20 * u
		} else {
			in.KV.K[i] -= 20 * u
		}
	}
}

// observedColSums returns the column sums of the causal attention of the prompt queries q
// ([T][H][D]) over in's keys, in float64 as the CPU press cache accumulates them.
func observedColSums(in *press.Input, q []float32) []float64 {
	kv := &in.KV
	T, D, H := kv.T, kv.HeadDim, in.Window.NHeads
	G := H / kv.NKVHeads
	cs := make([]float64, H*T)
	p := make([]float64, T)
	for h := range H {
		for r := range T {
			m := math.Inf(-1)
			for t := range r + 1 {
				var d float64
				for j := range D {
					d += float64(q[(r*H+h)*D+j]) * float64(kv.K[((h/G)*T+t)*D+j])
				}
				p[t] = d / math.Sqrt(float64(D))
				m = max(m, p[t])
			}
			var sum float64
			for t := range r + 1 {
				p[t] = math.Exp(p[t] - m)
				sum += p[t]
			}
			for t := range r + 1 {
				cs[h*T+t] += p[t] / sum
			}
		}
	}
	return cs
}

// f16Input returns in with keys, values and window queries rounded to f16, as an f16 cache
// holds them (the window queries stay f32 in the ring; rounding them too keeps CPU and device
// inputs identical).
func f16Input(in *press.Input) *press.Input {
	out := *in
	round := func(xs []float32) []float32 {
		ys := make([]float32, len(xs))
		for i, x := range xs {
			ys[i] = press.F16.Round(x)
		}
		return ys
	}
	out.KV.K, out.KV.V = round(in.KV.K), round(in.KV.V)
	return &out
}

// TestCompressLayerShapes compresses synthetic layers of awkward and model-like shapes with f32
// and f16 caches: head dims that are not multiples of 32 or 8, odd kept counts (16-bit elements
// of two tokens sharing a word), GQA groups of 1 to 6, budgets below and above the SnapKV window,
// PyramidKV layers, StreamingLLM, TOVA, ThinK, SparK's top-p and group modes (variable-length
// records, with and without a token stage, three group tables, head dims up to 200), and a
// prompt the press leaves alone.
func TestCompressLayerShapes(t *testing.T) {
	type shape struct {
		press      string
		o          press.Options
		H, nKV     int
		T, D       int
		kv         ggml.Type
		layer, nLy int
	}
	f16 := ggml.TypeF16
	shapes := []shape{
		{"spark", press.Options{KeyRatio: 0.8, DType: press.F16}, 8, 2, 300, 64, f16, 0, 1},
		{"spark", press.Options{KeyRatio: 0.5}, 6, 2, 129, 20, ggml.TypeF32, 0, 1},
		{"spark", press.Options{KeyRatio: 0.7, Recovery: press.RecoveryAvgBottom, DType: press.F16}, 12, 2, 77, 72, f16, 0, 1},
		{"spark", press.Options{KeyRatio: 0.8, Recovery: press.RecoveryZero, DType: press.F16}, 3, 3, 140, 36, f16, 0, 1},
		{"spark", press.Options{KeyRatio: 0.5, PaperSaliency: true}, 4, 1, 64, 8, ggml.TypeF32, 0, 1},
		{"snap_spark", press.Options{KeyRatio: 0.8, Budget: 100, DType: press.F16}, 8, 2, 260, 64, f16, 0, 1},
		{"snapkv", press.Options{Budget: 40}, 4, 2, 200, 72, ggml.TypeF32, 0, 1},
		{"pyramid_spark", press.Options{KeyRatio: 0.5, TokenRatio: 0.5, DType: press.F16}, 4, 2, 300, 64, f16, 5, 8},
		{"pyramidkv", press.Options{TokenRatio: 0.6}, 4, 2, 250, 32, ggml.TypeF32, 7, 8},
		{"streaming_llm", press.Options{TokenRatio: 0.5, DType: press.F16}, 2, 2, 300, 8, f16, 0, 1},
		{"tova", press.Options{Budget: 77}, 6, 2, 333, 64, ggml.TypeF32, 0, 1},
		{"think", press.Options{KeyRatio: 0.7}, 6, 2, 150, 20, ggml.TypeF32, 0, 1},
		{"spark", press.Options{Mode: press.ModeTopP}, 8, 2, 300, 64, ggml.TypeF32, 0, 1},
		{"snap_spark", press.Options{Mode: press.ModeTopP, Budget: 130, Recovery: press.RecoveryAvgBottom, DType: press.F16}, 6, 3, 270, 72, f16, 0, 1},
		{"spark", press.Options{Mode: press.ModeTopP, Recovery: press.RecoveryZero}, 4, 2, 140, 20, ggml.TypeF32, 0, 1},
		{"spark", press.Options{Mode: press.ModeGroup, DType: press.F16}, 8, 2, 300, 64, f16, 0, 1},
		{"pyramid_spark", press.Options{Mode: press.ModeGroup, ThresholdRatio: 0.991, TokenRatio: 0.5}, 4, 2, 200, 128, ggml.TypeF32, 2, 8},
		{"spark", press.Options{Mode: press.ModeGroup, ThresholdRatio: 0.996, Recovery: press.RecoveryAvgBottom}, 3, 3, 90, 200, ggml.TypeF32, 0, 1},
		{"snap_think", press.Options{KeyRatio: 0.5, Budget: 90, DType: press.F16}, 8, 2, 210, 64, f16, 0, 1},
		{"snap_spark", press.Options{KeyRatio: 0.0, Budget: 500}, 4, 2, 120, 32, ggml.TypeF32, 0, 1}, // keeps everything
	}
	if testing.Short() {
		shapes = shapes[:5]
	}
	rng := rand.New(rand.NewPCG(41, 42))
	var cases []compressCase
	for _, s := range shapes {
		in := randPressInput(rng, s.H, s.nKV, s.T, s.D)
		in.LayerIdx, in.NLayers = s.layer, s.nLy
		if s.kv == ggml.TypeF16 {
			in = f16Input(in)
		}
		if s.o.Mode == press.ModeTopP || s.o.Mode == press.ModeGroup {
			avoidTopPTies(in, 32, s.kv == ggml.TypeF16)
		}
		cases = append(cases, compressCase{name: fmt.Sprintf("%s %+v H=%d kv=%d T=%d D=%d", s.press, s.o, s.H, s.nKV, s.T, s.D),
			press: s.press, o: s.o, in: in, decode: [][]float32{randNorm(rng, s.H*s.D), randNorm(rng, s.H*s.D)},
			kv: s.kv, slots: s.layer + 1, extraTM: 5})
	}
	// The compression shaders have one build (no subgroup or 16-bit variants), so beyond the
	// default configuration only staging (device memory the host cannot map) changes their path;
	// the golden test runs every configuration.
	for _, cf := range configs {
		if cf.name != "default" && cf.name != "staging" {
			continue
		}
		t.Run(cf.name, func(t *testing.T) {
			c := openTest(t, cf.mod)
			checkCompress(t, c, cases)
			if msgs := c.ValidationMessages(); len(msgs) > 0 {
				t.Fatalf("validation messages:\n%s", strings.Join(msgs, "\n"))
			}
		})
	}
}

// TestDevicePressErrors checks that CPU-only presses and modes, and inputs CompressLayer cannot
// take, are refused with an error naming the problem, before anything is recorded.
func TestDevicePressErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		o    press.Options
		want string
	}{
		{"none", press.Options{}, "press none does not run on the device"},
		{"spark", press.Options{Mode: "wild"}, `unknown SparK mode "wild"`},
		{"spark", press.Options{KeyRatio: 2}, "key ratio 2"},
		{"sparkle", press.Options{}, `unknown press "sparkle"`},
	} {
		if _, err := NewDevicePress(c.name, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %+v: error %v, want one containing %q", c.name, c.o, err, c.want)
		}
	}
	c := openTest(t, func(*Options) {})
	dp, err := NewDevicePress("spark", press.Options{KeyRatio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := c.NewCompressor(2, 100, 4, 2, 16, dp.Window())
	if err != nil {
		t.Fatal(err)
	}
	defer cm.Close()
	buf := newBuf(t, c, 1<<16)
	good := LayerInput{K: buf.All(), V: buf.All(), KV: ggml.TypeF32, TMax: 100, Window: buf.All(), WinCap: 32,
		T: 80, NHeads: 4, NKV: 2, HeadDim: 16, LayerIdx: 1, NLayers: 2}
	r := beginRecorder(t, c)
	defer r.Close()
	for _, ch := range []struct {
		what string
		mod  func(*LayerInput)
		want string
	}{
		{"type", func(in *LayerInput) { in.KV = ggml.TypeQ8_0 }, "cache type"},
		{"dtype", func(in *LayerInput) { in.KV = ggml.TypeF16 }, "the press stores f32, the cache holds"},
		{"length", func(in *LayerInput) { in.T = 101 }, "prompt of 101 tokens"},
		{"shape", func(in *LayerInput) { in.NHeads = 8 }, "the compressor is for"},
		{"slot", func(in *LayerInput) { in.LayerIdx = 2 }, "layer 2 outside the compressor's 2 slots"},
		{"ring", func(in *LayerInput) { in.WinCap = 16 }, "window ring of 16 rows"},
		{"gqa", func(in *LayerInput) { in.NKV = 3 }, "4 query heads over 3 KV heads"},
	} {
		in := good
		ch.mod(&in)
		if _, err := r.CompressLayer(dp, in, cm); err == nil || !strings.Contains(err.Error(), ch.want) {
			t.Errorf("%s: error %v, want one containing %q", ch.what, err, ch.want)
		}
	}
	// The statistics presses: missing or mismatched statistics, bad shapes and chunks.
	obs, err := NewDevicePress("observed_attention", press.Options{TokenRatio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	exp, err := NewDevicePress("expected_attention", press.Options{TokenRatio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	shape := StatsShape{NHeads: 4, NKV: 2, HeadDim: 16, TMax: 100, MaxRows: 8, InvFreq: make([]float64, 8)}
	ost, err := c.NewPrefillStats(obs, shape)
	if err != nil {
		t.Fatal(err)
	}
	defer ost.Close()
	small := shape
	small.TMax = 50
	ost50, err := c.NewPrefillStats(obs, small)
	if err != nil {
		t.Fatal(err)
	}
	defer ost50.Close()
	if st, err := c.NewPrefillStats(dp, shape); st != nil || err != nil {
		t.Errorf("spark statistics: %v, %v; want none", st, err)
	}
	odd := shape
	odd.HeadDim = 15
	for _, ch := range []struct {
		what string
		err  error
		want string
	}{
		{"no stats", func() error { _, err := r.CompressLayer(obs, good, cm); return err }(), "needs its prefill statistics"},
		{"other stats", func() error { in := good; in.Stats = ost; _, err := r.CompressLayer(exp, in, cm); return err }(), "needs its prefill statistics"},
		{"short stats", func() error { in := good; in.Stats = ost50; _, err := r.CompressLayer(obs, in, cm); return err }(), "needs its prefill statistics"},
		{"odd head dim", func() error { _, err := c.NewPrefillStats(exp, odd); return err }(), "head dim 15 with 8 RoPE frequencies"},
		{"big chunk", r.AccumulateObserved(ost, buf.All(), buf.All(), ggml.TypeF32, 9, 0), "9 rows at position 0"},
		{"past the end", r.AccumulateObserved(ost, buf.All(), buf.All(), ggml.TypeF32, 8, 95), "8 rows at position 95"},
		{"cache type", r.AccumulateObserved(ost, buf.All(), buf.All(), ggml.TypeQ8_0, 8, 0), "cache type"},
		{"wrong kind", r.AccumulateExpected(ost, buf.All(), 8, 0), "not expected_attention's"},
	} {
		if ch.err == nil || !strings.Contains(ch.err.Error(), ch.want) {
			t.Errorf("%s: error %v, want one containing %q", ch.what, ch.err, ch.want)
		}
	}
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
}

// avoidTopPTies nudges the keys of every token whose 99% rank i* (spec 3.11: the first rank whose
// cumulative saliency exceeds 0.99 of the total; top-p and group modes) lies within 1e-5 of the
// total from the threshold, until none does, as the golden cases' generator did
// ("first_cross_margin"): the device sums saliencies in float32 and the press in float64, so at such a near tie either may
// keep one more channel, legitimately. Random inputs have a few such tokens among hundreds. The
// nudge scales the token's largest-saliency key entry by 1.01 (rounded to f16 when the cache is).
func avoidTopPTies(in *press.Input, window int, f16 bool) {
	kv, q := &in.KV, &in.Window
	D, T, G := kv.HeadDim, kv.T, q.NHeads/kv.NKVHeads
	for i := range kv.NKVHeads {
		qn := make([]float64, D)
		for r := q.W - window; r < q.W; r++ {
			for j := range D {
				var m float64
				for g := range G {
					m += float64(q.Q[((i*G+g)*q.W+r)*D+j])
				}
				m /= float64(G)
				qn[j] += m * m
			}
		}
		for j := range qn {
			qn[j] = math.Sqrt(qn[j])
		}
		for t := range T {
			k := kv.K[(i*T+t)*D:][:D]
			for nudge := 0; nudge < 100 && topPMargin(k, qn) < 1e-5; nudge++ {
				top, best := 0, 0.0
				for j, x := range k {
					if s := float64(x) * float64(x) * qn[j]; s > best {
						top, best = j, s
					}
				}
				k[top] *= 1.01
				if f16 {
					k[top] = press.F16.Round(k[top])
				}
			}
		}
	}
}

// topPMargin returns min(c_i* - 0.99·tot, 0.99·tot - c_(i*-1)) / tot for key k (1 if tot = 0).
func topPMargin(k []float32, qn []float64) float64 {
	s := make([]float64, len(k))
	var tot float64
	for j, x := range k {
		s[j] = float64(x) * float64(x) * qn[j]
	}
	slices.Sort(s)
	slices.Reverse(s)
	for _, x := range s {
		tot += x
	}
	if tot == 0 {
		return 1
	}
	var c, prev float64
	for _, x := range s {
		c += x
		if c > 0.99*tot {
			return min(c-0.99*tot, 0.99*tot-prev) / tot
		}
		prev = c
	}
	return 1
}

// TestGroupKeep checks the SparK-g keep counts the device looks up per 99%-rank i* against spec
// 3.11 by hand: threshold 0.99 at D = 64 has bounds int(0.2·64) = 12, 25, 38, 51 and keeps
// int(0.1·64) = 6, 19, 32, 44, 57 channels for 0..4 bounds passed (i* > bound); threshold 0.991
// at D = 200 has bounds 50, 100, 150 and keeps 50, 100, 150, 200, reaching ranks (above 98)
// whose crafted profiles need the shared tail mass.
func TestGroupKeep(t *testing.T) {
	for _, c := range []struct {
		threshold float64
		D         int
		bounds    []int
		keep      []uint32
	}{
		{0.99, 64, []int{12, 25, 38, 51}, []uint32{6, 19, 32, 44, 57}},
		{0.991, 200, []int{50, 100, 150}, []uint32{50, 100, 150, 200}},
	} {
		p, err := NewDevicePress("spark", press.Options{Mode: press.ModeGroup, ThresholdRatio: c.threshold})
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.groupKeep(c.D)
		if err != nil {
			t.Fatal(err)
		}
		for r, k := range got {
			g := 0
			for _, b := range c.bounds {
				if r > b {
					g++
				}
			}
			if k != c.keep[g] {
				t.Errorf("threshold %v D=%d: i*=%d keeps %d, want %d", c.threshold, c.D, r, k, c.keep[g])
			}
		}
	}
}

// TestMeanRotation checks ExpectedAttention's closed-form mean rotation against the direct sum
// the CPU press computes, for Llama-like frequencies (1 down to 1e-4 and the 1e-7 of a
// long-context scaling), zero, and 2π (where the closed form's denominator vanishes), at short
// and long prompts. Both are float64: the direct sum of 512 terms loses about 512·1e-16, and
// either rounds its angles, of up to (T+512)·f rad, by an ulp of about 1.1e-16 of that (7e-11 at
// T = 1e5, f = 2π); the tolerance is 1e-12 plus 1e-15·(T+512)·max(f, 1).
func TestMeanRotation(t *testing.T) {
	for _, T := range []int{5, 96, 4096, 100000} {
		for _, f := range []float64{1, 0.5, 0.1, 1e-4, 1e-7, 0, 2 * math.Pi} {
			var c, s float64
			for p := T; p < T+512; p++ {
				c += math.Cos(float64(p) * f)
				s += math.Sin(float64(p) * f)
			}
			c, s = c/512, s/512
			gc, gs := meanRotation(T, 512, f)
			tol := 1e-12 + 1e-15*float64(T+512)*max(f, 1)
			if math.Abs(gc-c) > tol || math.Abs(gs-s) > tol {
				t.Errorf("T=%d f=%g: mean rotation (%.15g, %.15g), direct sum (%.15g, %.15g)", T, f, gc, gs, c, s)
			}
		}
	}
}
