//go:build cgo

package vulkan

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/press"
	"github.com/sparkrun/sparkrun/runtime/vulkan/vk"
)

// This file runs a press at the end of prefill on the device (spec section 2): the layer's dense
// keys and values, its window queries and its prefill statistics (prefill_stats.go) stay in device
// memory, the shaders press_tokens.comp (SnapKV/PyramidKV/TOVA scores; every token press's
// selection), press_observed_score.comp and press_expected_score.comp (ObservedAttention's and
// ExpectedAttention's scores), think_select.comp, press_qnorm.comp, spark_select.comp and
// spark_pack.comp compute the kept tokens, ThinK's or SparK's channel selection and α, and write
// the compressed layer directly in the layout AttendCompressed reads (spark.go). Only sizes, the
// token budget and ExpectedAttention's mean rotation (a function of the prompt length and the
// model's RoPE frequencies) are computed on the host: nothing of the layer's numbers comes back.

// deviceStages lists the presses the device runs: the token stage ("" none) and the channel
// stage that follows ("" none, "spark" fixed ratio, "think").
var deviceStages = map[string]struct{ token, channel string }{
	"spark":         {"", "spark"},
	"think":         {"", "think"},
	"snapkv":        {"snapkv", ""},
	"pyramidkv":     {"pyramidkv", ""},
	"streaming_llm": {"streaming_llm", ""},
	"tova":          {"tova", ""},
	// Scored from prefill statistics (PrefillStats); the CPU press allows no composition.
	"observed_attention": {"observed_attention", ""},
	"expected_attention": {"expected_attention", ""},
	"snap_spark":         {"snapkv", "spark"},
	"pyramid_spark":      {"pyramidkv", "spark"},
	"snap_think":         {"snapkv", "think"},
	"pyramid_think":      {"pyramidkv", "think"},
}

// DevicePressNames returns the presses DevicePress supports, sorted.
func DevicePressNames() []string {
	return slices.Sorted(maps.Keys(deviceStages))
}

// DevicePress is a press the device runs at the end of prefill (Recorder.CompressLayer): SparK
// (fixed ratio, top-p and dynamic group modes; recoveries avg, avg_bottom, zero; the code's or
// the paper's saliency), ThinK, SnapKV, PyramidKV, StreamingLLM, TOVA, ObservedAttention and
// ExpectedAttention (from prefill statistics, see PrefillStats) and the compositions snap_spark,
// pyramid_spark, snap_think and pyramid_think, with the parameters of press.Options. It gives
// the same kept tokens, keep masks and records as the CPU press (press.New) on the same numbers;
// ties are broken the same way (lower index first).
type DevicePress struct {
	name string
	opts press.Options // with the spec defaults of the fields the shaders read
	// token is the token stage: "", "snapkv", "pyramidkv", "streaming_llm", "tova",
	// "observed_attention" or "expected_attention".
	token string
	chans string // channel stage: "", "spark" or "think"
	// budget is the CPU token press alone, asked for the token count of a prompt length (see
	// tokens): the count is a function of the settings, T and the layer, never of the data.
	budget press.Press
	mu     sync.Mutex
	counts map[[2]int]int   // (T, layer for PyramidKV else 0) -> tokens kept per KV head
	groups map[int][]uint32 // head dim -> SparK-g's keep count per i* (groupKeep)
}

// NewDevicePress checks name and o with the CPU press (press.New) and returns the device version,
// or an error for a press that only the CPU runs.
func NewDevicePress(name string, o press.Options) (*DevicePress, error) {
	if _, err := press.New(name, o); err != nil {
		return nil, err
	}
	st, ok := deviceStages[name]
	if !ok {
		return nil, fmt.Errorf("vulkan: press %s does not run on the device (device presses: %s)", name, strings.Join(DevicePressNames(), ", "))
	}

	o.SnapWindow, o.KernelSize = cmp.Or(o.SnapWindow, 64), cmp.Or(o.KernelSize, 5)
	o.SparKWindow, o.ThinKWindow, o.NSink = cmp.Or(o.SparKWindow, 32), cmp.Or(o.ThinKWindow, 32), cmp.Or(o.NSink, 4)
	o.Recovery, o.NFuture = cmp.Or(o.Recovery, press.RecoveryAvg), cmp.Or(o.NFuture, 512)
	p := &DevicePress{name: name, opts: o, token: st.token, chans: st.channel, counts: map[[2]int]int{}, groups: map[int][]uint32{}}
	if st.token != "" {
		var err error
		if p.budget, err = press.New(st.token, o); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// maxCounts bounds the memo of token counts (see DevicePress.tokens).
const maxCounts = 4096

// Name returns the press's registry name.
func (p *DevicePress) Name() string { return p.name }

// Window returns the window query rows CompressLayer reads: the last Window() prompt positions'
// queries must be in the ring (at least 1).
func (p *DevicePress) Window() int { return max(1, p.channelWindow(), p.scoreWindow()) }

// channelWindow returns the window query rows of the channel stage (0 without one): a prompt
// shorter than that stays dense (see Changes).
func (p *DevicePress) channelWindow() int {
	switch p.chans {
	case "spark":
		return p.opts.SparKWindow
	case "think":
		return p.opts.ThinKWindow
	}
	return 0
}

// scoreWindow returns the window query rows the token stage scores with: SnapKV/PyramidKV's
// window, TOVA's last query, none for StreamingLLM and SparK alone.
func (p *DevicePress) scoreWindow() int {
	switch p.token {
	case "snapkv", "pyramidkv":
		return p.opts.SnapWindow
	case "tova":
		return 1
	}
	return 0
}

// tokens returns the tokens kept per KV head from a prompt of T tokens in layer layer of
// nLayers. The count (spec 2.5, 4.3, 4.4) depends on the settings, T and the layer only, so the
// CPU token press computes it on a two-channel zero input of T tokens (a few microseconds per
// token, once per prompt length and layer), which keeps one definition of every budget rule.
func (p *DevicePress) tokens(T, layer, nLayers int) (int, error) {
	if p.token == "" {
		return T, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := [2]int{T, 0}
	if p.token == "pyramidkv" {
		key[1] = layer // the only per-layer budget
	}
	if n, ok := p.counts[key]; ok {
		return n, nil
	}
	if len(p.counts) >= maxCounts {
		clear(p.counts) // a long-running server sees many prompt lengths
	}
	// Two channels, so that ExpectedAttention's rotation pairs exist; the statistics presses get
	// zero statistics of the right shape.
	W, N := min(T, p.opts.SnapWindow), max(T-p.opts.NSink, 0)
	in := &press.Input{
		KV:       press.LayerKV{NKVHeads: 1, T: T, HeadDim: 2, K: make([]float32, 2*T), V: make([]float32, 2*T)},
		Window:   press.Queries{NHeads: 1, W: W, HeadDim: 2, Q: make([]float32, 2*W)},
		LayerIdx: layer, NLayers: nLayers,
	}
	switch p.token {
	case "observed_attention":
		in.ObservedColSums = make([]float64, T)
	case "expected_attention":
		in.PreRoPE = press.Queries{NHeads: 1, W: N, HeadDim: 2, Q: make([]float32, 2*N)}
		in.RoPEInvFreq = []float64{1}
	}
	res, err := p.budget.Compress(in)
	if err != nil {
		return 0, err
	}
	p.counts[key] = res.Layer.NTokens
	return res.Layer.NTokens, nil
}

// sizes returns the tokens kept per KV head and the channels pruned per token for a prompt of T
// tokens in layer layer of nLayers with head dim D.
func (p *DevicePress) sizes(T, layer, nLayers, D int) (n, nPrune int, err error) {
	if n, err = p.tokens(T, layer, nLayers); err != nil {
		return 0, 0, err
	}
	if p.chans != "" && !p.variable() { // top-p and group modes ignore the key ratio
		nPrune = int(p.opts.KeyRatio * float64(D))
	}
	return n, nPrune, nil
}

// Changes reports whether the press changes layer layer (of nLayers, head dim D) of a prompt of T
// tokens: false when it keeps every token and channel, or when the prompt is shorter than the
// channel stage's window (the CPU PressCache keeps such a sequence dense; CompressLayer refuses
// it).
func (p *DevicePress) Changes(T, layer, nLayers, D int) (bool, error) {
	if T < p.channelWindow() {
		return false, nil
	}
	n, nPrune, err := p.sizes(T, layer, nLayers, D)
	return n < T || nPrune > 0 || p.variable(), err
}

// LayerInput locates one layer's prompt in device memory for CompressLayer.
type LayerInput struct {
	// K and V are the layer's dense cache, [NKV][TMax][HeadDim] elements of KV (post-RoPE keys),
	// positions 0..T-1 filled.
	K, V Span
	KV   ggml.Type // TypeF32 or TypeF16; the press's DType must be the same type
	TMax int
	// Window is the ring of the prompt's last queries, [WinCap][NHeads][HeadDim] f32 (post-RoPE,
	// after any per-head norm: the model's real queries, spec A14): position p at row p%WinCap
	// (Recorder.KeepWindow writes it). It must hold the last DevicePress.Window() positions.
	Window Span
	WinCap int
	// T is the prompt length; NHeads, NKV and HeadDim the attention shape.
	T, NHeads, NKV, HeadDim int
	// LayerIdx places the layer among NLayers (PyramidKV's budget) and picks the Compressor's
	// parameter slot.
	LayerIdx, NLayers int
	// Always makes CompressLayer return a layer (dense keys, kept tokens) even when the press
	// keeps everything of this one: for a model whose other layers are compressed.
	Always bool
	// Stats holds the layer's prefill statistics, for a press that needs them
	// (DevicePress.NeedsStats; nil otherwise), of the same attention shape, TMax >= T.
	Stats *PrefillStats
}

// Compressor holds the device scratch of CompressLayer: one parameter block per layer slot (so
// that every layer of a model is recorded into one submission) and a work area that the layers'
// dispatches share, one after another.
type Compressor struct {
	buf                     *Buffer
	slots, maxT             int
	nHeads, nKV, headDim, w int
	work                    [11]int   // word offsets in buf: qn, stats, sc, ss, flag, idx, alpha, cnt, off, smask, group
	rec                     *Recorder // for SparK's top-p and group modes (see CompressLayer), made on first use
}

// Parameter block word indices (P_* in shaders/press_common.glsl).
const (
	pNKV = iota
	pH
	pD
	pT
	pTMax
	pKVType
	pWinCap
	pScale
	pSnapW
	pKSize
	pN
	pGather
	pSparkW
	pNKeep
	pNMean
	pRecov
	pPaper
	pDType
	pSB
	pQN
	pStats
	pSC
	pSS
	pFlag
	pIdx
	pAlpha
	pRho
	pMask
	pKept
	pSign
	pAlphaW
	pV
	pMW
	pNSink
	pMTok
	pMHead
	pThinkW
	pVar
	pCnt
	pOff
	pSMask
	pTiles
	pCkpt
	pGroup
	pNeoX // P_NEOX and the following: shaders/press_stats.glsl
	pEps
	pVNorm
	pCov
	pSTMax
	pWords = 64
)

// NewCompressor allocates the scratch for slots layers of prompts up to maxT tokens of the
// given attention shape, with window window rows (DevicePress.Window).
func (c *Context) NewCompressor(slots, maxT, nHeads, nKV, headDim, window int) (*Compressor, error) {
	if slots < 1 || maxT < 1 || nHeads < 1 || nKV < 1 || headDim < 1 || window < 1 {
		return nil, fmt.Errorf("vulkan: compressor for %d slots, %d tokens, %d/%d heads of %d, window %d", slots, maxT, nHeads, nKV, headDim, window)
	}
	cm := &Compressor{slots: slots, maxT: maxT, nHeads: nHeads, nKV: nKV, headDim: headDim, w: window}
	off := slots * pWords
	mw := (headDim + 31) / 32
	for i, n := range []int{nKV * headDim, 2 * nHeads * window, nHeads * maxT, nKV * maxT, nKV * maxT, nKV * maxT, nKV * maxT,
		nKV * maxT, 2 * (nKV*maxT + 1), nKV * maxT * mw, headDim} {
		cm.work[i], off = off, off+n
	}
	var err error
	if cm.buf, err = c.NewBuffer(4 * uint64(off)); err != nil {
		return nil, fmt.Errorf("vulkan: compressor scratch: %w", err)
	}
	return cm, nil
}

// Close frees the scratch; it must not be in use by a pending submission.
func (cm *Compressor) Close() {
	if cm.rec != nil {
		cm.rec.Close()
	}
	cm.buf.Close()
}

// KeepWindow records the copy of a prefill chunk's queries (q: [rows][nHeads·headDim] f32, the
// chunk's first row at position pos0) into the window ring ([winCap][nHeads·headDim] f32, row
// p%winCap), of which only the chunk's last winCap rows matter.
func (r *Recorder) KeepWindow(q, ring Span, rows, qDim, pos0, winCap int) error {
	if rows <= 0 || qDim <= 0 || pos0 < 0 || winCap <= 0 {
		return fmt.Errorf("vulkan: keep window: %d rows of %d at position %d into %d ring rows", rows, qDim, pos0, winCap)
	}
	b, err := r.bind("keep window", []Span{q, ring}, []string{"q", "ring"},
		[]uint64{4 * uint64(rows*qDim), 4 * uint64(winCap*qDim)})
	if err != nil {
		return err
	}
	return r.dispatch("press_window", b, push(qDim, rows, pos0, winCap), groupsFor(min(rows, winCap)*qDim), 1)
}

// CompressLayer records the compression of one layer's prompt by press p on the device and
// returns the compressed layer (its buffer is written when the submission runs), or nil when the
// press keeps every token and channel of this prompt (no eviction and int(λ·D) = 0) and
// in.Always is false: the caller then keeps its dense cache. A prompt shorter than the channel
// stage's window is an error (see Changes).
//
// SparK's top-p and group modes store a different number of channels per token, so the layer's
// size is known only after the selection: CompressLayer then runs the layer at once, in two
// submissions of the Compressor's own (the selection; then, once the two stream totals are read
// back and the layer allocated, the packing), and records nothing into r.
func (r *Recorder) CompressLayer(p *DevicePress, in LayerInput, cm *Compressor) (*CompressedLayer, error) {
	D, T, nKV, H := in.HeadDim, in.T, in.NKV, in.NHeads
	dt := press.F32
	if in.KV == ggml.TypeF16 {
		dt = press.F16
	}
	switch {
	case in.KV != ggml.TypeF32 && in.KV != ggml.TypeF16:
		return nil, fmt.Errorf("vulkan: compress layer: cache type %v (want f32 or f16)", in.KV)
	case p.opts.DType != dt:
		return nil, fmt.Errorf("vulkan: compress layer: the press stores %v, the cache holds %v (they must be the same type)", p.opts.DType, in.KV)
	case D < 1 || D > maxHeadDim || nKV < 1 || H%nKV != 0:
		return nil, fmt.Errorf("vulkan: compress layer: %d query heads over %d KV heads of dim %d (supported 1..%d)", H, nKV, D, maxHeadDim)
	case T < 1 || T > in.TMax || T > cm.maxT:
		return nil, fmt.Errorf("vulkan: compress layer: prompt of %d tokens, cache of %d, compressor for %d", T, in.TMax, cm.maxT)
	case H != cm.nHeads || nKV != cm.nKV || D != cm.headDim || p.Window() > cm.w:
		return nil, fmt.Errorf("vulkan: compress layer: shape %d/%d×%d and window %d, the compressor is for %d/%d×%d and %d", H, nKV, D, p.Window(), cm.nHeads, cm.nKV, cm.headDim, cm.w)
	case in.LayerIdx < 0 || in.LayerIdx >= cm.slots:
		return nil, fmt.Errorf("vulkan: compress layer: layer %d outside the compressor's %d slots", in.LayerIdx, cm.slots)
	case in.WinCap < min(p.Window(), T):
		return nil, fmt.Errorf("vulkan: compress layer: window ring of %d rows, the press reads %d", in.WinCap, p.Window())
	}
	if T < p.channelWindow() {
		return nil, fmt.Errorf("vulkan: compress layer %d: prompt of %d tokens, the %s window needs %d (Changes reports false: keep the cache dense)", in.LayerIdx, T, p.chans, p.channelWindow())
	}
	if st := in.Stats; p.NeedsStats() && (st == nil || st.kind != p.token || st.NHeads != H || st.NKV != nKV || st.HeadDim != D || st.TMax < T) {
		return nil, fmt.Errorf("vulkan: compress layer %d: press %s needs its prefill statistics for %d/%d heads of dim %d and %d positions (LayerInput.Stats)", in.LayerIdx, p.name, H, nKV, D, T)
	}
	n, nPrune, err := p.sizes(T, in.LayerIdx, in.NLayers, D)
	if err != nil {
		return nil, fmt.Errorf("vulkan: compress layer %d: %w", in.LayerIdx, err)
	}
	variable := p.variable()
	if n == T && nPrune == 0 && !variable && !in.Always {
		return nil, nil
	}
	cacheBytes := uint64(dt.Size()) * uint64(nKV*in.TMax*D)
	b, err := r.bind("compress layer", []Span{in.K, in.V, in.Window, cm.buf.All()}, []string{"K", "V", "window", "scratch"},
		[]uint64{cacheBytes, cacheBytes, 4 * uint64(in.WinCap*H*D), cm.buf.Size()})
	if err != nil {
		return nil, err
	}
	j := &compressJob{p: p, cm: cm, dt: dt, T: T, n: n, nPrune: nPrune, variable: variable, slot: in.LayerIdx * pWords,
		b: [4]vk.BufferRange{b[0], b[1], b[2], b[3]}}
	if p.NeedsStats() && n < T {
		if j.stats, err = in.Stats.buf.All().binding("compress layer", "statistics", in.Stats.Size(), r.ctx); err != nil {
			return nil, err
		}
		if p.token == "expected_attention" {
			if err := in.Stats.writeRotation(T, p.opts.NFuture); err != nil {
				return nil, fmt.Errorf("vulkan: compress layer %d: %w", in.LayerIdx, err)
			}
		}
	}
	j.plan(in)
	if !variable {
		cl, err := j.allocate(r.ctx, nil)
		if err == nil {
			err = r.recordCompress(j, cl, true)
		}
		if err != nil {
			return nil, fmt.Errorf("vulkan: compress layer %d: %w", in.LayerIdx, err)
		}
		return cl, nil
	}
	cl, err := j.runVariable(r.ctx)
	if err != nil {
		return nil, fmt.Errorf("vulkan: compress layer %d: %w", in.LayerIdx, err)
	}
	return cl, nil
}

// variable reports whether the press stores a different number of channels per token (SparK's
// top-p and group modes).
func (p *DevicePress) variable() bool {
	return p.chans == "spark" && (p.opts.Mode == press.ModeTopP || p.opts.Mode == press.ModeGroup)
}

// groupKeep returns SparK-g's keep count for every 99%-rank i* = 0..D-1 of a token with D
// channels (spec 3.11: the token's group is the number of bounds i* passes, and the group gives
// the count). The CPU press computes it, on one crafted token per i* whose saliency profile
// crosses 99% exactly at rank i* (with a margin of about 1e-4 of its total), which keeps one
// definition of the group tables. Ranks where no such profile fits in D channels (the last few,
// above every table's largest bound, 0.8·D) take the count of the rank below.
func (p *DevicePress) groupKeep(D int) ([]uint32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if k, ok := p.groups[D]; ok {
		return k, nil
	}
	sp, err := press.New("spark", press.Options{Mode: press.ModeGroup, ThresholdRatio: p.opts.ThresholdRatio,
		Recovery: press.RecoveryZero, SparKWindow: 1})
	if err != nil {
		return nil, err
	}
	keep := make([]uint32, D)
	for r := range D {
		s := crossAt(r, D)
		if s == nil {
			keep[r] = keep[max(r-1, 0)]
			continue
		}
		k := make([]float32, D)
		for j, x := range s {
			k[j] = float32(math.Sqrt(x))
		}
		q := make([]float32, D)
		for j := range q {
			q[j] = 1 // qn = 1 on every channel: the saliency is k²
		}
		res, err := sp.Compress(&press.Input{KV: press.LayerKV{NKVHeads: 1, T: 1, HeadDim: D, K: k, V: make([]float32, D)},
			Window: press.Queries{NHeads: 1, W: 1, HeadDim: D, Q: q}})
		if err != nil {
			return nil, err
		}
		n := 0
		if sk, ok := res.Layer.Keys.(*press.SparKKeys); ok {
			for _, b := range sk.Mask {
				n += bits.OnesCount8(b)
			}
		} else {
			n = D // kept every channel (dense keys)
		}
		keep[r] = uint32(n)
	}
	p.groups[D] = keep
	return keep, nil
}

// crossAt returns D saliencies, descending, whose cumulative sum first exceeds 0.99 of the total
// at rank r, or nil if none fits: r + 1 ones when r <= 98 (c_(r-1) = r <= 0.99(r+1)); otherwise r
// + 1 ones and the D-1-r others sharing a mass E in the middle of [0.01r/0.99 - 1,
// 0.01(r+1)/0.99), each at most 1 so that the ranks hold.
func crossAt(r, D int) []float64 {
	s := make([]float64, D)
	for j := range r + 1 {
		s[j] = 1
	}
	if r <= 98 {
		return s
	}
	m := D - 1 - r
	E := (0.01*float64(r)/0.99 - 1 + 0.01*float64(r+1)/0.99) / 2
	if m < 1 || E/float64(m) > 1 {
		return nil
	}
	for j := r + 1; j < D; j++ {
		s[j] = E / float64(m)
	}
	return s
}

// compressJob is one layer's compression: its sizes, the layout of spark.go (header, ρ, masks,
// checkpoints, kept values, signs, α, values) and the shaders' parameter block.
type compressJob struct {
	p             *DevicePress
	cm            *Compressor
	dt            press.DType
	T, n, nPrune  int
	variable      bool              // top-p/group: the stream sizes come from the device
	recov         bool              // signs and α are stored
	slot          int               // word offset of the parameter block in the scratch
	b             [4]vk.BufferRange // K, V, window ring, scratch
	stats         vk.BufferRange    // prefill statistics (ObservedAttention, ExpectedAttention)
	layout        string
	prm, hdr      []uint32
	ckptWords     int
	words         [4]int // kept, sign, α and value words
	rhoWords, mws int    // ρ and mask words (written by spark_pack in top-p/group mode)
}

// plan fills the job's parameters and the parts of the layout that do not depend on the
// selection (all of it in fixed mode).
func (j *compressJob) plan(in LayerInput) {
	p, D, nKV, n, nPrune := j.p, in.HeadDim, in.NKV, j.n, j.nPrune
	j.prm, j.hdr = make([]uint32, pWords), make([]uint32, hWords)
	prm, hdr := j.prm, j.hdr
	mw := (D + 31) / 32
	pruned := nPrune > 0 || j.variable
	j.recov = pruned && p.chans == "spark" && p.opts.Recovery != press.RecoveryZero
	nKeep, sb, nMean := D-nPrune, 0, 0
	if j.recov && !j.variable {
		sb = (nPrune + 7) / 8
		nMean = nPrune
		if p.opts.Recovery == press.RecoveryAvgBottom {
			nMean = D - nPrune
		}
	}
	rows := nKV * n
	hdr[hEType], hdr[hMaskWords], hdr[hNKV], hdr[hTokens], hdr[hHeadDim] = uint32(j.dt), uint32(mw), uint32(nKV), uint32(n), uint32(D)
	w := hWords
	j.layout = "dense"
	switch {
	case pruned && p.chans == "spark":
		j.layout, hdr[hKind] = "spark", kindMasked
		hdr[hMaskTok], hdr[hMaskHead] = uint32(mw), uint32(n*mw)
		if j.recov {
			hdr[hSigns], hdr[hRho] = 1, uint32(w)
			j.rhoWords = nKV * D
			w += j.rhoWords
		}
		hdr[hMask] = uint32(w)
		j.mws = rows * mw
		w += j.mws
	case pruned: // ThinK: one mask per KV head
		j.layout, hdr[hKind] = "channel", kindMasked
		hdr[hMaskHead], hdr[hMask] = uint32(mw), uint32(w)
		w += nKV * mw
	}
	hdr[hCkpt] = uint32(w)
	tiles := (n + wgSize - 1) / wgSize
	j.ckptWords = 2 * nKV * tiles
	w += j.ckptWords
	hdr[hKept] = uint32(w)

	gather := 0
	switch {
	case n == j.T:
	case p.token == "streaming_llm":
		gather = 2
	default:
		gather = 1
	}
	kvType, variable := 0, 0
	if j.dt == press.F16 {
		kvType = 1
	}
	if j.variable {
		variable = 1
	}
	cm := j.cm
	for i, v := range map[int]int{
		pNKV: nKV, pH: in.NHeads, pD: D, pT: j.T, pTMax: in.TMax, pKVType: kvType, pWinCap: in.WinCap,
		pSnapW: p.scoreWindow(), pKSize: p.opts.KernelSize, pN: n, pGather: gather, pSparkW: p.opts.SparKWindow,
		pNKeep: nKeep, pNMean: nMean, pSB: sb, pDType: int(j.dt), pMW: mw, pNSink: p.opts.NSink,
		pMTok: int(hdr[hMaskTok]), pMHead: int(hdr[hMaskHead]), pThinkW: p.opts.ThinKWindow,
		pMask: int(hdr[hMask]), pKept: int(hdr[hKept]), pVar: variable, pTiles: tiles, pCkpt: int(hdr[hCkpt]),
		pQN: cm.work[0], pStats: cm.work[1], pSC: cm.work[2], pSS: cm.work[3], pFlag: cm.work[4], pIdx: cm.work[5],
		pAlpha: cm.work[6], pCnt: cm.work[7], pOff: cm.work[8], pSMask: cm.work[9],
	} {
		prm[i] = uint32(v)
	}
	prm[pScale] = math.Float32bits(float32(1 / math.Sqrt(float64(D))))
	prm[pEps] = math.Float32bits(float32(p.opts.Epsilon))
	if in.Stats != nil {
		prm[pSTMax] = uint32(in.Stats.TMax)
		if in.Stats.NeoX {
			prm[pNeoX] = 1
		}
	}
	if !p.opts.NoVNorm {
		prm[pVNorm] = 1
	}
	if !p.opts.NoCovariance {
		prm[pCov] = 1
	}
	if j.recov {
		prm[pRecov] = 1
	}
	if p.opts.PaperSaliency {
		prm[pPaper] = 1
	}
	if !j.variable {
		j.finish(rows*nKeep, rows*sb)
	}
}

// finish completes the layout once the kept elements and sign bytes of all tokens are known.
func (j *compressJob) finish(kept, signBytes int) {
	hdr, elem := j.hdr, j.dt.Size()
	rows := int(hdr[hNKV] * hdr[hTokens])
	elemWords := func(count int) int { return (count*elem + 3) / 4 }
	w := int(hdr[hKept])
	j.words[0] = elemWords(kept)
	w += j.words[0]
	if j.recov {
		hdr[hSign] = uint32(w)
		j.words[1] = (signBytes+3)/4 + 1 // one zero word past the last sign (attn_spark reads 32 bits)
		w += j.words[1]
		hdr[hAlpha] = uint32(w)
		j.words[2] = elemWords(rows)
		w += j.words[2]
		// ρ's offset is set only now: in top-p/group mode the selection's submission binds no layer
		// yet, so press_qnorm must not write ρ (spark_pack does, once the layer exists).
		j.prm[pSign], j.prm[pAlphaW], j.prm[pRho] = hdr[hSign], hdr[hAlpha], hdr[hRho]
	}
	hdr[hV] = uint32(w)
	j.words[3] = elemWords(rows * int(hdr[hHeadDim]))
	j.prm[pV] = hdr[hV]
}

// size returns the layer's words.
func (j *compressJob) size() int { return int(j.hdr[hV]) + j.words[3] }

// allocate creates the layer's buffer and writes its header, in fixed mode its checkpoints
// (ckpt: the stream positions of every tile of wgSize tokens, [n_kv_heads][tiles][2]) and the
// parameter block.
func (j *compressJob) allocate(c *Context, ckpt []uint32) (*CompressedLayer, error) {
	w := j.size()
	if uint64(w) > math.MaxUint32/4 || 4*uint64(w) > c.maxBind {
		return nil, fmt.Errorf("compressed layer of %d bytes is over the device's %d-byte maxStorageBufferRange", 4*uint64(w), c.maxBind)
	}
	hdr := j.hdr
	if !j.variable {
		// Fixed mode: every token's record has the same size, so the checkpoints are known.
		nKeep, sb := int(j.prm[pNKeep]), int(j.prm[pSB])
		for i := range int(hdr[hNKV]) {
			for tile := range j.ckptWords / 2 / int(hdr[hNKV]) {
				r0 := i*int(hdr[hTokens]) + tile*wgSize
				ckpt = append(ckpt, uint32(r0*nKeep), uint32(r0*sb))
			}
		}
	}
	buf, err := c.NewBuffer(4 * uint64(w))
	if err != nil {
		return nil, err
	}
	cl := &CompressedLayer{NKVHeads: int(hdr[hNKV]), NTokens: j.n, HeadDim: int(hdr[hHeadDim]), DType: j.dt, Layout: j.layout, buf: buf}
	err = buf.Write(0, wordBytes(hdr))
	if err == nil && len(ckpt) > 0 {
		err = buf.Write(4*uint64(hdr[hCkpt]), wordBytes(ckpt))
	}
	if err == nil {
		err = j.cm.buf.Write(4*uint64(j.slot), wordBytes(j.prm))
	}
	if err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// runVariable compresses a top-p or group-mode layer at once: the selection and the stream
// offsets in one submission, the two totals read back, the layer allocated, then the packing in
// another.
func (j *compressJob) runVariable(c *Context) (*CompressedLayer, error) {
	cm := j.cm
	if cm.rec == nil {
		var err error
		if cm.rec, err = c.NewRecorder(); err != nil {
			return nil, err
		}
	}
	if j.p.opts.Mode == press.ModeGroup {
		keep, err := j.p.groupKeep(cm.headDim)
		if err != nil {
			return nil, err
		}
		if err := cm.buf.Write(4*uint64(cm.work[10]), wordBytes(keep)); err != nil {
			return nil, err
		}
		j.prm[pGroup] = uint32(cm.work[10])
	}
	if err := cm.buf.Write(4*uint64(j.slot), wordBytes(j.prm)); err != nil {
		return nil, err
	}
	if err := cm.rec.Begin(); err != nil {
		return nil, err
	}
	if err := cm.rec.recordCompress(j, nil, false); err != nil {
		return nil, errors.Join(err, cm.rec.Discard())
	}
	if err := cm.rec.Submit(); err != nil {
		return nil, err
	}
	rows := int(j.hdr[hNKV] * j.hdr[hTokens])
	tot := make([]uint32, 2)
	raw := make([]byte, 8)
	if err := cm.buf.Read(4*uint64(cm.work[8]+2*rows), raw); err != nil {
		return nil, err
	}
	tot[0], tot[1] = binary.LittleEndian.Uint32(raw), binary.LittleEndian.Uint32(raw[4:])
	j.finish(int(tot[0]), int(tot[1]))
	cl, err := j.allocate(c, nil)
	if err != nil {
		return nil, err
	}
	if err := cm.rec.Begin(); err != nil {
		cl.Close()
		return nil, err
	}
	if err := cm.rec.recordPack(j, cl); err != nil {
		cl.Close()
		return nil, errors.Join(err, cm.rec.Discard())
	}
	if err := cm.rec.Submit(); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// recordCompress records the selection dispatches of a job: the token stage (scores and
// selection, recordTokenScores), ThinK's or SparK's (query norm, per-token) channel selection, and
// with pack (fixed mode) the packing of every region into cl. In top-p/group mode (cl nil) the
// selection writes only the scratch, and the stream offsets follow.
func (r *Recorder) recordCompress(j *compressJob, cl *CompressedLayer, pack bool) error {
	kB, _, wB, sB := j.b[0], j.b[1], j.b[2], j.b[3]
	lb := sB // top-p: nothing writes the layer yet; any valid binding will do
	if cl != nil {
		var err error
		if lb, err = cl.buf.All().binding("compress layer", "layer", cl.buf.Size(), r.ctx); err != nil {
			return err
		}
	}
	cm := j.cm
	nKV, D, n := cm.nKV, cm.headDim, j.n
	if j.prm[pGather] == 1 {
		if err := r.recordTokenScores(j); err != nil {
			return err
		}
	}
	switch j.layout {
	case "channel":
		if err := r.dispatch("think_select", []vk.BufferRange{kB, wB, sB, lb}, push(j.slot), uint32(nKV), 1); err != nil {
			return err
		}
	case "spark":
		if err := r.dispatch("press_qnorm", []vk.BufferRange{wB, sB, lb}, push(j.slot), groupsFor(nKV*D), 1); err != nil {
			return err
		}
		if err := r.dispatch("spark_select", []vk.BufferRange{kB, sB, lb}, push(j.slot), uint32(nKV*n), 1); err != nil {
			return err
		}
	}
	if j.variable {
		return r.dispatch("press_tokens", []vk.BufferRange{kB, wB, sB}, push(j.slot, 6), 1, 1)
	}
	if pack {
		return r.recordPack(j, cl)
	}
	return nil
}

// recordTokenScores records the token stage of a job that evicts by score: the scores into the
// scratch's SS, then press_tokens' selection (3) and compaction (4) into IDX. SnapKV/PyramidKV
// and TOVA score in press_tokens (SS [nKV][T-w], the w window tokens forced); ObservedAttention
// and ExpectedAttention from the prefill statistics (SS [nKV][T], nothing forced by the window:
// ExpectedAttention scores its sink tokens FORCED).
func (r *Recorder) recordTokenScores(j *compressJob) error {
	kB, vB, wB, sB := j.b[0], j.b[1], j.b[2], j.b[3]
	p, cm := j.p, j.cm
	H, nKV, D, T := cm.nHeads, cm.nKV, cm.headDim, j.T
	type stage struct {
		kernel string
		b      []vk.BufferRange
		stage  int
		groups uint32
	}
	tok := []vk.BufferRange{kB, wB, sB}
	var stages []stage
	switch p.token {
	case "tova":
		stages = []stage{{"press_tokens", tok, 0, uint32(H)}, {"press_tokens", tok, 5, groupsFor(T - 1)}}
	case "observed_attention":
		stages = []stage{{"press_observed_score", []vk.BufferRange{j.stats, sB}, 0, groupsFor(nKV * T)}}
	case "expected_attention":
		eb := []vk.BufferRange{kB, vB, j.stats, sB}
		N, half := T-p.opts.NSink, D/2
		stages = []stage{{"press_expected_score", eb, 0, groupsFor(H * half * half)}, {"press_expected_score", eb, 1, groupsFor(H * N)},
			{"press_expected_score", eb, 2, uint32(H)}, {"press_expected_score", eb, 3, groupsFor(nKV * T)}}
	default: // snapkv, pyramidkv
		w := p.scoreWindow()
		P := T - w
		stages = []stage{{"press_tokens", tok, 0, uint32(H * w)}, {"press_tokens", tok, 1, groupsFor(H * P)}, {"press_tokens", tok, 2, groupsFor(nKV * P)}}
	}
	stages = append(stages, stage{"press_tokens", tok, 3, groupsFor(nKV * T)}, stage{"press_tokens", tok, 4, 1})
	for _, st := range stages {
		if err := r.dispatch(st.kernel, st.b, push(j.slot, st.stage), st.groups, 1); err != nil {
			return err
		}
	}
	return nil
}

// packRegions are spark_pack's regions in the order they must run: ρ, masks and checkpoints
// (top-p only) before the kept values and signs, which read the masks.
var packRegions = []int{4, 5, 6, 0, 1, 2, 3}

// recordPack records spark_pack over every region of cl the job writes on the device.
func (r *Recorder) recordPack(j *compressJob, cl *CompressedLayer) error {
	lb, err := cl.buf.All().binding("compress layer", "layer", cl.buf.Size(), r.ctx)
	if err != nil {
		return err
	}
	for _, region := range packRegions {
		nw := 0
		switch {
		case region < 4:
			nw = j.words[region]
		case !j.variable:
		case region == 4:
			nw = j.rhoWords
		case region == 5:
			nw = j.mws
		case region == 6:
			nw = j.ckptWords
		}
		if nw == 0 {
			continue
		}
		if err := r.dispatch("spark_pack", []vk.BufferRange{j.b[0], j.b[1], j.b[3], lb}, push(j.slot, region, nw), groupsFor(nw), 1); err != nil {
			return err
		}
	}
	return nil
}
