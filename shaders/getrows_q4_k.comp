// variants: 
// getrows_q4_k: embedding rows from a q4_k table (see getrows.glsl).
#version 450
#define WT_Q4_K
#include "getrows.glsl"
