// weights.glsl: element access to a weight matrix or embedding table stored in one ggml type,
// chosen by defining WT_<TYPE> (WT_F32, WT_F16, WT_BF16, WT_Q8_0, WT_Q4_0, WT_Q4_1, WT_Q5_0,
// WT_Q5_1, WT_IQ4_NL, WT_Q2_K, WT_Q3_K, WT_Q4_K, WT_Q5_K, WT_Q6_K or WT_IQ4_XS) before including this
// file. The including shader declares the buffer as `W_STORE wbuf[]`. W_ELEM(i) returns element i
// (row-major, in elements from the start of the binding) as f32, dequantizing on the fly; the block
// types also define W_QUAD and w_quad(i), four elements at once (their rows are multiples of 32
// elements). Every type dequantizes with the same f32 operations, in the same order, as ggml's
// dequantize_row_* (the Go port in package ggml), so an embedding row comes out bit for bit equal.
// The types of weights_legacy.glsl, weights_k.glsl and BF16 (below) also define matvec.glsl's
// whole-unit interface (W_UNIT, w_unit, w_unit_ok; matmul_units.glsl has F32, F16, Q8_0, Q4_0).
//
// Q8_0 blocks are 34 bytes (f16 scale d, 32 int8 q; value q*d) and Q4_0 blocks 18 bytes (f16 d,
// 16 bytes of nibbles: low nibbles are elements 0..15, high nibbles 16..31; value (q-8)*d), so
// blocks are not 4-byte aligned: they are read from uint words by byte offset, which needs no
// 8/16-bit storage feature (weights_bytes.glsl). The other quantized types live in
// weights_legacy.glsl (32-element blocks) and weights_k.glsl (256-element super-blocks). With I8
// defined (build.sh's "i8" variants) Q8_0 is read as int8_t through 8-bit storage instead
// (weights_i8.glsl); the word reads remain the SPARKRUN_VK_NO_INT8 fallback.

#if defined(WT_F32)
#define W_STORE float
#define W_ELEM(i) wbuf[i]
#elif defined(WT_F16)
#define W_STORE HALF_T
#define W_ELEM(i) LOADH(wbuf, i)
#elif defined(WT_BF16)
// bf16 is the top half of an f32: two per word, element i in the low half when i is even.
#define W_STORE uint
#define W_ELEM(i) uintBitsToFloat(((wbuf[(i) >> 1] >> (((i) & 1u) << 4)) & 0xFFFFu) << 16)
#elif defined(WT_Q8_0) && defined(I8)
#define W_BLOCKS
#elif defined(WT_Q8_0) || defined(WT_Q4_0) || defined(WT_Q4_1) || defined(WT_Q5_0) || defined(WT_Q5_1) || \
	defined(WT_IQ4_NL) || defined(WT_Q2_K) || defined(WT_Q3_K) || defined(WT_Q4_K) || defined(WT_Q5_K) || \
	defined(WT_Q6_K) || defined(WT_IQ4_XS)
#define W_BLOCKS
#define W_STORE uint
#else
#error "define one of the WT_<TYPE> weight types listed in weights.glsl"
#endif

#if defined(W_BLOCKS) && defined(I8)
#include "weights_i8.glsl"
#else
layout(binding = W_BINDING) readonly buffer WB { W_STORE wbuf[]; }; // the weights, in the type's layout
#endif

#if defined(W_BLOCKS) && !defined(I8)
#include "weights_bytes.glsl"
#if defined(WT_Q8_0)
float w_elem(uint i) {
	uint b = (i >> 5) * 34u, j = i & 31u;
	int q = int(byte_at(b + 2u + j) << 24) >> 24;
	return half_at(b) * float(q);
}
// w_quad returns elements i..i+3 (i a multiple of 4): one scale and one 4-byte read.
vec4 w_quad(uint i) {
	uint b = (i >> 5) * 34u;
	int q = int(word_at(b + 2u + (i & 31u)));
	return half_at(b) * vec4(ivec4(q << 24, q << 16, q << 8, q) >> 24); // sign-extended bytes
}
#elif defined(WT_Q4_0)
float w_elem(uint i) {
	uint b = (i >> 5) * 18u, j = i & 31u;
	uint q = (byte_at(b + 2u + (j & 15u)) >> ((j >> 4) << 2)) & 0xFu;
	return half_at(b) * float(int(q) - 8);
}
// w_quad returns elements i..i+3 (i a multiple of 4): elements j..j+3 of a block are the low
// (j < 16) or high nibbles of bytes j%16..j%16+3.
vec4 w_quad(uint i) {
	uint b = (i >> 5) * 18u, j = i & 31u;
	uint q = word_at(b + 2u + (j & 15u)) >> ((j >> 4) << 2);
	return half_at(b) * (vec4(q & 0xFu, (q >> 8) & 0xFu, (q >> 16) & 0xFu, (q >> 24) & 0xFu) - 8.0);
}
#endif
#include "weights_legacy.glsl"
#include "weights_k.glsl"
#endif

#if defined(W_BLOCKS)
#define W_ELEM(i) w_elem(i)
#define W_QUAD 1
#endif

#if defined(WT_BF16)
// The whole-unit interface of matvec.glsl (see matmul_units.glsl): 8 bf16 values per 16-byte load.
#define W_UNIT 8
layout(binding = W_BINDING) readonly buffer WBB { uvec4 wb4[]; }; // the same weights, 8 at a time
float w_unit(uint u, out vec4 v[2]) {
	uvec4 w = wb4[u];
	[[unroll]] for (uint k = 0u; k < 2u; k++) {
		uvec2 p = k == 0u ? w.xy : w.zw;
		v[k] = uintBitsToFloat(uvec4(p.x << 16, p.x & 0xFFFF0000u, p.y << 16, p.y & 0xFFFF0000u));
	}
	return 1.0;
}
// w_unit_ok: a row of a multiple of 8 elements ends on a 16-byte boundary, inside the binding.
bool w_unit_ok(uint u) { return u < uint(wb4.length()); }
#endif
