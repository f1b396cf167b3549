// variants: 
// getrows_q3_k: embedding rows from a q3_k table (see getrows.glsl).
#version 450
#define WT_Q3_K
#include "getrows.glsl"
