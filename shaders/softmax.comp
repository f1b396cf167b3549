// variants: sg
// softmax: x[r] = exp(x[r] - max) / sum(exp(x[r] - max)) in place, one workgroup per row r.
#version 450
#include "common.glsl"

layout(push_constant) uniform PC {
	uint n; // row length
} pc;

layout(binding = 0) buffer XB { float x[]; }; // [rows][n]

void main() {
	uint base = gl_WorkGroupID.x * pc.n;
	float m = NEG_BIG;
	for (uint i = gl_LocalInvocationID.x; i < pc.n; i += WG) m = max(m, x[base + i]);
	m = wg_max(m);
	float s = 0.0;
	for (uint i = gl_LocalInvocationID.x; i < pc.n; i += WG) {
		float e = exp(x[base + i] - m);
		x[base + i] = e;
		s += e;
	}
	float inv = 1.0 / wg_sum(s);
	for (uint i = gl_LocalInvocationID.x; i < pc.n; i += WG) x[base + i] *= inv;
}
