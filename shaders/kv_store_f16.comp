// variants: s16
// kv_store_f16: KV-cache write into an f16 cache (see kv_store.glsl). The conversion rounds as the
// device converts f32 to f16 (to nearest or toward zero, per Vulkan), within one f16 ulp.
#version 450
#ifdef F16
#define KV_T float16_t
#define KV_STORE2(buf, i, a, b) { buf[i] = float16_t(a); buf[(i) + 1u] = float16_t(b); }
#else
#define KV_T uint
#define KV_STORE2(buf, i, a, b) { buf[(i) >> 1] = packHalf2x16(vec2(a, b)); }
#endif
#include "kv_store.glsl"
