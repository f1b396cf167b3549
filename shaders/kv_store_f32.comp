// variants:
// kv_store_f32: KV-cache write into an f32 cache (see kv_store.glsl).
#version 450
#define KV_T float
#define KV_STORE2(buf, i, a, b) { buf[i] = (a); buf[(i) + 1u] = (b); }
#include "kv_store.glsl"
