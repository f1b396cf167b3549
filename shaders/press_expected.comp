// variants:
// press_expected: accumulates ExpectedAttention's statistics during prefill (spec 4.7): the
// pre-RoPE queries of positions >= nSink, per query head, as sums about a shift (layout in
// press_stats.glsl), without keeping the queries. The host records, for a chunk whose rows reach
// past nSink:
//   0 shift: only for the chunk holding position nSink (the first counted row), one invocation
//            per (h, channel j): the shift s[j] = the mean of the chunk's counted rows, and S1 and
//            S2's row j cleared (a restart at position 0 starts the sums again here).
//   1 sums:  one invocation per (h, a, b): Σ over the chunk's counted rows of (q_a - s_a)(q_b - s_b)
//            added to S2[a][b], and with b = 0 Σ (q_a - s_a) added to S1[a]. Each invocation owns
//            its sums, so the chunk's partial sum is formed first and then added (float32, fixed
//            order).
#version 450
#include "common.glsl"

layout(push_constant) uniform PC {
	uint stage; // 0 or 1 above
	uint rows;  // rows of the chunk
	uint pos0;  // position of the chunk's first row
	uint H;     // query heads
	uint D;     // head dim
	uint nSink; // positions before nSink are not counted
} pc;

layout(binding = 0) readonly buffer QB { float q[]; }; // chunk queries [rows][H][D], pre-RoPE
layout(binding = 1) buffer STB { float st[]; };        // statistics (press_stats.glsl)

#include "press_stats.glsl"

void main() {
	uint id = group_index() * WG + gl_LocalInvocationID.x, H = pc.H, D = pc.D;
	uint r0 = pc.pos0 >= pc.nSink ? 0u : pc.nSink - pc.pos0; // first counted row
	if (pc.stage == 0u) {
		if (id >= H * D) return;
		uint h = id / D, j = id % D, b = expBase(h, D);
		float s = 0.0;
		for (uint r = r0; r < pc.rows; r++) s += q[(r * H + h) * D + j];
		st[b + j] = s / float(pc.rows - r0);
		st[b + D + j] = 0.0;
		for (uint x = 0u; x < D; x++) st[b + 2u * D + j * D + x] = 0.0;
		return;
	}
	if (id >= H * D * D) return;
	uint h = id / (D * D), a = id / D % D, c = id % D, b = expBase(h, D);
	float sa = st[b + a], sc = st[b + c], s1 = 0.0, s2 = 0.0;
	for (uint r = r0; r < pc.rows; r++) {
		uint o = (r * H + h) * D;
		float da = q[o + a] - sa;
		s1 += da;
		s2 += da * (q[o + c] - sc);
	}
	st[b + 2u * D + a * D + c] += s2;
	if (c == 0u) st[b + D + a] += s1;
}
