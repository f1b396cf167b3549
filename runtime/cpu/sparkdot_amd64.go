package cpu

import "unsafe"

// The AVX-512 masked-record score kernels (sparkdot_amd64.s). Each computes s[r][h] = q[h]·k̂_r
// for n rows: qr is [chunks][quad+1][16], the four queries and ρ interleaved per 16-channel
// chunk (so that one index register addresses all five); mask advances maskStride bytes a row;
// kept, signs and alpha are read as streams; signs nil means no recovery.

//go:noescape
func maskedScoresF16AVX512(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *uint16, signs *byte, alpha *uint16)

//go:noescape
func maskedScoresF16x64AVX512(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *uint16, signs *byte, alpha *uint16)

//go:noescape
func maskedScoresF32AVX512(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *float32, signs *byte, alpha *float32)

// maskedCPU reports the extensions the kernels need besides AVX-512 F/BW/VL: BMI2 (PDEP, to
// deposit a chunk's sign bits at its pruned channels) and, for f16 rows, VBMI2 (VPEXPANDW).
var maskedCPU = func() (m struct{ bmi2, vbmi2 bool }) {
	if maxLeaf, _, _, _ := cpuid(0, 0); maxLeaf < 7 {
		return m
	}
	_, ebx7, ecx7, _ := cpuid(7, 0)
	m.bmi2, m.vbmi2 = ebx7&(1<<8) != 0, ecx7&(1<<6) != 0
	return m
}()

// maskedScoresAsm runs the assembly kernel on the rows of k when the kernel set is AVX-512, the
// CPU has the extensions and the head dimension is a multiple of 16; it reports whether it did.
func maskedScoresAsm[E uint16 | float32](a *QuadAttention, s []float32, k *MaskedKeys[E]) bool {
	n := len(s) / quad
	if attendUse != kernelsAVX512 || !maskedCPU.bmi2 || k.D%16 != 0 || n == 0 {
		return false
	}
	kept, f16 := any(k.Kept).([]uint16)
	if f16 && !maskedCPU.vbmi2 {
		return false
	}
	// The assembly reads a row's sign bits with 8-byte loads, up to SignSlack bytes past the
	// row's last sign byte: the stream must have that slack (press allocates it).
	if k.Signs != nil && cap(k.Signs) < len(k.Signs)+SignSlack {
		return false
	}
	// Bounds the assembly relies on; the stream lengths are the caller's contract (streams).
	_ = k.Mask[(n-1)*k.MaskStride+(k.D+7)/8-1]
	var signs *byte
	if k.Signs != nil {
		_, _ = k.Alpha[n-1], k.Rho[k.D-1]
		signs = unsafe.SliceData(k.Signs)
	}
	a.interleave(k.Rho)
	chunks := k.D / 16
	switch {
	case f16 && k.D%64 == 0:
		maskedScoresF16x64AVX512(&s[0], &a.qr[0], chunks, n, &k.Mask[0], k.MaskStride,
			unsafe.SliceData(kept), signs, unsafe.SliceData(any(k.Alpha).([]uint16)))
	case f16:
		maskedScoresF16AVX512(&s[0], &a.qr[0], chunks, n, &k.Mask[0], k.MaskStride,
			unsafe.SliceData(kept), signs, unsafe.SliceData(any(k.Alpha).([]uint16)))
	default:
		maskedScoresF32AVX512(&s[0], &a.qr[0], chunks, n, &k.Mask[0], k.MaskStride,
			unsafe.SliceData(any(k.Kept).([]float32)), signs, unsafe.SliceData(any(k.Alpha).([]float32)))
	}
	return true
}

// interleave fills a.qr with the queries and rho (nil: zeros) unless it holds them already.
func (a *QuadAttention) interleave(rho []float32) {
	if a.qrOK && unsafe.SliceData(rho) == unsafe.SliceData(a.rho) && len(rho) == len(a.rho) {
		return
	}
	d := a.d
	a.qr = append(a.qr[:0], make([]float32, d/16*(quad+1)*16)...)
	for c := range d / 16 {
		blk := a.qr[c*(quad+1)*16:]
		for h := range quad {
			copy(blk[h*16:(h+1)*16], a.q[h*d+c*16:])
		}
		if rho != nil {
			copy(blk[quad*16:(quad+1)*16], rho[c*16:])
		}
	}
	a.qrOK, a.rho = true, rho
}
