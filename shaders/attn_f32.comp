// variants: sg
// attn_f32: attention over an f32 KV cache (see attn.glsl).
#version 450
#define KV_T float
#define KV_LOAD(buf, i) buf[i]
#include "attn.glsl"
