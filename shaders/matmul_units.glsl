// matmul_units.glsl: fast whole-unit weight reads for matvec.glsl, for the types that define them
// (F32, F16, Q8_0, Q4_0; every other type uses weights.glsl's w_quad/w_elem). A unit is W_UNIT
// consecutive elements of a row (8 for the float types, one 32-element block for Q8_0 and Q4_0).
// float w_unit(u, v) loads unit u (counted from the start of the binding) into v[W_UNIT/4] and
// returns the factor the products must be scaled by (the block scale; 1 for float types).
// w_unit_ok(u) says whether units 0..u can be read by w_unit: the quantized loaders read a whole
// 8-byte window around the block, which for the last block of a binding may reach past its end.
//
// Why: lavapipe compiles each invocation of a subgroup as one SIMD lane and turns every storage
// buffer load into a loop over the lanes, one bounds-checked scalar load per lane and per
// component. A vec4/uvec4 load costs about as much per lane as two scalar ones, so reading 16 or 8
// bytes per load instead of one word (or one byte) per load is most of the speed-up. The buffers
// below alias the weight binding with wider element types; nothing here needs a device feature.

#if defined(WT_F32)
#define W_UNIT 8
layout(binding = W_BINDING) readonly buffer WBU { vec4 wu[]; }; // [units][2] f32
float w_unit(uint u, out vec4 v[2]) {
	v[0] = wu[2u * u];
	v[1] = wu[2u * u + 1u];
	return 1.0;
}
bool w_unit_ok(uint u) { return true; } // unit u is whole words inside its row

#elif defined(WT_F16)
#define W_UNIT 8
layout(binding = W_BINDING) readonly buffer WBU { uvec4 wu[]; }; // [units] 8 f16
float w_unit(uint u, out vec4 v[2]) {
	uvec4 h = wu[u];
	v[0] = vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
	v[1] = vec4(unpackHalf2x16(h.z), unpackHalf2x16(h.w));
	return 1.0;
}
bool w_unit_ok(uint u) { return true; }

#elif defined(WT_Q8_0) || defined(WT_Q4_0)
#define W_UNIT 32
layout(binding = W_BINDING) readonly buffer WBU { uvec2 wu[]; }; // 8-byte windows over the blocks
#if defined(WT_Q8_0)
#define W_BLOCK_BYTES 34u
#define W_WIN 5 // uvec2 reads covering a block at any even offset: 6 + 34 <= 40 bytes
#else
#define W_BLOCK_BYTES 18u
#define W_WIN 3 // 6 + 18 <= 24 bytes
#endif
// w_window reads the 8-byte-aligned window holding block u into w[0..2*W_WIN) (w[2*W_WIN] = 0)
// and returns the block's byte offset s in it (0, 2, 4 or 6: blocks are 2-byte aligned).
uint w_window(uint u, out uint w[2 * W_WIN + 1]) {
	uint o = W_BLOCK_BYTES * u, b = o >> 3;
	[[unroll]] for (uint i = 0u; i < uint(W_WIN); i++) {
		uvec2 p = wu[b + i];
		w[2u * i] = p.x;
		w[2u * i + 1u] = p.y;
	}
	w[2 * W_WIN] = 0u;
	return o & 7u;
}
// w_qword returns quant word j (bytes 2+4j..5+4j of the block at offset s): the block's quants
// start at byte s+2, which is word (s+2)/4, shifted by half a word when (s+2) % 4 == 2. The
// selects keep every array index constant, since lanes hold blocks at different offsets.
uint w_qword(uint w[2 * W_WIN + 1], uint s, uint j) {
	uint e = (s + 2u) >> 2;
	uint lo = e == 0u ? w[j] : (e == 1u ? w[j + 1u] : w[j + 2u]);
	uint hi = e == 0u ? w[j + 1u] : (e == 1u ? w[j + 2u] : w[j + 3u]);
	return ((s + 2u) & 2u) != 0u ? (lo >> 16) | (hi << 16) : lo;
}
// w_scale returns the block's f16 scale d, at byte s.
float w_scale(uint w[2 * W_WIN + 1], uint s) {
	return unpackHalf2x16((s >= 4u ? w[1] : w[0]) >> ((s & 2u) << 3)).x;
}
#if defined(WT_Q8_0)
float w_unit(uint u, out vec4 v[8]) {
	uint w[2 * W_WIN + 1];
	uint s = w_window(u, w);
	[[unroll]] for (uint j = 0u; j < 8u; j++) {
		int q = int(w_qword(w, s, j));
		v[j] = vec4(ivec4(q << 24, q << 16, q << 8, q) >> 24); // sign-extended bytes
	}
	return w_scale(w, s);
}
#else
float w_unit(uint u, out vec4 v[8]) {
	uint w[2 * W_WIN + 1];
	uint s = w_window(u, w);
	[[unroll]] for (uint j = 0u; j < 4u; j++) {
		uvec4 q = bytes4(w_qword(w, s, j)); // bytes 4j..4j+3: elements 4j.. (low), 16+4j.. (high)
		v[j] = vec4(q & 0xFu) - 8.0;
		v[4u + j] = vec4((q >> 4) & 0xFu) - 8.0;
	}
	return w_scale(w, s);
}
#endif
bool w_unit_ok(uint u) { return ((W_BLOCK_BYTES * u) >> 3) + uint(W_WIN) <= uint(wu.length()); }
#endif
