// elementwise.glsl: the frame of the one-invocation-per-element shaders (add, swiglu). The
// including shader defines OP(a, b) and gets out[i] = OP(a[i], b[i]) for i < n, over a 2-D grid.
#include "common.glsl"

layout(push_constant) uniform PC {
	uint n; // element count
} pc;

layout(binding = 0) readonly buffer AB { float a[]; };    // [n]
layout(binding = 1) readonly buffer BB { float b[]; };    // [n]
layout(binding = 2) writeonly buffer OB { float o[]; };   // [n]; may be a or b's buffer only if bound once

void main() {
	uint i = group_index() * WG + gl_LocalInvocationID.x;
	if (i < pc.n) o[i] = OP(a[i], b[i]);
}
