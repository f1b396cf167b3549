//go:build cgo

package vulkan

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"runtime"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/press"
	"github.com/sparkrun/sparkrun/runtime/vulkan/vk"
)

// This file holds the decode attention over press-compressed layers (spec 3.6, 3.7): the device
// layout of a press.CompressedLayer and the op that reads it (shaders/attn_spark.comp).
//
// Device layout: one buffer of little-endian 32-bit words per layer,
//
//	header   [16] words (h* below): kind, element type, mask geometry, shape, the word offset of
//	         every region
//	rho      [n_kv_heads][head_dim] f32                      SparK with recovery only
//	mask     SparK: [n_kv_heads][n_tokens][mask_words] u32   ThinK: [n_kv_heads][mask_words]
//	ckpt     [n_kv_heads][ceil(n_tokens/128)][2] u32: the kept-value element index and the sign
//	         byte index where each tile of 128 tokens (the kernel's workgroup) starts, so that a
//	         token split starts reading mid-stream (0.06 B per token and KV head)
//	kept     the kept key values as elements, head after head, each token's in channel order
//	         (dense keys: [n_kv_heads][n_tokens][head_dim])
//	signs    the press's sign bytes, head after head, packed 4 to a word, then one zero word
//	         (the shader reads 32 bits from any sign position)            SparK with recovery only
//	alpha    [n_kv_heads][n_tokens] elements                              SparK with recovery only
//	values   [n_kv_heads][n_tokens][head_dim] elements
//
// mask_words = ceil(head_dim/32): bit j%32 of word j/32 is set when channel j is kept. Elements
// are f32, f16 or bf16 (the layer's DType, whose press.DType value is the header's element type
// word; the press has already rounded every number to it, so the conversion is exact), two 16-bit
// elements to a word, low half first. Like the press, records carry no per-token offsets: the
// shader recovers them with a prefix sum of popcounts from the tile checkpoints. (A full
// head_dim-bit sign mask per token, spec 3.6's alternative, spares the kernel the sign cursor but
// measured no faster on lavapipe and costs up to 4 B more per token at head_dim 64.)

// Header word indices (the H_* constants of attn_spark.comp).
const (
	hKind = iota
	hEType
	hMaskWords
	hMaskTok
	hMaskHead
	hSigns
	hNKV
	hTokens
	hHeadDim
	hRho
	hMask
	hKept
	hSign
	hAlpha
	hV
	hCkpt
	hWords // header length
)

// Key layouts (the KIND_* constants of attn_spark.comp).
const (
	kindDense  = 0
	kindMasked = 1
)

// sparkGroup is the number of query heads one attention workgroup serves, dense (Attend) or
// compressed (GMAX in shaders/attn.glsl).
const sparkGroup = 4

// The shader's scan adds a tile's kept counts (at most wgSize tokens × maxHeadDim channels) in a
// 16-bit field; this constant fails to compile if the workgroup or head dim grows past that.
const _ = uint16(wgSize*maxHeadDim - 1)

// CompressedLayer is a press.CompressedLayer in device memory, read by AttendCompressed.
type CompressedLayer struct {
	NKVHeads, NTokens, HeadDim int
	DType                      press.DType // element type of kept keys, α and values
	// Layout names the key store: "dense", "channel" (ThinK) or "spark".
	Layout string

	buf *Buffer // the words of the layout above
}

// Bytes returns the device bytes of the layer's records (header and checkpoints included; not the
// recorder's scratch for token splits, S × n_heads × (head_dim+2) floats shared by every layer).
func (cl *CompressedLayer) Bytes() uint64 { return cl.buf.Size() }

// Close frees the layer's buffer; it must not be in use by a pending submission.
func (cl *CompressedLayer) Close() { cl.buf.Close() }

// UploadCompressed validates layer and copies it to device memory in the layout above.
func (c *Context) UploadCompressed(layer *press.CompressedLayer) (*CompressedLayer, error) {
	if err := layer.Validate(); err != nil {
		return nil, fmt.Errorf("vulkan: upload compressed layer: %w", err)
	}
	words, kind, err := packLayer(layer)
	if err != nil {
		return nil, err
	}
	if n := 4 * uint64(len(words)); n > c.maxBind {
		return nil, fmt.Errorf("vulkan: compressed layer of %d bytes is over the device's %d-byte maxStorageBufferRange", n, c.maxBind)
	}
	b, err := c.NewBuffer(4 * uint64(len(words)))
	if err != nil {
		return nil, err
	}
	if err := b.Write(0, wordBytes(words)); err != nil {
		b.Close()
		return nil, err
	}
	return &CompressedLayer{NKVHeads: layer.NKVHeads, NTokens: layer.NTokens, HeadDim: layer.HeadDim,
		DType: layer.DType, Layout: kind, buf: b}, nil
}

// LayoutBytes returns the device bytes layer takes in the layout above (header, records and tile
// checkpoints: what CompressedLayer.Bytes reports once it is uploaded, or compressed on the
// device, which writes the same words), computed on the host without a device.
func LayoutBytes(layer *press.CompressedLayer) (uint64, error) {
	if err := layer.Validate(); err != nil {
		return 0, fmt.Errorf("vulkan: compressed layer: %w", err)
	}
	words, _, err := packLayer(layer)
	return 4 * uint64(len(words)), err
}

// packLayer returns the words of a validated layer and its layout name.
func packLayer(l *press.CompressedLayer) ([]uint32, string, error) {
	D, T, nKV := l.HeadDim, l.NTokens, l.NKVHeads
	if D > maxHeadDim {
		return nil, "", fmt.Errorf("vulkan: compressed layer: head dim %d (supported 1..%d)", D, maxHeadDim)
	}
	mw := (D + 31) / 32
	w := make([]uint32, hWords)
	w[hEType], w[hMaskWords], w[hNKV], w[hTokens], w[hHeadDim] = uint32(l.DType), uint32(mw), uint32(nKV), uint32(T), uint32(D)
	var kept []float32
	var layout string
	// size returns the kept values and sign bytes of token row r ([n_kv_heads][n_tokens]).
	var size func(r int) (int, int)
	switch k := l.Keys.(type) {
	case *press.DenseKeys:
		layout, w[hKind], kept = "dense", kindDense, l.DType.Float32s(k.K, k.K16)
		size = func(int) (int, int) { return D, 0 }
	case *press.ChannelKeys:
		layout, w[hKind], kept = "channel", kindMasked, l.DType.Float32s(k.K, k.K16)
		w[hMaskHead], w[hMask] = uint32(mw), uint32(len(w))
		for i := range nKV {
			mask := make([]uint32, mw)
			for _, j := range k.Channels[i*k.NKept : (i+1)*k.NKept] {
				mask[j/32] |= 1 << (j % 32)
			}
			w = append(w, mask...)
		}
		size = func(int) (int, int) { return k.NKept, 0 }
	case *press.SparKKeys:
		layout, w[hKind], kept = "spark", kindMasked, l.DType.Float32s(k.Kept, k.Kept16)
		w[hMaskTok], w[hMaskHead] = uint32(mw), uint32(T*mw)
		if k.Signs != nil {
			w[hSigns], w[hRho] = 1, uint32(len(w))
			w = appendF32(w, k.Rho)
		}
		w[hMask] = uint32(len(w))
		for r := range nKV * T {
			mask := make([]uint32, mw)
			for b, x := range k.Mask[r*k.MaskBytes : (r+1)*k.MaskBytes] {
				mask[b/4] |= uint32(x) << (8 * (b % 4))
			}
			w = append(w, mask...)
		}
		size = func(r int) (int, int) {
			nk := 0
			for _, x := range k.Mask[r*k.MaskBytes : (r+1)*k.MaskBytes] {
				nk += bits.OnesCount8(x)
			}
			if k.Signs == nil {
				return nk, 0
			}
			return nk, (D - nk + 7) / 8
		}
	default:
		return nil, "", fmt.Errorf("vulkan: compressed layer: key store %T not supported", l.Keys)
	}
	// Checkpoints: the stream positions where each tile of wgSize tokens starts. Every layout's
	// streams run head after head (Validate checks SparK's offsets), so one running sum serves.
	w[hCkpt] = uint32(len(w))
	kp, sp := 0, 0
	for r := range nKV * T {
		if r%T%wgSize == 0 {
			w = append(w, uint32(kp), uint32(sp))
		}
		nk, nb := size(r)
		kp, sp = kp+nk, sp+nb
	}
	w[hKept] = uint32(len(w))
	w = appendElems(w, kept, l.DType)
	if k, ok := l.Keys.(*press.SparKKeys); ok && k.Signs != nil {
		w[hSign] = uint32(len(w))
		w = append(appendBytes(w, k.Signs), 0) // the shader reads one word past a token's signs
		w[hAlpha] = uint32(len(w))
		w = appendElems(w, l.DType.Float32s(k.Alpha, k.Alpha16), l.DType)
	}
	w[hV] = uint32(len(w))
	w = appendElems(w, l.Values(), l.DType)
	if uint64(len(w)) > math.MaxUint32/4 {
		return nil, "", fmt.Errorf("vulkan: compressed layer of %d words does not fit 32-bit offsets", len(w))
	}
	return w, layout, nil
}

// appendF32 appends xs as f32 words.
func appendF32(w []uint32, xs []float32) []uint32 {
	for _, x := range xs {
		w = append(w, math.Float32bits(x))
	}
	return w
}

// appendElems appends xs as elements of dt (two 16-bit elements to a word, low half first).
func appendElems(w []uint32, xs []float32, dt press.DType) []uint32 {
	if dt == press.F32 {
		return appendF32(w, xs)
	}
	half := ggml.FP32ToFP16
	if dt == press.BF16 {
		half = ggml.FP32ToBF16
	}
	for i := 0; i < len(xs); i += 2 {
		lo, hi := uint32(half(xs[i])), uint32(0)
		if i+1 < len(xs) {
			hi = uint32(half(xs[i+1]))
		}
		w = append(w, lo|hi<<16)
	}
	return w
}

// appendBytes appends bs little-endian, four to a word.
func appendBytes(w []uint32, bs []byte) []uint32 {
	for i := 0; i < len(bs); i += 4 {
		var x uint32
		for b := i; b < min(i+4, len(bs)); b++ {
			x |= uint32(bs[b]) << (8 * (b - i))
		}
		w = append(w, x)
	}
	return w
}

// DenseTail locates a layer's tokens added after prefill (never compressed, spec 3.8): K and V
// are [n_kv_heads][Cap][head_dim] spans of KV elements (f32 or f16) in the same Buffer (the kernel
// binds the range covering both), of which the first Len tokens per KV head are attended over.
type DenseTail struct {
	K, V     Span
	Cap, Len int
	KV       ggml.Type // TypeF32 or TypeF16
}

// AttendCompressed records one decode step of attention for nHeads query heads over the
// compressed layer cl followed by the tail (zero Len: none): out[h] = Σ_t softmax_t(q_h·k̂_t
// /sqrt(D)) v_t over the layer's tokens of KV head h/(nHeads/NKVHeads) and then the tail's, with
// SparK's pruned entries recovered inside the logit (spec 3.7). q and out are [nHeads][HeadDim]
// f32. The result matches press.CompressedLayer.Attend on the same layer and tail. It records one
// dispatch, or two when the tokens are split over more workgroups (splits) and merged
// (attendSplit).
func (r *Recorder) AttendCompressed(q Span, cl *CompressedLayer, tail DenseTail, out Span, nHeads int) error {
	D, nKV := cl.HeadDim, cl.NKVHeads
	switch {
	case nHeads <= 0 || nHeads%nKV != 0:
		return fmt.Errorf("vulkan: compressed attention: %d query heads over %d KV heads", nHeads, nKV)
	case tail.Len < 0 || tail.Len > tail.Cap:
		return fmt.Errorf("vulkan: compressed attention: tail of %d tokens with capacity %d", tail.Len, tail.Cap)
	case cl.NTokens+tail.Len == 0:
		return fmt.Errorf("vulkan: compressed attention: no tokens to attend to")
	}
	qn := 4 * uint64(nHeads*D)
	tb, tk, tv, tt, err := tail.binding(nKV, D)
	if err != nil {
		return err
	}
	if tail.Len == 0 {
		tb = q // the shader reads no tail; any valid binding will do
	}
	b, err := r.bind("compressed attention", []Span{q, cl.buf.All(), tb, out},
		[]string{"q", "layer", "tail", "out"}, []uint64{qn, cl.buf.Size(), 0, qn})
	if err != nil {
		return err
	}
	G := nHeads / nKV
	blocks := (G + sparkGroup - 1) / sparkGroup
	pc := push(G, float32(1/math.Sqrt(float64(D))), tail.Len, tail.Cap, tk, tv, blocks, tt)
	return r.attendSplit("attn_spark", b, pc, nKV*blocks, r.ctx.splitsFor(nKV*blocks, cl.NTokens+tail.Len), nHeads, D)
}

// attendSplit records attention kernel over wgs workgroups times S token splits (grid z) with
// bindings b, the last the output ([nHeads][D] f32). With S = 1 the kernel writes the output;
// with more it writes the splits' partial softmax states ([S][nHeads][D+2] f32, attn.glsl's
// attn_store) to the recorder's scratch and attn_spark_combine merges them into the output.
func (r *Recorder) attendSplit(kernel string, b []vk.BufferRange, pc []byte, wgs, S, nHeads, D int) error {
	if S == 1 {
		return r.dispatch(kernel, b, pc, uint32(wgs), 1)
	}
	part, err := r.scratch(uint64(S*nHeads*(D+2)) * 4)
	if err != nil {
		return err
	}
	pb, err := r.bind(kernel, []Span{part}, []string{"partials"}, []uint64{part.Len})
	if err != nil {
		return err
	}
	withPart := append(append([]vk.BufferRange(nil), b[:len(b)-1]...), pb[0])
	if err := r.dispatch(kernel, withPart, pc, uint32(wgs), uint32(S)); err != nil {
		return err
	}
	return r.dispatch("attn_spark_combine", []vk.BufferRange{pb[0], b[len(b)-1]}, push(D, S, nHeads), uint32(nHeads), 1)
}

// splitWorkgroups is the number of workgroups a decode attention aims for on a GPU: with few
// KV heads one workgroup per head leaves most of a GPU idle, so the tokens are split
// (flash-decoding) and the splits' partial softmax states merged by a second dispatch.
const splitWorkgroups = 128

// splitTarget returns the number of workgroups a decode attention aims for on c's device:
// splitWorkgroups on a GPU; on a CPU driver (lavapipe runs workgroups on one thread per core)
// two per core, since every further split only adds its setup, its partial results and their
// merge (measured on lavapipe at 4096 tokens, 8 KV heads: 16 splits per head cost 25-30% more
// CPU time than none).
func (c *Context) splitTarget() int {
	if c.Info.Type == "CPU" {
		return 2 * runtime.NumCPU()
	}
	return splitWorkgroups
}

// splitsFor returns the token splits of an attention with wgs workgroups per split over tokens
// tokens on c's device, or the test override forceSplits.
func (c *Context) splitsFor(wgs, tokens int) int {
	if c.forceSplits > 0 {
		return c.forceSplits
	}
	return splits(wgs, tokens, c.splitTarget())
}

// splits returns the token splits for wgs workgroups per split over tokens tokens: enough for
// target workgroups in all, at most one per tile of wgSize tokens, and a whole number of tiles
// each.
func splits(wgs, tokens, target int) int {
	tiles := (tokens + wgSize - 1) / wgSize
	s := max(1, min((target+wgs-1)/wgs, tiles))
	per := (tiles + s - 1) / s
	return (tiles + per - 1) / per // no split left without tiles
}

// binding returns the span covering both of the tail's K and V, their element offsets in it and
// the shader's code of the element type, after checking that each holds [nKV][Cap][D] elements.
func (t DenseTail) binding(nKV, D int) (span Span, k, v, ty int, err error) {
	if t.Len == 0 {
		return Span{}, 0, 0, 0, nil
	}
	elem := map[ggml.Type]uint64{ggml.TypeF32: 4, ggml.TypeF16: 2}[t.KV]
	need := elem * uint64(nKV*t.Cap*D)
	switch {
	case elem == 0:
		return Span{}, 0, 0, 0, fmt.Errorf("vulkan: compressed attention: tail type %v (want f32 or f16)", t.KV)
	case t.K.Buf == nil || t.K.Buf != t.V.Buf:
		return Span{}, 0, 0, 0, fmt.Errorf("vulkan: compressed attention: tail K and V must be spans of the same buffer")
	case t.K.Len < need || t.V.Len < need:
		return Span{}, 0, 0, 0, fmt.Errorf("vulkan: compressed attention: tail K/V spans of %d/%d bytes, need %d (%d KV heads × %d tokens × %d)", t.K.Len, t.V.Len, need, nKV, t.Cap, D)
	case t.K.Off%elem != 0 || t.V.Off%elem != 0:
		return Span{}, 0, 0, 0, fmt.Errorf("vulkan: compressed attention: tail K/V at byte offsets %d/%d, not whole %v elements", t.K.Off, t.V.Off, t.KV)
	}
	lo := min(t.K.Off, t.V.Off) &^ 3 // word-aligned; the binding check enforces the device alignment
	hi := max(t.K.Off+t.K.Len, t.V.Off+t.V.Len)
	if t.KV == ggml.TypeF16 {
		ty = 1
	}
	return Span{t.K.Buf, lo, hi - lo}, int((t.K.Off - lo) / elem), int((t.V.Off - lo) / elem), ty, nil
}

// wordBytes encodes words little-endian.
func wordBytes(w []uint32) []byte {
	raw := make([]byte, 4*len(w))
	for i, x := range w {
		binary.LittleEndian.PutUint32(raw[4*i:], x)
	}
	return raw
}
