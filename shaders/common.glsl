// common.glsl: declarations shared by every sparkrun compute shader.
//
// WG is the workgroup size, specialization constant 0, a power of two (the shared-memory reduction
// halves it). Reductions come in two builds of the same source: with SG defined they use subgroup
// arithmetic and combine the per-subgroup partials through shared memory, which is correct for any
// subgroup size (gl_NumSubgroups and gl_SubgroupID come from the driver, nothing assumes 32); without
// SG they are a shared-memory tree, for devices without subgroup arithmetic in compute and for the
// SPARKRUN_VK_NO_SUBGROUP kill switch.
//
// f16 data is read through LOADH: with F16 defined (build.sh's "s16" variants, NAME_s16.spv) the
// buffers hold float16_t through 16-bit storage (capability StorageBuffer16BitAccess only);
// otherwise they hold uint words, two halves each, unpacked with unpackHalf2x16, which needs no
// optional feature (the SPARKRUN_VK_NO_F16 kill switch). Either way the data in memory is the same
// IEEE half layout and all arithmetic is f32.

#extension GL_EXT_control_flow_attributes : enable
#ifdef SG
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#ifdef F16
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#define HALF_T float16_t
#define LOADH(buf, i) float(buf[i])
#else
#define HALF_T uint
#define LOADH(buf, i) unpackHalf2x16((buf[(i) >> 1]) >> (((i) & 1u) << 4)).x
#endif

layout(constant_id = 0) const uint WG = 128;
layout(local_size_x_id = 0) in;

// red holds reduction partials: one per subgroup (SG) or one per invocation (tree).
shared float red[WG];

// WG_REDUCE defines float NAME(float v): the reduction of v over the workgroup, returned to every
// invocation. It must be called in uniform control flow; it ends with a barrier so red can be reused.
#ifdef SG
#define WG_REDUCE(NAME, SGOP, OP)                                   \
float NAME(float v) {                                               \
	v = SGOP(v);                                                    \
	if (subgroupElect()) red[gl_SubgroupID] = v;                    \
	barrier();                                                      \
	float r = red[0];                                               \
	for (uint i = 1; i < gl_NumSubgroups; i++) r = OP(r, red[i]);   \
	barrier();                                                      \
	return r;                                                       \
}
#else
#define WG_REDUCE(NAME, SGOP, OP)                                   \
float NAME(float v) {                                               \
	uint t = gl_LocalInvocationID.x;                                \
	red[t] = v;                                                     \
	barrier();                                                      \
	for (uint s = WG / 2; s > 0; s >>= 1) {                         \
		if (t < s) red[t] = OP(red[t], red[t + s]);                 \
		barrier();                                                  \
	}                                                               \
	float r = red[0];                                               \
	barrier();                                                      \
	return r;                                                       \
}
#endif

float op_add(float a, float b) { return a + b; }
WG_REDUCE(wg_sum, subgroupAdd, op_add)
WG_REDUCE(wg_max, subgroupMax, max)

// group_index is the linear workgroup index of a 2-D grid: the host splits counts above
// maxComputeWorkGroupCount[0] into rows of gl_NumWorkGroups.x.
uint group_index() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

// NEG_BIG stands in for -infinity in max reductions (scores never come near it).
const float NEG_BIG = -1.0e30;
