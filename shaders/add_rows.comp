// variants:
// add_rows: o[i] = a[i] + b[i % m], a bias vector of m elements added to every row of a [n/m][m]
// matrix (the q/k/v biases of Qwen2 over a batch of tokens), one invocation per element.
#version 450
#include "common.glsl"

layout(push_constant) uniform PC {
	uint n; // element count of a and o
	uint m; // row length: elements of b
} pc;

layout(binding = 0) readonly buffer AB { float a[]; };  // [n/m][m]
layout(binding = 1) readonly buffer BB { float b[]; };  // [m]
layout(binding = 2) writeonly buffer OB { float o[]; }; // [n/m][m]

void main() {
	uint i = group_index() * WG + gl_LocalInvocationID.x;
	if (i < pc.n) o[i] = a[i] + b[i % pc.m];
}
