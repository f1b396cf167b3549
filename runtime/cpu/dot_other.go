//go:build !amd64

package cpu

// asmVariants is empty: on this architecture every type uses the pure-Go kernels.
var asmVariants []asmVariant

// rowPairVariants is empty for the same reason.
var rowPairVariants []rowPairVariant

// rows8Variants is empty for the same reason.
var rows8Variants []rows8Variant
