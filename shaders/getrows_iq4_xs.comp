// variants: 
// getrows_iq4_xs: embedding rows from a iq4_xs table (see getrows.glsl).
#version 450
#define WT_IQ4_XS
#include "getrows.glsl"
