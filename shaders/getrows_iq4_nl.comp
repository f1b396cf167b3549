// variants: 
// getrows_iq4_nl: embedding rows from a iq4_nl table (see getrows.glsl).
#version 450
#define WT_IQ4_NL
#include "getrows.glsl"
