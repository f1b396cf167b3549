// weights_legacy.glsl: the 32-element block types besides Q8_0 and Q4_0 (included by weights.glsl
// after weights_bytes.glsl; each branch is compiled only for its WT_<TYPE>). Layouts, in bytes:
//
//	Q4_1    d, m (f16), qs[16]              20   value l*d + m
//	Q5_0    d, qh[4], qs[16]                22   value (l-16)*d, l = nibble | bit j of qh << 4
//	Q5_1    d, m, qh[4], qs[16]             24   value l*d + m, l as Q5_0
//	IQ4_NL  d, qs[16]                       18   value d*kvalues_iq4nl[nibble]
//
// Products are rounded before the addition (precise), as in ggml's C.

#if defined(WT_IQ4_NL) || defined(WT_IQ4_XS)
// kv_iq4nl returns entry i of ggml's kvalues_iq4nl codebook {-127, -104, -83, -65, -49, -35, -22,
// -10, 1, 13, 25, 38, 53, 69, 89, 113}, shared by IQ4_NL and IQ4_XS, from its int8 bytes packed
// four to a word: selects and shifts, because an indexed constant array becomes a per-lane memory
// lookup on lavapipe.
float kv_iq4nl(uint i) {
	uint w = i < 8u ? (i < 4u ? 0xBFAD9881u : 0xF6EADDCFu) : (i < 12u ? 0x26190D01u : 0x71594535u);
	return float(int(w << (24u - ((i & 3u) << 3))) >> 24);
}
// kv4_iq4nl applies kv_iq4nl to four levels.
vec4 kv4_iq4nl(uvec4 l) { return vec4(kv_iq4nl(l.x), kv_iq4nl(l.y), kv_iq4nl(l.z), kv_iq4nl(l.w)); }
#endif

#if defined(WT_Q4_1) || defined(WT_Q5_0) || defined(WT_Q5_1) || defined(WT_IQ4_NL)
#if defined(WT_Q4_1)
#define LB 20u // block bytes
#define LQS 4u // offset of qs
#define LALIGN4 // blocks are 4-byte aligned
#elif defined(WT_Q5_0)
#define LB 22u
#define LQH 2u // offset of qh
#define LQS 6u
#elif defined(WT_Q5_1)
#define LB 24u
#define LQH 4u
#define LQS 8u
#define LALIGN4
#else
#define LB 18u
#define LQS 2u
#endif

// level returns the quantization level of element j of the block at byte offset b.
uint level(uint b, uint j) {
	uint l = nib32(b + LQS, j);
#ifdef LQH
	l |= ((word_at(b + LQH) >> j) & 1u) << 4;
#endif
	return l;
}

// lword returns the 4 bytes at even offset o of a block: one load when blocks are 4-byte aligned
// (word_at's second load is otherwise always issued, as a select).
uint lword(uint o) {
#ifdef LALIGN4
	return wbuf[o >> 2];
#else
	return word_at(o);
#endif
}

// fifth4 returns bits j..j+3 of the qh word h as the fifth bits (<< 4) of elements j..j+3.
uvec4 fifth4(uint h, uint j) {
	h >>= j;
	return (uvec4(h, h >> 1, h >> 2, h >> 3) & 1u) << 4;
}

// level4 returns the levels of elements j..j+3 (j a multiple of 4) of the block at b.
uvec4 level4(uint b, uint j) {
	uvec4 l = nib32x4(b + LQS, j);
#ifdef LQH
	l |= fifth4(word_at(b + LQH), j);
#endif
	return l;
}

// value4 dequantizes four levels of a block whose first word is h0 (scale d in its low half, and
// for Q4_1/Q5_1 the offset m in its high half), up to the factor that w_unit returns.
vec4 value4(uvec4 l, uint h0) {
#if defined(WT_Q4_1) || defined(WT_Q5_1)
	vec2 dm = unpackHalf2x16(h0);
	return vec4(l) * dm.x + dm.y;
#elif defined(WT_Q5_0)
	return vec4(ivec4(l) - 16);
#else
	return kv4_iq4nl(l);
#endif
}

// The whole-unit interface of matvec.glsl (see matmul_units.glsl): a unit is one block, read as
// the 4-byte runs at its even offsets (one or two word loads each) instead of once per four
// elements. The factor is d for the centred and codebook types, 1 for Q4_1/Q5_1 (whose offset m
// is added per element).
#define W_UNIT 32
float w_unit(uint u, out vec4 v[8]) {
	uint b = u * LB, h0 = lword(b);
#ifdef LQH
	uint h = lword(b + LQH);
#endif
	[[unroll]] for (uint k = 0u; k < 4u; k++) {
		uint q = lword(b + LQS + 4u * k);
		uvec4 lo = bytes4(q) & 0xFu, hi = bytes4(q >> 4) & 0xFu;
#ifdef LQH
		lo |= fifth4(h, 4u * k);
		hi |= fifth4(h, 16u + 4u * k);
#endif
		v[k] = value4(lo, h0);
		v[4u + k] = value4(hi, h0);
	}
#if defined(WT_Q4_1) || defined(WT_Q5_1)
	return 1.0;
#else
	return unpackHalf2x16(h0).x;
#endif
}
// w_unit_ok: every read stays inside the unit's own block.
bool w_unit_ok(uint u) { return true; }

float w_elem(uint i) {
	uint b = (i >> 5) * LB, j = i & 31u;
	float d = half_at(b);
#if defined(WT_Q4_1) || defined(WT_Q5_1)
	precise float v = float(level(b, j)) * d + half_at(b + 2u);
	return v;
#elif defined(WT_Q5_0)
	return float(int(level(b, j)) - 16) * d;
#else
	return d * kv_iq4nl(level(b, j));
#endif
}

// w_quad returns elements i..i+3 (i a multiple of 4).
vec4 w_quad(uint i) {
	uint b = (i >> 5) * LB;
	uvec4 l = level4(b, i & 31u);
	float d = half_at(b);
#if defined(WT_Q4_1) || defined(WT_Q5_1)
	precise vec4 v = vec4(l) * d + half_at(b + 2u);
	return v;
#elif defined(WT_Q5_0)
	return vec4(ivec4(l) - 16) * d;
#else
	return d * kv4_iq4nl(l);
#endif
}
#endif
