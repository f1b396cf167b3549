// variants: 
// getrows_f32: embedding rows from a f32 table (see getrows.glsl).
#version 450
#define WT_F32
#include "getrows.glsl"
