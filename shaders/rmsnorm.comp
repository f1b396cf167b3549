// variants: sg
// rmsnorm: y[r][i] = x[r][i] / sqrt(mean_i(x[r][i]^2) + eps) * w[i], one workgroup per row r.
#version 450
#include "common.glsl"

layout(push_constant) uniform PC {
	uint n;    // row length
	float eps; // added to the mean square
} pc;

layout(binding = 0) readonly buffer XB { float x[]; };  // [rows][n]
layout(binding = 1) readonly buffer WB { float w[]; };  // [n]
layout(binding = 2) writeonly buffer YB { float y[]; }; // [rows][n]; may alias nothing

void main() {
	uint base = gl_WorkGroupID.x * pc.n;
	float s = 0.0;
	for (uint i = gl_LocalInvocationID.x; i < pc.n; i += WG) s += x[base + i] * x[base + i];
	float inv = inversesqrt(wg_sum(s) / float(pc.n) + pc.eps);
	for (uint i = gl_LocalInvocationID.x; i < pc.n; i += WG) y[base + i] = x[base + i] * inv * w[i];
}
