// variants: sg
// matvec_f32: matrix-vector product with f32 weights, one token per dispatch row (see matvec.glsl).
#version 450
#define WT_F32
#include "matvec.glsl"
