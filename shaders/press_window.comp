// variants:
// press_window: keeps the last queries of a prompt for the end-of-prefill press: copies the query
// rows of a prefill chunk ([rows][qDim] f32, post-RoPE, after any per-head norm) into a ring of
// winCap rows, the query of position p at row p % winCap. Only the last winCap rows of the chunk
// are written, so no two invocations write the same ring word.
#version 450
#include "common.glsl"

layout(push_constant) uniform PC {
	uint qDim;   // floats per query row (n_head * head_dim)
	uint rows;   // rows of the chunk
	uint pos0;   // position of the chunk's first row
	uint winCap; // ring rows
} pc;

layout(binding = 0) readonly buffer QB { float q[]; };   // [rows][qDim]
layout(binding = 1) writeonly buffer RB { float ring[]; }; // [winCap][qDim]

void main() {
	uint id = group_index() * WG + gl_LocalInvocationID.x;
	uint first = pc.rows > pc.winCap ? pc.rows - pc.winCap : 0u;
	uint n = (pc.rows - first) * pc.qDim;
	if (id >= n) return;
	uint r = first + id / pc.qDim, c = id % pc.qDim;
	ring[((pc.pos0 + r) % pc.winCap) * pc.qDim + c] = q[r * pc.qDim + c];
}
