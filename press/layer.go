package press

import (
	"fmt"
	"math/bits"
)

// CompressedLayer is one layer's cache after a press: NTokens tokens per KV head (the same count
// for every head, though not the same tokens), their values dense and their keys in one of the
// layouts of KeyStore. Every key and value number is held in DType: the float32 fields when it
// is F32, the 16-bit ones (bit patterns) otherwise; the fields of the other kind stay empty.
type CompressedLayer struct {
	NKVHeads, NTokens, HeadDim int
	// DType is the storage type of every key and value number.
	DType DType
	// Keys is DenseKeys, ChannelKeys (ThinK) or SparKKeys (spec 3.6).
	Keys KeyStore
	// V (F32) or V16 (F16, BF16) holds the values of the stored tokens (never pruned: spec 3.6,
	// value pruning off).
	V   []float32 // [n_kv_heads][n_tokens][head_dim]
	V16 []uint16  // [n_kv_heads][n_tokens][head_dim]

	// checked records that the arrays passed validate (set by Compress and Validate), so that
	// Attend checks a hand-built layer once, not at every decode step.
	checked bool
}

// KeyStore is the storage of a compressed layer's keys. The set of layouts is closed (the decode
// kernel has a loop for each): *DenseKeys, *ChannelKeys, *SparKKeys.
type KeyStore interface {
	// Bytes returns the storage bytes of the keys, every number taking dt.Size() bytes (dt is
	// the layer's DType, in whose fields the numbers are held).
	Bytes(dt DType) int
	// decompress writes the dense (recovered) keys of layer c to dst.
	decompress(c *CompressedLayer, dst []float32) // dst [n_kv_heads][n_tokens][head_dim]
	// pack moves the float32 numbers (rounded to dt) into dt's storage fields.
	pack(dt DType)
}

// DenseKeys stores keys densely: token presses, and channel presses that prune nothing.
type DenseKeys struct {
	K   []float32 // [n_kv_heads][n_tokens][head_dim] (F32)
	K16 []uint16  // [n_kv_heads][n_tokens][head_dim] (F16, BF16)
}

// ChannelKeys is ThinK's structured layout: one set of kept channels per KV head, shared by all of
// its tokens; pruned channels are zero (spec 4.8) and are not stored.
type ChannelKeys struct {
	NKept    int       // kept channels per KV head
	Channels []uint16  // [n_kv_heads][n_kept] kept channel indices, ascending
	K        []float32 // [n_kv_heads][n_tokens][n_kept] the kept key entries (F32)
	K16      []uint16  // [n_kv_heads][n_tokens][n_kept] the same (F16, BF16)
}

// SparKKeys is SparK's per-token record layout (spec 3.6). For KV head i and its token t:
// a keep mask of HeadDim bits, the kept key values in channel order, one sign bit per pruned
// channel (set = key > 0; zero counts as negative, spec 3.5) and one scale α. A pruned entry is
// recovered as K̂[j] = σ_j·α·ρ[i,j] (spec 3.5/3.7). Records are variable-length (SparK-g/-p keep a
// different number of channels per token), so each head's kept values and signs are one packed
// stream read front to back; the decode kernel walks it with popcounts, no per-token offsets.
type SparKKeys struct {
	// Rho is ρ = 1/sqrt(qn) per channel (1/qn with the paper's saliency), 0 where qn = 0; kept
	// in float32 because it is per head, not per token.
	Rho []float32 // [n_kv_heads][head_dim]
	// MaskBytes is ceil(head_dim/8), the bytes of one token's keep mask.
	MaskBytes int
	// Mask holds bit j%8 of byte j/8 set when channel j is kept.
	Mask []byte // [n_kv_heads][n_tokens][mask_bytes]
	// Kept (F32) or Kept16 (F16, BF16) holds the kept key values, token after token, each
	// token's in channel order; head i's stream starts at KeptStart[i].
	Kept      []float32 // [Σ_tokens n_kept(i,t)]
	Kept16    []uint16  // [Σ_tokens n_kept(i,t)]
	KeptStart []int     // [n_kv_heads+1]
	// Signs holds, per token, ceil(n_pruned/8) bytes: bit p%8 of byte p/8 is the sign of the
	// p-th pruned channel (channel order). Nil with recovery "zero", which needs no signs.
	Signs     []byte // [Σ_tokens ceil(n_pruned(i,t)/8)]
	SignStart []int  // [n_kv_heads+1]
	// Alpha (F32) or Alpha16 (F16, BF16) is the recovery scale per token; nil with recovery
	// "zero".
	Alpha   []float32 // [n_kv_heads][n_tokens]
	Alpha16 []uint16  // [n_kv_heads][n_tokens]
}

// hasRecovery reports whether pruned entries are recovered (signs and α stored).
func (k *SparKKeys) hasRecovery() bool { return k.Signs != nil }

// Bytes implements KeyStore.
func (k *DenseKeys) Bytes(dt DType) int { return (len(k.K) + len(k.K16)) * dt.Size() }

// Bytes implements KeyStore: kept entries plus 2 bytes per channel index.
func (k *ChannelKeys) Bytes(dt DType) int {
	return (len(k.K)+len(k.K16))*dt.Size() + 2*len(k.Channels)
}

// offsetBytes is what one stored stream offset costs (an int64 in a runtime's cache).
const offsetBytes = 8

// Bytes implements KeyStore: masks, kept values, sign bits and α per spec 3.6, plus ρ (4 bytes per
// channel per KV head) and the per-head stream offsets.
func (k *SparKKeys) Bytes(dt DType) int {
	return len(k.Rho)*4 + len(k.Mask) + (len(k.Kept)+len(k.Kept16))*dt.Size() + len(k.Signs) +
		(len(k.Alpha)+len(k.Alpha16))*dt.Size() + offsetBytes*(len(k.KeptStart)+len(k.SignStart))
}

// Bytes returns the exact storage bytes of the compressed layer: keys plus values.
func (c *CompressedLayer) Bytes() int {
	return c.Keys.Bytes(c.DType) + (len(c.V)+len(c.V16))*c.DType.Size()
}

// Values returns the values as float32 ([n_kv_heads][n_tokens][head_dim]): V itself for F32,
// else V16 decoded into a new slice.
func (c *CompressedLayer) Values() []float32 { return c.DType.Float32s(c.V, c.V16) }

// pack moves a layer built in float32 (numbers already rounded to DType) into DType's fields.
func (c *CompressedLayer) pack() {
	c.V, c.V16 = c.DType.pack(c.V)
	c.Keys.pack(c.DType)
}

func (k *DenseKeys) pack(dt DType)   { k.K, k.K16 = dt.pack(k.K) }
func (k *ChannelKeys) pack(dt DType) { k.K, k.K16 = dt.pack(k.K) }

func (k *SparKKeys) pack(dt DType) {
	k.Kept, k.Kept16 = dt.pack(k.Kept)
	if k.Alpha != nil {
		k.Alpha, k.Alpha16 = dt.pack(k.Alpha)
	}
}

// DenseBytes returns the bytes the same NTokens tokens would take as dense K and V in DType.
func (c *CompressedLayer) DenseBytes() int {
	return 2 * c.NKVHeads * c.NTokens * c.HeadDim * c.DType.Size()
}

// Decompress returns the dense cache the compressed layer stands for: recovered keys (spec 3.5)
// and values. It is the oracle of the decode kernel, not part of the decode path.
func (c *CompressedLayer) Decompress() LayerKV {
	v := c.Values()
	if c.DType == F32 {
		v = append([]float32(nil), v...)
	}
	kv := LayerKV{NKVHeads: c.NKVHeads, T: c.NTokens, HeadDim: c.HeadDim,
		K: make([]float32, len(v)), V: v}
	c.Keys.decompress(c, kv.K)
	return kv
}

func (k *DenseKeys) decompress(c *CompressedLayer, dst []float32) {
	copy(dst, c.DType.Float32s(k.K, k.K16))
}

func (k *ChannelKeys) decompress(c *CompressedLayer, dst []float32) {
	clear(dst)
	kk := c.DType.Float32s(k.K, k.K16)
	for i := range c.NKVHeads {
		ch := k.Channels[i*k.NKept : (i+1)*k.NKept]
		for t := range c.NTokens {
			src := kk[(i*c.NTokens+t)*k.NKept:]
			row := dst[(i*c.NTokens+t)*c.HeadDim:]
			for n, j := range ch {
				row[j] = src[n]
			}
		}
	}
}

func (k *SparKKeys) decompress(c *CompressedLayer, dst []float32) {
	dt := c.DType
	for i := range c.NKVHeads {
		rho := k.Rho[i*c.HeadDim : (i+1)*c.HeadDim]
		kp, sp := k.KeptStart[i], k.SignStart[i]
		for t := range c.NTokens {
			mask := k.Mask[(i*c.NTokens+t)*k.MaskBytes:][:k.MaskBytes]
			row := dst[(i*c.NTokens+t)*c.HeadDim:][:c.HeadDim]
			var alpha float32
			if k.hasRecovery() {
				alpha = dt.at(k.Alpha, k.Alpha16, i*c.NTokens+t)
			}
			p := 0 // pruned ordinal
			for j := range row {
				switch {
				case mask[j>>3]>>(j&7)&1 == 1:
					row[j] = dt.at(k.Kept, k.Kept16, kp)
					kp++
				case k.Signs == nil:
					row[j] = 0
					p++
				default:
					v := alpha * rho[j]
					if k.Signs[sp+p>>3]>>(p&7)&1 == 0 {
						v = -v
					}
					row[j] = v
					p++
				}
			}
			if k.Signs != nil {
				sp += (p + 7) / 8
			}
		}
	}
}

// popcount returns the number of set bits of a byte mask.
func popcount(mask []byte) int {
	n := 0
	for _, b := range mask {
		n += bits.OnesCount8(b)
	}
	return n
}

// gather returns the cache restricted to kept [n_kv_heads][n] positions.
func gather(kv LayerKV, kept []int32, n int) LayerKV {
	D := kv.HeadDim
	out := LayerKV{NKVHeads: kv.NKVHeads, T: n, HeadDim: D,
		K: make([]float32, kv.NKVHeads*n*D), V: make([]float32, kv.NKVHeads*n*D)}
	for i := range kv.NKVHeads {
		for r, t := range kept[i*n : (i+1)*n] {
			src := (i*kv.T + int(t)) * D
			dst := (i*n + r) * D
			copy(out.K[dst:dst+D], kv.K[src:src+D])
			copy(out.V[dst:dst+D], kv.V[src:src+D])
		}
	}
	return out
}

// allPositions returns kept = 0..T-1 for every KV head.
func allPositions(nKV, T int) []int32 {
	kept := make([]int32, nKV*T)
	for i := range nKV {
		for t := range T {
			kept[i*T+t] = int32(t)
		}
	}
	return kept
}

// validate checks the internal consistency of a compressed layer (one built by hand or received
// from elsewhere) so that the decode kernel can index without checks.
func (c *CompressedLayer) validate() error {
	if c.NKVHeads <= 0 || c.NTokens < 0 || c.HeadDim <= 0 || !c.DType.valid() {
		return fmt.Errorf("press: compressed layer: bad shape n_kv_heads=%d n_tokens=%d head_dim=%d dtype=%v", c.NKVHeads, c.NTokens, c.HeadDim, c.DType)
	}
	n, dt := c.NKVHeads*c.NTokens*c.HeadDim, c.DType
	if nv, ok := dt.stored(c.V, c.V16); nv != n || !ok {
		return fmt.Errorf("press: compressed layer: len(V)=%d len(V16)=%d, want %d %v values", len(c.V), len(c.V16), n, dt)
	}
	switch k := c.Keys.(type) {
	case *DenseKeys:
		if nk, ok := dt.stored(k.K, k.K16); nk != n || !ok {
			return fmt.Errorf("press: compressed layer: dense len(K)=%d len(K16)=%d, want %d %v keys", len(k.K), len(k.K16), n, dt)
		}
	case *ChannelKeys:
		nk, ok := dt.stored(k.K, k.K16)
		if k.NKept < 0 || k.NKept > c.HeadDim || len(k.Channels) != c.NKVHeads*k.NKept || nk != c.NKVHeads*c.NTokens*k.NKept || !ok {
			return fmt.Errorf("press: compressed layer: channel keys n_kept=%d len(Channels)=%d len(K)=%d len(K16)=%d do not fit the shape and %v", k.NKept, len(k.Channels), len(k.K), len(k.K16), dt)
		}
		for _, j := range k.Channels {
			if int(j) >= c.HeadDim {
				return fmt.Errorf("press: compressed layer: channel index %d >= head_dim %d", j, c.HeadDim)
			}
		}
	case *SparKKeys:
		return k.validate(c)
	default:
		return fmt.Errorf("press: compressed layer: unknown key store %T", c.Keys)
	}
	return nil
}

func (k *SparKKeys) validate(c *CompressedLayer) error {
	D, dt := c.HeadDim, c.DType
	nAlpha, alphaOK := dt.stored(k.Alpha, k.Alpha16)
	nKept, keptOK := dt.stored(k.Kept, k.Kept16)
	if k.MaskBytes != (D+7)/8 || len(k.Mask) != c.NKVHeads*c.NTokens*k.MaskBytes || len(k.Rho) != c.NKVHeads*D ||
		len(k.KeptStart) != c.NKVHeads+1 || len(k.SignStart) != c.NKVHeads+1 || !alphaOK || !keptOK ||
		(k.hasRecovery() && nAlpha != c.NKVHeads*c.NTokens) || (!k.hasRecovery() && nAlpha != 0) {
		return fmt.Errorf("press: compressed layer: SparK record arrays do not fit n_kv_heads=%d n_tokens=%d head_dim=%d", c.NKVHeads, c.NTokens, D)
	}
	kp, sp := 0, 0
	for i := range c.NKVHeads {
		if k.KeptStart[i] != kp || k.SignStart[i] != sp {
			return fmt.Errorf("press: compressed layer: SparK stream offsets of KV head %d are %d/%d, want %d/%d", i, k.KeptStart[i], k.SignStart[i], kp, sp)
		}
		for t := range c.NTokens {
			mask := k.Mask[(i*c.NTokens+t)*k.MaskBytes:][:k.MaskBytes]
			if D%8 != 0 && mask[len(mask)-1]>>(D%8) != 0 {
				return fmt.Errorf("press: compressed layer: mask of head %d token %d has bits beyond head_dim", i, t)
			}
			nk := popcount(mask)
			kp += nk
			if k.Signs != nil {
				sp += (D - nk + 7) / 8
			}
		}
	}
	if k.KeptStart[c.NKVHeads] != kp || nKept != kp || k.SignStart[c.NKVHeads] != sp || len(k.Signs) != sp {
		return fmt.Errorf("press: compressed layer: SparK streams hold %d values / %d sign bytes, masks need %d / %d", nKept, len(k.Signs), kp, sp)
	}
	return nil
}
