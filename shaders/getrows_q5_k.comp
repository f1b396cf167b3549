// variants: 
// getrows_q5_k: embedding rows from a q5_k table (see getrows.glsl).
#version 450
#define WT_Q5_K
#include "getrows.glsl"
