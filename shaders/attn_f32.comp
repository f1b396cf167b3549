// variants: sg
// attn_f32: attention over an f32 KV cache (see attn.glsl).
#version 450
#define KV_T float
#define KV_LOAD(buf, i) buf[i]
#define KV_LOAD2(buf, i) vec2(buf[i], buf[(i) + 1u])
#include "attn.glsl"
