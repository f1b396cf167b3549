// variants: sg s16
// attn_f16: attention over an f16 KV cache (see attn.glsl).
#version 450
#define KV_T HALF_T
#define KV_LOAD(buf, i) LOADH(buf, i)
#ifdef F16
#define KV_LOAD2(buf, i) vec2(float(buf[i]), float(buf[(i) + 1u]))
#else
// Two halves in one word when i is even (an even head dim); else two reads.
#define KV_LOAD2(buf, i) (((i) & 1u) == 0u ? unpackHalf2x16(buf[(i) >> 1]) : vec2(LOADH(buf, i), LOADH(buf, (i) + 1u)))
#endif
#include "attn.glsl"
