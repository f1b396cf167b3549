// matvec.glsl: y[n][rowOff + r] = sum_k W[r][k] * x[n][k] for the rows r of one weight chunk.
// With subgroups (SG) each subgroup computes one row; otherwise one workgroup per row. Either way
// invocations stride over k so that neighbours read neighbouring weights, then the partial sums
// are reduced. Weights are dequantized on the fly
// (weights.glsl). The host splits matrices larger than maxStorageBufferRange into chunks of whole
// rows and dispatches once per chunk with rowOff set; gl_WorkGroupID.z selects the input vector n,
// so one dispatch can serve several tokens.
#include "common.glsl"

layout(push_constant) uniform PC {
	uint K;      // columns (elements per row)
	uint M;      // rows in this chunk
	uint rowOff; // first output row of this chunk
	uint ldy;    // output stride between vectors n (total rows of the matrix)
} pc;

#define W_BINDING 0 // [M][K] in the weight type
#include "weights.glsl"
layout(binding = 1) readonly buffer XB { float x[]; };       // [N][K]
layout(binding = 2) writeonly buffer YB { float y[]; };      // [N][ldy]

#ifdef SG
// One subgroup per row: lanes stride over k, subgroupAdd reduces, and no workgroup barrier is
// needed (on lavapipe, which runs a workgroup's subgroups in turn, barriers are costly). The module
// targets SPIR-V 1.3, so gl_SubgroupSize is the device's subgroupSize and the host can size the
// grid with WG / subgroupSize rows per workgroup.
void main() {
	uint r = group_index() * gl_NumSubgroups + gl_SubgroupID;
	if (r >= pc.M) return; // uniform per subgroup
	uint lane = gl_SubgroupInvocationID, step = gl_SubgroupSize;
#else
// One workgroup per row, reduced through shared memory.
void main() {
	uint r = group_index();
	if (r >= pc.M) return; // whole workgroup leaves together: no barrier is skipped by half of it
	uint lane = gl_LocalInvocationID.x, step = WG;
#endif
	uint n = gl_WorkGroupID.z;
	uint wrow = r * pc.K, xrow = n * pc.K;
	float s = 0.0;
#ifdef W_QUAD
	// Block types: four elements per step, sharing one scale read and one 4-byte read.
	for (uint k = 4u * lane; k < pc.K; k += 4u * step) {
		s += dot(w_quad(wrow + k), vec4(x[xrow + k], x[xrow + k + 1u], x[xrow + k + 2u], x[xrow + k + 3u]));
	}
#else
	for (uint k = lane; k < pc.K; k += step) {
		s += W_ELEM(wrow + k) * x[xrow + k];
	}
#endif
#ifdef SG
	s = subgroupAdd(s);
	if (subgroupElect()) y[n * pc.ldy + pc.rowOff + r] = s;
#else
	s = wg_sum(s);
	if (gl_LocalInvocationID.x == 0) y[n * pc.ldy + pc.rowOff + r] = s;
#endif
}
