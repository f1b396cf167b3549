// variants: s16
// getrows_f16: embedding rows from a f16 table (see getrows.glsl).
#version 450
#define WT_F16
#include "getrows.glsl"
