// weights_bytes.glsl: byte-offset reads from the uint words of a block-quantized weight buffer
// (wbuf, declared by weights.glsl). Every ggml block size is even, so f16 fields and 4-byte runs
// at even offsets need at most two word reads, and no 8/16-bit storage feature is needed.

// byte_at returns the byte at byte offset o.
uint byte_at(uint o) { return (wbuf[o >> 2] >> ((o & 3u) << 3)) & 0xFFu; }
// sbyte_at returns the byte at byte offset o as a signed int8 value.
int sbyte_at(uint o) { return int(byte_at(o) << 24) >> 24; }
// half_at returns the f16 at even byte offset o as f32.
float half_at(uint o) { return unpackHalf2x16(wbuf[o >> 2] >> ((o & 2u) << 3)).x; }
// word_at returns the 4 bytes at even byte offset o (blocks are 2-byte aligned). The second word
// it may read lies inside the binding, which the host rounds up to whole words.
uint word_at(uint o) {
	uint w = wbuf[o >> 2];
	return (o & 2u) == 0u ? w : (w >> 16) | (wbuf[(o >> 2) + 1u] << 16);
}
// bytes4 splits w into its 4 bytes, byte 0 first, each still carrying the bits above it (mask
// the result).
uvec4 bytes4(uint w) { return uvec4(w, w >> 8, w >> 16, w >> 24); }

// A 32-element group of 4-bit levels packed in 16 bytes at qs (Q4_x, Q5_x, IQ4_NL, IQ4_XS) keeps
// element j in the low nibble of byte j for j < 16 and in the high nibble of byte j-16 otherwise.
// nib32 returns the level of element j.
uint nib32(uint qs, uint j) { return (byte_at(qs + (j & 15u)) >> ((j >> 4) << 2)) & 0xFu; }
// nib32x4 returns the levels of elements j..j+3 (j a multiple of 4).
uvec4 nib32x4(uint qs, uint j) { return bytes4(word_at(qs + (j & 15u)) >> ((j >> 4) << 2)) & 0xFu; }

layout(binding = W_BINDING) readonly buffer WB2 { uvec2 wb2[]; }; // the same weights, 8 bytes at a time

// bytes32 returns the 32 bytes at even byte offset o as 8 words, from the five 8-byte windows
// covering them; the selects keep array indices constant (o differs between lanes). The windows
// end at most 8 bytes past o+32, which for the fields read here stays inside the super-block.
void bytes32(uint o, out uint w[8]) {
	uint r[10];
	[[unroll]] for (uint i = 0u; i < 5u; i++) {
		uvec2 p = wb2[(o >> 3) + i];
		r[2u * i] = p.x;
		r[2u * i + 1u] = p.y;
	}
	bool e = (o & 4u) != 0u, odd = (o & 2u) != 0u;
	[[unroll]] for (uint i = 0u; i < 8u; i++) {
		uint lo = e ? r[i + 1u] : r[i], hi = e ? r[i + 2u] : r[i + 1u];
		w[i] = odd ? (lo >> 16) | (hi << 16) : lo;
	}
}
