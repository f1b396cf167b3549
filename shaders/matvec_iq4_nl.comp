// variants: sg
// matvec_iq4_nl: matrix-vector product with iq4_nl weights, one token per dispatch row (see matvec.glsl).
#version 450
#define WT_IQ4_NL
#define NR 4
#include "matvec.glsl"
