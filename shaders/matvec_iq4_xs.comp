// variants: sg
// matvec_iq4_xs: matrix-vector product with iq4_xs weights, one token per dispatch row (see matvec.glsl).
#version 450
#define WT_IQ4_XS
#define NR 4
#include "matvec.glsl"
