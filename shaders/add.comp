// variants:
// add: o = a + b elementwise (residual connections).
#version 450
#define OP(a, b) ((a) + (b))
#include "elementwise.glsl"
