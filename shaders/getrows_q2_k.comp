// variants: 
// getrows_q2_k: embedding rows from a q2_k table (see getrows.glsl).
#version 450
#define WT_Q2_K
#include "getrows.glsl"
