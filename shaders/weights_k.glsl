// weights_k.glsl: the 256-element super-block types (k-quants and IQ4_XS), included by
// weights.glsl after weights_bytes.glsl and weights_legacy.glsl; each branch is compiled only for
// its WT_<TYPE>. Layouts, in bytes (see package ggml's kquants.go and iquants.go):
//
//	Q2_K    scales[16] (4-bit scale | 4-bit min << 4), qs[64] 2-bit, d, dmin            84
//	Q3_K    hmask[32] high bits, qs[64] low 2 bits, scales[12] 6-bit packed, d         110
//	Q4_K    d, dmin, scales[12] 6-bit scale+min packed, qs[128] 4-bit                  144
//	Q5_K    d, dmin, scales[12], qh[32] fifth bits, qs[128] low 4 bits                 176
//	Q6_K    ql[128] low 4 bits, qh[64] high 2 bits, scales[16] int8, d                 210
//	IQ4_XS  d, scales_h (u16), scales_l[4], qs[128] codebook nibbles                   136
//
// Element j of a super-block: for the 2-bit fields (Q2_K, Q3_K, Q6_K high bits) half h = j/128,
// r = j%128, and r/32 selects the 2-bit field of byte r%32 of that half; for the 4-bit fields of
// Q4_K/Q5_K the 64-element group g = j/64 keeps elements l and l+32 in the low and high nibble of
// byte l. Four consecutive elements from a multiple of 4 always share one scale and lie in four
// consecutive bytes at the same shift, so w_quad reads each field once as a word. The products
// are associated and rounded as in ggml's C (precise: no fused multiply-add).

#if defined(WT_Q2_K) || defined(WT_Q3_K)
#if defined(WT_Q2_K)
#define KB 84u
#define KQS 16u
#else
#define KB 110u
#define KQS 32u
#endif

// sub16 splits element j of a Q2_K/Q3_K super-block into the index of its 16-element sub-block
// (ggml's is, 0..15), the bit shift of its 2-bit field, and its byte offset within the 64 qs bytes
// (which is also the offset of its byte in hmask, taken modulo 32).
uvec3 sub16(uint j) {
	uint h = j >> 7, f = (j >> 5) & 3u, s = (j >> 4) & 1u;
	return uvec3(8u * h + 2u * f + s, 2u * f, 32u * h + (j & 31u));
}

// scales2 returns the scale factors of the sub-block pair (is, is+1), is even, whose scales sit in
// consecutive bytes: (d*scale, dmin*min) of each for Q2_K (4-bit scale | 4-bit min << 4, bytes is
// and is+1), (d*scale, 0) for Q3_K (signed 6-bit scales, offset by 32: low 4 bits in nibbles of
// scales bytes 0..7, top 2 bits in bytes 8..11).
vec4 scales2(uint b, uint is) {
#if defined(WT_Q2_K)
	uint sc = word_at(b + is);
	vec2 dd = unpackHalf2x16(wbuf[(b + 80u) >> 2]); // 84-byte blocks are 4-byte aligned
	return vec4(dd.x * float(sc & 0xFu), dd.y * float((sc >> 4) & 0xFu),
		dd.x * float((sc >> 8) & 0xFu), dd.y * float((sc >> 12) & 0xFu));
#else
	uint lo = word_at(b + 96u + (is & 7u)) >> ((is >> 3) << 2);
	uint hi = word_at(b + 104u + (is & 3u)) >> ((is >> 2) << 1);
	float d = half_at(b + 108u);
	return vec4(d * float(int((lo & 0xFu) | ((hi & 3u) << 4)) - 32), 0.0,
		d * float(int(((lo >> 8) & 0xFu) | (((hi >> 8) & 3u) << 4)) - 32), 0.0);
#endif
}

// scale_k returns the scale factors of sub-block is (see scales2).
vec2 scale_k(uint b, uint is) {
	vec4 s = scales2(b, is & ~1u);
	return (is & 1u) != 0u ? s.zw : s.xy;
}

float w_elem(uint i) {
	uint b = (i >> 8) * KB, j = i & 255u;
	uvec3 s = sub16(j);
	vec2 dm = scale_k(b, s.x);
	uint q = (byte_at(b + KQS + s.z) >> s.y) & 3u;
#if defined(WT_Q2_K)
	precise float v = dm.x * float(q) - dm.y;
	return v;
#else
	int hb = int((byte_at(b + (s.z & 31u)) >> (4u * (j >> 7) + (s.y >> 1))) & 1u);
	return dm.x * float(int(q) - 4 + 4 * hb);
#endif
}

// w_quad returns elements i..i+3 (i a multiple of 4).
vec4 w_quad(uint i) {
	uint b = (i >> 8) * KB, j = i & 255u;
	uvec3 s = sub16(j);
	vec2 dm = scale_k(b, s.x);
	uvec4 q = bytes4(word_at(b + KQS + s.z) >> s.y) & 3u;
#if defined(WT_Q2_K)
	precise vec4 v = dm.x * vec4(q) - dm.y;
	return v;
#else
	ivec4 hb = ivec4(bytes4(word_at(b + (s.z & 31u)) >> (4u * (j >> 7) + (s.y >> 1))) & 1u);
	return dm.x * vec4(ivec4(q) - 4 + 4 * hb);
#endif
}

// The whole-unit interface of matvec.glsl (see matmul_units.glsl): a unit is 32 elements, two
// 16-element sub-blocks (is, is+1) whose 2-bit fields share one shift in 32 consecutive qs bytes
// (and, for Q3_K, one bit of the 32 hmask bytes). Q2_K's 84-byte super-blocks are 4-byte aligned,
// so its qs are 8 word loads; Q3_K's 110-byte ones are read as 8-byte windows (bytes32). The two
// scales sit in consecutive bytes (is is even). Values come back dequantized; the factor is 1.
#define W_UNIT 32
float w_unit(uint u, out vec4 v[8]) {
	uint b = (u >> 3) * KB;
	uvec3 s = sub16((u & 7u) << 5);
	uint qs[8];
	vec4 dm = scales2(b, s.x);
#if defined(WT_Q2_K)
	[[unroll]] for (uint k = 0u; k < 8u; k++) qs[k] = wbuf[((b + KQS + s.z) >> 2) + k];
#else
	bytes32(b + KQS + s.z, qs);
	uint hm[8];
	bytes32(b, hm);
	uint hshift = 4u * ((u & 7u) >> 2) + (s.y >> 1);
#endif
	[[unroll]] for (uint k = 0u; k < 8u; k++) {
		vec4 q = vec4(bytes4(qs[k] >> s.y) & 3u);
#if defined(WT_Q3_K)
		q += 4.0 * vec4(bytes4(hm[k] >> hshift) & 1u) - 4.0;
#endif
		v[k] = k < 4u ? dm.x * q - dm.y : dm.z * q - dm.w;
	}
	return 1.0;
}
// w_unit_ok: every read stays inside the unit's own super-block.
bool w_unit_ok(uint u) { return true; }
#endif

#if defined(WT_Q4_K) || defined(WT_Q5_K)
#if defined(WT_Q4_K)
#define KB 144u
#define KQS 16u
#else
#define KB 176u
#define KQH 16u
#define KQS 48u
#endif

// scale_min returns the sub-block's d*scale and dmin*min, each rounded to f32 as in ggml, from
// the block's first 16 bytes h (d and dmin in h.x, the 12 scale bytes in h.yzw). The 6-bit scale
// and min of sub-block s (0..7) sit in scale bytes s and s+4 (low 6 bits) for s < 4; s >= 4 take
// their low 4 bits from byte s+4 and their top 2 bits from bytes s-4 and s (ggml's
// get_scale_min_k4).
vec2 scale_min(uvec4 h, uint s) {
	uvec3 sc = h.yzw;
	uint a = (sc[(s + 4u) >> 2] >> (((s + 4u) & 3u) << 3)) & 0xFFu; // byte s+4
	uint c = (sc[s >> 2] >> ((s & 3u) << 3)) & 0xFFu;               // byte s
	uvec2 sm;
	if (s < 4u) {
		sm = uvec2(c, a) & 63u;
	} else {
		uint e = (sc[0] >> ((s & 3u) << 3)) & 0xFFu; // byte s-4
		sm = uvec2(a & 0xFu, a >> 4) | ((uvec2(e, c) >> 6) << 4);
	}
	vec2 dd = unpackHalf2x16(h.x);
	return vec2(dd.x * float(sm.x), dd.y * float(sm.y));
}

// head returns the first 16 bytes of the super-block at byte offset b (a multiple of 16).
uvec4 head(uint b) { return uvec4(wbuf[b >> 2], wbuf[(b >> 2) + 1u], wbuf[(b >> 2) + 2u], wbuf[(b >> 2) + 3u]); }

float w_elem(uint i) {
	uint b = (i >> 8) * KB, j = i & 255u, g = j >> 6, hi = (j >> 5) & 1u, l = j & 31u;
	vec2 dm = scale_min(head(b), 2u * g + hi);
	uint q = (byte_at(b + KQS + 32u * g + l) >> (hi << 2)) & 0xFu;
#ifdef KQH
	q |= ((byte_at(b + KQH + l) >> (2u * g + hi)) & 1u) << 4;
#endif
	precise float v = dm.x * float(q) - dm.y;
	return v;
}

// w_quad returns elements i..i+3 (i a multiple of 4).
vec4 w_quad(uint i) {
	uint b = (i >> 8) * KB, j = i & 255u, g = j >> 6, hi = (j >> 5) & 1u, l = j & 31u;
	vec2 dm = scale_min(head(b), 2u * g + hi);
	uvec4 q = bytes4(word_at(b + KQS + 32u * g + l) >> (hi << 2)) & 0xFu;
#ifdef KQH
	q |= (bytes4(word_at(b + KQH + l) >> (2u * g + hi)) & 1u) << 4;
#endif
	precise vec4 v = dm.x * vec4(q) - dm.y;
	return v;
}

// The whole-unit interface of matvec.glsl (see matmul_units.glsl): a unit is one 32-element
// sub-block, read through 16-byte loads (144- and 176-byte super-blocks keep every field 16-byte
// aligned): the head with the scales, the 32 bytes holding its nibbles and, for Q5_K, the 32 qh
// bytes. The values come back fully dequantized, so the factor is 1.
#define W_UNIT 32
layout(binding = W_BINDING) readonly buffer WBK { uvec4 wk4[]; }; // the same weights, 16 bytes at a time
float w_unit(uint u, out vec4 v[8]) {
	uint sb = u >> 3, s = u & 7u, g = s >> 1, hi = s & 1u, B = sb * (KB / 16u);
	vec2 dm = scale_min(wk4[B], s);
	uvec4 qs[2] = uvec4[2](wk4[B + KQS / 16u + 2u * g], wk4[B + KQS / 16u + 2u * g + 1u]);
#ifdef KQH
	uvec4 qh[2] = uvec4[2](wk4[B + KQH / 16u], wk4[B + KQH / 16u + 1u]);
#endif
	[[unroll]] for (uint k = 0u; k < 8u; k++) {
		uvec4 q = bytes4(qs[k >> 2][k & 3u] >> (hi << 2)) & 0xFu;
#ifdef KQH
		q |= (bytes4(qh[k >> 2][k & 3u] >> (2u * g + hi)) & 1u) << 4;
#endif
		v[k] = dm.x * vec4(q) - dm.y;
	}
	return 1.0;
}
// w_unit_ok: every read stays inside the unit's own super-block.
bool w_unit_ok(uint u) { return true; }
#endif

#if defined(WT_Q6_K)
// q6_at returns, for element j (j%4 == 0 for word reads) of the super-block at b, the byte
// offsets of its ql and qh bytes, their shifts, and the offset of its int8 scale.
struct Q6 { uint ql, qls, qh, qhs, sc; };
Q6 q6_at(uint b, uint j) {
	uint h = j >> 7, k = (j >> 5) & 3u, l = j & 31u;
	return Q6(b + 64u * h + l + 32u * (k & 1u), (k >> 1) << 2, b + 128u + 32u * h + l, 2u * k,
		b + 192u + 8u * h + (l >> 4) + 2u * k);
}

float w_elem(uint i) {
	uint b = (i >> 8) * 210u;
	Q6 p = q6_at(b, i & 255u);
	uint q = ((byte_at(p.ql) >> p.qls) & 0xFu) | (((byte_at(p.qh) >> p.qhs) & 3u) << 4);
	return (half_at(b + 208u) * float(sbyte_at(p.sc))) * float(int(q) - 32);
}

// w_quad returns elements i..i+3 (i a multiple of 4).
vec4 w_quad(uint i) {
	uint b = (i >> 8) * 210u;
	Q6 p = q6_at(b, i & 255u);
	uvec4 q = (bytes4(word_at(p.ql) >> p.qls) & 0xFu) | ((bytes4(word_at(p.qh) >> p.qhs) & 3u) << 4);
	return (half_at(b + 208u) * float(sbyte_at(p.sc))) * vec4(ivec4(q) - 32);
}

// The whole-unit interface of matvec.glsl (see matmul_units.glsl): a unit is 32 elements sharing
// their ql and qh bytes' shifts, whose 32 ql and 32 qh bytes are read as 16-byte windows (210-byte
// super-blocks are only 2-byte aligned; three 16-byte loads cost less than bytes32's five 8-byte
// ones on lavapipe, where loads are per lane). Values come back dequantized; the factor is 1.
#define W_UNIT 32
layout(binding = W_BINDING) readonly buffer WB4 { uvec4 wq4[]; }; // the same weights, 16 bytes at a time
// bytes32q is bytes32 through three 16-byte windows, which end at most 16 bytes past o+32: for
// the ql and qh fields (o <= b+160) still inside the super-block.
void bytes32q(uint o, out uint w[8]) {
	uint r[12];
	[[unroll]] for (uint i = 0u; i < 3u; i++) {
		uvec4 p = wq4[(o >> 4) + i];
		r[4u * i] = p.x;
		r[4u * i + 1u] = p.y;
		r[4u * i + 2u] = p.z;
		r[4u * i + 3u] = p.w;
	}
	uint e = (o >> 2) & 3u;
	bool odd = (o & 2u) != 0u;
	[[unroll]] for (uint i = 0u; i < 8u; i++) {
		uint lo = e == 0u ? r[i] : (e == 1u ? r[i + 1u] : (e == 2u ? r[i + 2u] : r[i + 3u]));
		uint hi = e == 0u ? r[i + 1u] : (e == 1u ? r[i + 2u] : (e == 2u ? r[i + 3u] : r[i + 4u]));
		w[i] = odd ? (lo >> 16) | (hi << 16) : lo;
	}
}
float w_unit(uint u, out vec4 v[8]) {
	uint b = (u >> 3) * 210u;
	Q6 p = q6_at(b, (u & 7u) << 5);
	uint ql[8], qh[8];
	bytes32q(p.ql, ql);
	bytes32q(p.qh, qh);
	float d = half_at(b + 208u);
	// Elements 0..15 and 16..31 of the unit have consecutive int8 scales.
	uint sc = word_at(p.sc);
	vec2 ds = vec2(d * float(int(sc << 24) >> 24), d * float(int(sc << 16) >> 24));
	[[unroll]] for (uint k = 0u; k < 8u; k++) {
		uvec4 q = (bytes4(ql[k] >> p.qls) & 0xFu) | ((bytes4(qh[k] >> p.qhs) & 3u) << 4);
		v[k] = (k < 4u ? ds.x : ds.y) * vec4(ivec4(q) - 32);
	}
	return 1.0;
}
// w_unit_ok: every read stays inside the unit's own super-block.
bool w_unit_ok(uint u) { return true; }
#endif

#if defined(WT_IQ4_XS)
// dl_iq4xs returns d times the signed 6-bit scale of 32-element group ib: low 4 bits from
// scales_l (nibble ib%2 of byte ib/2), top 2 bits from bits 2ib of scales_h.
float dl_iq4xs(uint b, uint ib) {
	uint ls = ((byte_at(b + 4u + (ib >> 1)) >> ((ib & 1u) << 2)) & 0xFu) | (((word_at(b + 2u) >> (2u * ib)) & 3u) << 4);
	return half_at(b) * float(int(ls) - 32);
}

float w_elem(uint i) {
	uint b = (i >> 8) * 136u, j = i & 255u;
	return dl_iq4xs(b, j >> 5) * kv_iq4nl(nib32(b + 8u + 16u * (j >> 5), j & 31u));
}

// w_quad returns elements i..i+3 (i a multiple of 4).
vec4 w_quad(uint i) {
	uint b = (i >> 8) * 136u, j = i & 255u;
	uvec4 l = nib32x4(b + 8u + 16u * (j >> 5), j & 31u);
	return dl_iq4xs(b, j >> 5) * kv4_iq4nl(l);
}

// The whole-unit interface of matvec.glsl (see matmul_units.glsl): a unit is one 32-element
// group. 136-byte super-blocks are 8-byte aligned, so three 8-byte loads read it: the head (d,
// scales_h, scales_l) and the group's 16 qs bytes. The factor is the group's d*scale.
#define W_UNIT 32
float w_unit(uint u, out vec4 v[8]) {
	uint ib = u & 7u, w = (u >> 3) * 17u;
	uvec2 h = wb2[w];
	uint ls = ((h.y >> (ib << 2)) & 0xFu) | (((h.x >> (16u + 2u * ib)) & 3u) << 4);
	uvec2 q[2] = uvec2[2](wb2[w + 1u + 2u * ib], wb2[w + 2u + 2u * ib]);
	[[unroll]] for (uint k = 0u; k < 4u; k++) {
		uvec4 lo = bytes4(q[k >> 1][k & 1u]) & 0xFu, hi = bytes4(q[k >> 1][k & 1u] >> 4) & 0xFu;
		v[k] = kv4_iq4nl(lo);
		v[4u + k] = kv4_iq4nl(hi);
	}
	return unpackHalf2x16(h.x).x * float(int(ls) - 32);
}
// w_unit_ok: every read stays inside the unit's own super-block.
bool w_unit_ok(uint u) { return true; }
#endif
