// variants: 
// getrows_bf16: embedding rows from a bf16 table (see getrows.glsl).
#version 450
#define WT_BF16
#include "getrows.glsl"
