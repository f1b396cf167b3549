// getrows.glsl: embedding row gather, out[r][j] = table[ids[r]][j] dequantized to f32, one
// invocation per output element over a 2-D grid. Ids are checked on the host. A table larger
// than maxStorageBufferRange is bound chunk by chunk: each dispatch writes only the outputs whose
// id falls in [rowBase, rowBase + chunkRows).
#include "common.glsl"

layout(push_constant) uniform PC {
	uint dim;  // row length
	uint rows; // number of ids
	uint rowBase;   // first table row of the bound chunk
	uint chunkRows; // table rows in the bound chunk
} pc;

#define W_BINDING 0 // [chunkRows][dim] in the table's type
#include "weights.glsl"
layout(binding = 1) readonly buffer IB { uint ids[]; };   // [rows]
layout(binding = 2) writeonly buffer OB { float o[]; };   // [rows][dim]

void main() {
	uint g = group_index() * WG + gl_LocalInvocationID.x;
	if (g >= pc.rows * pc.dim) return;
	uint r = g / pc.dim, j = g % pc.dim;
	uint id = ids[r] - pc.rowBase; // wraps above chunkRows when ids[r] < rowBase
	if (id >= pc.chunkRows) return;
	o[g] = W_ELEM(id * pc.dim + j);
}
