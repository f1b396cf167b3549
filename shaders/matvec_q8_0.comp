// variants: sg
// matvec_q8_0: matrix-vector product with q8_0 weights (see matvec.glsl).
#version 450
#define WT_Q8_0
#include "matvec.glsl"
