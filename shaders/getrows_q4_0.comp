// variants: 
// getrows_q4_0: embedding rows from a q4_0 table (see getrows.glsl).
#version 450
#define WT_Q4_0
#include "getrows.glsl"
