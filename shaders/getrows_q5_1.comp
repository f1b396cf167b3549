// variants: 
// getrows_q5_1: embedding rows from a q5_1 table (see getrows.glsl).
#version 450
#define WT_Q5_1
#include "getrows.glsl"
