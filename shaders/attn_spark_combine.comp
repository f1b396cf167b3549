// variants:
// attn_spark_combine: merges the S token splits of an attention kernel (attn_spark; attn_f32 and
// attn_f16 at decode), written by attn.glsl's attn_store (flash-decoding): for query head h
// (one workgroup) and dim d, out[h][d] = Σ_s e^(m_s - M) acc_s[d] / Σ_s e^(m_s - M) l_s with M the
// largest m_s. A split without tokens has l = 0 and m = NEG_BIG, so it weighs nothing.
#version 450
#include "common.glsl"

layout(push_constant) uniform PC {
	uint headDim;
	uint S;      // splits
	uint nHeads; // query heads
} pc;

layout(binding = 0) readonly buffer PB { float part[]; }; // [S][nHeads][headDim + 2]: acc, m, l
layout(binding = 1) writeonly buffer OB { float o[]; };   // [nHeads][headDim]

void main() {
	uint h = gl_WorkGroupID.x, D = pc.headDim, row = D + 2u;
	float M = NEG_BIG;
	for (uint s = 0u; s < pc.S; s++) M = max(M, part[(s * pc.nHeads + h) * row + D]);
	float L = 0.0;
	for (uint s = 0u; s < pc.S; s++) {
		uint r = (s * pc.nHeads + h) * row;
		L += exp(part[r + D] - M) * part[r + D + 1u];
	}
	for (uint d = gl_LocalInvocationID.x; d < D; d += WG) {
		float v = 0.0;
		for (uint s = 0u; s < pc.S; s++) {
			uint r = (s * pc.nHeads + h) * row;
			v += exp(part[r + D] - M) * part[r + d];
		}
		o[h * D + d] = v / L;
	}
}
