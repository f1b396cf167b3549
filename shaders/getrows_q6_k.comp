// variants: 
// getrows_q6_k: embedding rows from a q6_k table (see getrows.glsl).
#version 450
#define WT_Q6_K
#include "getrows.glsl"
