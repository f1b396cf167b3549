// variants: sg s16
// matvec_f16: matrix-vector product with f16 weights, one token per dispatch row (see matvec.glsl).
#version 450
#define WT_F16
#include "matvec.glsl"
