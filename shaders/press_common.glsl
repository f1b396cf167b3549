// press_common.glsl: declarations shared by the end-of-prefill compression shaders (press_*.comp,
// spark_*.comp, driven by runtime/vulkan/compress.go). Include after common.glsl and after
// declaring the scratch buffer as `uint S[]` and a push constant block `pc` whose first member
// `prm` is the word offset of this layer's parameter block in S.
//
// The parameters of one layer's compression do not fit the 8-word push-constant range, so the
// host writes them into a block of P_WORDS words at the start of the scratch buffer (one block per
// layer, so that every layer of a model is recorded into one submission); the P_* constants
// below are its word indices and must match compress.go.

const uint P_NKV = 0u;     // KV heads
const uint P_H = 1u;       // query heads
const uint P_D = 2u;       // head dim
const uint P_T = 3u;       // prompt tokens in the cache (positions 0..T-1)
const uint P_TMAX = 4u;    // cache capacity per KV head (stride between heads, in tokens)
const uint P_KVTYPE = 5u;  // cache element type: 0 f32, 1 f16
const uint P_WINCAP = 6u;  // rows of the window ring: the query of position p is row p % WINCAP
const uint P_SCALE = 7u;   // logit scale (float bits)
const uint P_SNAPW = 8u;   // SnapKV window w
const uint P_KSIZE = 9u;   // SnapKV pooling width
const uint P_N = 10u;      // tokens kept per KV head
const uint P_GATHER = 11u; // token r of head i is cache position: 0: r; 1: IDX[i][r]; 2: StreamingLLM's
                           // r < NSINK ? r : T - (N - NSINK) + r (spec 4.4)
const uint P_SPARKW = 12u; // SparK window rows
const uint P_NKEEP = 13u;  // channels kept per token (head dim for dense keys)
const uint P_NMEAN = 14u;  // α² averages the saliencies of ranks >= D - NMEAN
const uint P_RECOV = 15u;  // 1: signs and α are stored (recovery avg/avg_bottom); 0: zero fill
const uint P_PAPER = 16u;  // 1: the paper's saliency |k|·qn and recovery a/qn (spec A1)
const uint P_DTYPE = 17u;  // element type of the compressed layer: 0 f32, 1 f16, 2 bf16
const uint P_SB = 18u;     // sign bytes per token: ceil((D - NKEEP) / 8)
const uint P_QN = 19u;     // scratch word offsets: qn [nKV][D] f32
const uint P_STATS = 20u;  //   SnapKV softmax max and sum per window row [H][w][2] f32
const uint P_SC = 21u;     //   SnapKV window attention [H][T - w] f32
const uint P_SS = 22u;     //   pooled, group-mean scores [nKV][T - w] f32
const uint P_FLAG = 23u;   //   kept flags [nKV][T] u32
const uint P_IDX = 24u;    //   kept positions [nKV][N] u32, ascending
const uint P_ALPHA = 25u;  //   α [nKV][N] f32
const uint P_RHO = 26u;    // layer word offsets (0: absent): ρ
const uint P_MASK = 27u;   //   keep masks [nKV][N][MW] (0: dense keys, no masks)
const uint P_KEPT = 28u;   //   kept-value elements
const uint P_SIGN = 29u;   //   sign bytes
const uint P_ALPHAW = 30u; //   α elements
const uint P_V = 31u;      //   value elements
const uint P_MW = 32u;     // mask words per token
const uint P_NSINK = 33u;  // StreamingLLM's sink tokens
const uint P_MTOK = 34u;   // mask words between tokens: MW (SparK) or 0 (ThinK: one mask per KV head)
const uint P_MHEAD = 35u;  // mask words between KV heads: N·MW (SparK) or MW (ThinK)
const uint P_THINKW = 36u; // ThinK window rows
const uint P_VAR = 37u;    // 1: SparK-p/-g (top-p or group mode, spec 3.11): each token's keep count
                           // follows from the rank i* where its cumulative saliency passes 99%,
                           // so records are variable-length (see spark_pack)
const uint P_CNT = 38u;    // scratch word offsets (variable length): kept channels per token [nKV][N]
const uint P_OFF = 39u;    //   stream offsets per token [nKV·N + 1][2]: kept elements, sign bytes
const uint P_SMASK = 40u;  //   keep masks [nKV][N][MW], copied into the layer once it is allocated
const uint P_TILES = 41u;  // checkpoint tiles per KV head: ceil(N / WG)
const uint P_CKPT = 42u;   // layer word offset of the checkpoints
const uint P_GROUP = 43u;  // scratch word offset of SparK-g's keep count per i* [D] (0: top-p, i*+1)
const uint P_WORDS = 64u;  // size of one parameter block

#define PRM(i) S[pc.prm + (i)]
#define PRMF(i) uintBitsToFloat(S[pc.prm + (i)])

// cacheElem returns element idx of a cache stream of type ty (0 f32, 1 f16 two to a word, low
// half first) held in words w.
#define CACHE_ELEM(w, idx, ty) ((ty) == 0u ? uintBitsToFloat(w[idx]) : unpackHalf2x16(w[(idx) >> 1] >> (((idx) & 1u) << 4)).x)

// CACHE_BITS returns the raw bits of element idx (32 for f32, 16 for f16).
#define CACHE_BITS(w, idx, ty) ((ty) == 0u ? w[idx] : (w[(idx) >> 1] >> (((idx) & 1u) << 4)) & 0xffffu)

// f32ToF16 rounds x to the nearest binary16 (ties to even), as the CPU press's DType.Round does;
// GLSL's packHalf2x16 leaves the rounding mode to the implementation.
uint f32ToF16(float x) {
	uint b = floatBitsToUint(x);
	uint sgn = (b >> 16) & 0x8000u, e = (b >> 23) & 0xffu, m = b & 0x7fffffu;
	if (e == 0xffu) return sgn | 0x7c00u | (m != 0u ? 0x200u : 0u);
	int ee = int(e) - 112; // rebias 127 -> 15
	if (ee >= 31) return sgn | 0x7c00u;
	if (ee <= 0) { // subnormal half: value = M·2^(ee-14) of the 24-bit significand M
		if (ee < -10) return sgn;
		m |= 0x800000u;
		uint sh = uint(14 - ee);
		uint h = m >> sh, rem = m & ((1u << sh) - 1u), hw = 1u << (sh - 1u);
		if (rem > hw || (rem == hw && (h & 1u) != 0u)) h++;
		return sgn | h;
	}
	uint h = (uint(ee) << 10) | (m >> 13), rem = m & 0x1fffu;
	if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0u)) h++; // a carry rounds into the exponent
	return sgn | h;
}

// elemBits returns x as an element of type ty (0 f32, 1 f16, 2 bf16), rounded to nearest even.
uint elemBits(float x, uint ty) {
	uint b = floatBitsToUint(x);
	if (ty == 0u) return b;
	if (ty == 1u) return f32ToF16(x);
	return (b + 0x7fffu + ((b >> 16) & 1u)) >> 16; // bf16 (finite inputs)
}

// cachePos returns the cache position of stored token r of [nKV][N] (see P_GATHER).
uint cachePos(uint r) {
	uint g = PRM(P_GATHER), N = PRM(P_N), t = r % N;
	if (g == 1u) return S[PRM(P_IDX) + r];
	if (g == 2u && t >= PRM(P_NSINK)) return PRM(P_T) - N + t;
	return t;
}
