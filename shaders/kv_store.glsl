// kv_store.glsl: writes nTok tokens' keys or values into the KV cache: cache[g][pos+t][d] =
// src[t][g][d] for every token t and KV head g, converting to the cache type. One invocation per pair of elements, so that
// an f16 cache without 16-bit storage is written in whole 32-bit words (headDim is even).
#include "common.glsl"

layout(push_constant) uniform PC {
	uint headDim; // elements per head (even)
	uint nKV;     // KV heads
	uint Tmax;    // cache capacity in tokens
	uint pos;     // slot of the first token
	uint nTok;    // tokens to write
} pc;

layout(binding = 0) readonly buffer SB { float src[]; }; // [nTok][nKV][headDim]
layout(binding = 1) buffer CB { KV_T cache[]; };         // [nKV][Tmax][headDim]

void main() {
	uint p = group_index() * WG + gl_LocalInvocationID.x; // pair index
	uint halfDim = pc.headDim / 2;
	if (p >= pc.nTok * pc.nKV * halfDim) return;
	uint row = p / halfDim, d = 2u * (p % halfDim); // row = t * nKV + g
	uint t = row / pc.nKV, g = row % pc.nKV;
	uint s = row * pc.headDim + d, o = (g * pc.Tmax + pc.pos + t) * pc.headDim + d;
	KV_STORE2(cache, o, src[s], src[s + 1u]);
}
