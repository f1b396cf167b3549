package cpu

//go:noescape
func quantQ8AVX2(x *float32, nb int, qs *int8, d, d8, s *float32, ns4 *int32)

//go:noescape
func roundF16AVX2(dst, src *float32, n int)

// quantQ8Asm quantizes x into r like quantQ8Blocks, with AVX2 where the CPU has it, and
// reports whether it did.
func quantQ8Asm(x []float32, r *actRow, withSum bool) bool {
	nb := len(x) / 32
	if !features.avx2FMA || forceGeneric || nb == 0 {
		return false
	}
	_, _, _, _ = r.qs[32*nb-1], r.d[nb-1], r.d8[8*nb-1], r.ns4[8*nb-1]
	var s *float32
	if withSum {
		_ = r.s[nb-1]
		s = &r.s[0]
	}
	quantQ8AVX2(&x[0], nb, &r.qs[0], &r.d[0], &r.d8[0], s, &r.ns4[0])
	return true
}

// roundF16Asm sets dst[i] to src[i] rounded through half precision over the longest multiple
// of 8 elements of dst (src at least as long) and returns how many it did.
func roundF16Asm(dst, src []float32) int {
	n := len(dst) &^ 7
	if !features.avx2FMA || forceGeneric || n == 0 {
		return 0
	}
	_ = src[n-1]
	roundF16AVX2(&dst[0], &src[0], n)
	return n
}
