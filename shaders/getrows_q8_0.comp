// variants: i8
// getrows_q8_0: embedding rows from a q8_0 table (see getrows.glsl).
#version 450
#define WT_Q8_0
#include "getrows.glsl"
