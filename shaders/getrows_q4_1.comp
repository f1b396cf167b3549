// variants: 
// getrows_q4_1: embedding rows from a q4_1 table (see getrows.glsl).
#version 450
#define WT_Q4_1
#include "getrows.glsl"
