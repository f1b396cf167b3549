// variants: 
// getrows_q5_0: embedding rows from a q5_0 table (see getrows.glsl).
#version 450
#define WT_Q5_0
#include "getrows.glsl"
