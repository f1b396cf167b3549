// weights_i8.glsl: Q8_0 weights read as int8_t through 8-bit storage (build.sh's "i8" variants,
// needing storageBuffer8BitAccess and shaderInt8, which the host enables when the device has both;
// SPARKRUN_VK_NO_INT8 selects weights.glsl's word reads instead). Each quant is one byte load and
// one conversion, with no shifts to pick it out of a word; the block's f16 scale is assembled from
// its two bytes.
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require

#if !defined(WT_Q8_0)
#error "weights_i8.glsl serves Q8_0 only"
#endif

layout(binding = W_BINDING) readonly buffer WB { int8_t wbuf[]; }; // [blocks][34] Q8_0 bytes

// half_at returns the f16 at byte offset o as f32.
float half_at(uint o) { return unpackHalf2x16((uint(wbuf[o]) & 0xFFu) | ((uint(wbuf[o + 1u]) & 0xFFu) << 8)).x; }

float w_elem(uint i) {
	uint b = (i >> 5) * 34u;
	return half_at(b) * float(int(wbuf[b + 2u + (i & 31u)]));
}

// w_quad returns elements i..i+3 (i a multiple of 4).
vec4 w_quad(uint i) {
	uint b = (i >> 5) * 34u, q = b + 2u + (i & 31u);
	return half_at(b) * vec4(int(wbuf[q]), int(wbuf[q + 1u]), int(wbuf[q + 2u]), int(wbuf[q + 3u]));
}
