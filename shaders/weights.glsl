// weights.glsl: element access to a weight matrix or embedding table stored in one ggml type,
// chosen by defining WT_F32, WT_F16, WT_Q8_0 or WT_Q4_0 before including this file. The including
// shader declares the buffer as `W_STORE wbuf[]`. W_ELEM(i) returns element i (row-major, in
// elements from the start of the binding) as f32, dequantizing on the fly; the block types also
// define W_QUAD and w_quad(i), four elements at once (their rows are multiples of 32 elements).
//
// Q8_0 blocks are 34 bytes (f16 scale d, 32 int8 q; value q*d) and Q4_0 blocks 18 bytes (f16 d,
// 16 bytes of nibbles: low nibbles are elements 0..15, high nibbles 16..31; value (q-8)*d), so
// blocks are not 4-byte aligned: they are read from uint words by byte offset, which needs no
// 8/16-bit storage feature.

#if !defined(WT_F32) && !defined(WT_F16) && !defined(WT_Q8_0) && !defined(WT_Q4_0)
#error "define one of WT_F32, WT_F16, WT_Q8_0, WT_Q4_0"
#elif defined(WT_F32)
#define W_STORE float
#define W_ELEM(i) wbuf[i]
#elif defined(WT_F16)
#define W_STORE HALF_T
#define W_ELEM(i) LOADH(wbuf, i)
#elif defined(WT_Q8_0) || defined(WT_Q4_0)
#define W_STORE uint
#endif

layout(binding = W_BINDING) readonly buffer WB { W_STORE wbuf[]; }; // the weights, in the type's layout

#if defined(WT_Q8_0) || defined(WT_Q4_0)
// byte_at returns the byte at byte offset o.
uint byte_at(uint o) { return (wbuf[o >> 2] >> ((o & 3u) << 3)) & 0xFFu; }
// half_at returns the f16 at even byte offset o as f32.
float half_at(uint o) { return unpackHalf2x16(wbuf[o >> 2] >> ((o & 2u) << 3)).x; }
// word_at returns the 4 bytes at even byte offset o (blocks are 2-byte aligned). The second word
// it may read lies inside the binding, which the host rounds up to whole words.
uint word_at(uint o) {
	uint w = wbuf[o >> 2];
	return (o & 2u) == 0u ? w : (w >> 16) | (wbuf[(o >> 2) + 1u] << 16);
}
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
#else
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
#define W_ELEM(i) w_elem(i)
#define W_QUAD 1
#endif
