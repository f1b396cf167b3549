// variants: sg s16
// attn_f16: attention over an f16 KV cache (see attn.glsl).
#version 450
#define KV_T HALF_T
#define KV_LOAD(buf, i) LOADH(buf, i)
#include "attn.glsl"
