package cpu

import "unsafe"

// The AVX-512 masked-record score kernels (sparkdot_amd64.s). Each computes s[r][h] = q[h]·k̂_r
// for n rows: qr is [chunks][quad+1][16], the four queries and ρ interleaved per 16-channel
// chunk (so that one index register addresses all five); mask advances maskStride bytes a row;
// kept, signs and alpha are read as streams; signs nil means no recovery. They return the kept
// entries and sign bytes the n rows took (signsUsed 0 without recovery), so that a caller
// streaming blocks of rows learns where the next block starts without a pass over the masks.
// pf is the value rows of the n rows (nil: none), which the kernels prefetch while they score
// the keys (see sparkdot_amd64.s), for the accumulation that follows.

//go:noescape
func maskedScoresF16AVX512(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *uint16, signs *byte, alpha *uint16, pf *byte) (keptUsed, signsUsed int)

//go:noescape
func maskedScoresF16x64AVX512(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *uint16, signs *byte, alpha *uint16, pf *byte) (keptUsed, signsUsed int)

//go:noescape
func maskedScoresF16d64AVX512(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *uint16, signs *byte, alpha *uint16, pf *byte) (keptUsed, signsUsed int)

//go:noescape
func maskedScoresF16d128AVX512(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *uint16, signs *byte, alpha *uint16, pf *byte) (keptUsed, signsUsed int)

//go:noescape
func maskedScoresF32AVX512(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *float32, signs *byte, alpha *float32, pf *byte) (keptUsed, signsUsed int)

// The AVX2 kernels (sparkdot_avx2_amd64.s): the same contract without pf (they do not
// prefetch), plus lanes, the table maskedLanes; they return the kept entries and sign bytes the
// n rows took (signsUsed is meaningless without recovery).

//go:noescape
func maskedScoresF16AVX2(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *uint16, signs *byte, alpha *uint16, lanes *uint32) (keptUsed, signsUsed int)

//go:noescape
func maskedScoresF32AVX2(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *float32, signs *byte, alpha *float32, lanes *uint32) (keptUsed, signsUsed int)

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

// maskedScoresAsm runs an assembly kernel on the rows of k when the head dimension is a multiple
// of 16 (and at most MaxHeadDim) and the kernel set is an assembly one; it reports whether it
// did and the kept entries and sign bytes the rows took; pf (nil: none) is the rows' values, for
// the AVX-512 kernels to prefetch. Under AVX-512 the AVX-512 kernel runs when the CPU has its
// extensions and the sign stream has its slack; otherwise, and under AVX2, the AVX2 kernel does.
func maskedScoresAsm[E uint16 | float32](a *QuadAttention, s []float32, k *MaskedKeys[E], pf *byte) (ok bool, keptUsed, signsUsed int) {
	n := len(s) / quad
	if attendUse == kernelsGo || k.D%16 != 0 || k.D > MaxHeadDim || n == 0 {
		return false, 0, 0
	}
	// Bounds the assembly relies on; the stream lengths are the caller's contract (streams).
	_ = k.Mask[(n-1)*k.MaskStride+(k.D+7)/8-1]
	if k.Signs != nil {
		_, _ = k.Alpha[n-1], k.Rho[k.D-1]
	}
	a.interleave(k.Rho)
	_, f16 := any(k.Kept).([]uint16)
	// The AVX-512 kernel reads a row's sign bits with 8-byte loads, up to SignSlack bytes past
	// the row's last sign byte: the stream must have that slack (press allocates it).
	if attendUse == kernelsAVX512 && maskedCPU.bmi2 && (!f16 || maskedCPU.vbmi2) &&
		(k.Signs == nil || cap(k.Signs) >= len(k.Signs)+SignSlack) {
		keptUsed, signsUsed = maskedScoresAVX512(a, s, k, n, pf)
		return true, keptUsed, signsUsed
	}
	keptUsed, signsUsed = maskedScoresAVX2(a, s, k, n)
	return true, keptUsed, signsUsed
}

// maskedScoresAVX512 runs the AVX-512 kernel for the element type and head dim on n rows,
// prefetching the values at pf, and returns the kept entries and sign bytes they took: for f16,
// the software-pipelined kernels for 64 and 128 channels with recovery (SparK's records of the
// common models), the word kernel for other multiples of 64, else the chunk kernel.
func maskedScoresAVX512[E uint16 | float32](a *QuadAttention, s []float32, k *MaskedKeys[E], n int, pf *byte) (keptUsed, signsUsed int) {
	var signs *byte
	if k.Signs != nil {
		signs = unsafe.SliceData(k.Signs)
	}
	chunks := k.D / 16
	switch kept := any(k.Kept).(type) {
	case []uint16:
		alpha := unsafe.SliceData(any(k.Alpha).([]uint16))
		switch {
		case k.D == 64 && signs != nil:
			return maskedScoresF16d64AVX512(&s[0], &a.qr[0], chunks, n, &k.Mask[0], k.MaskStride, unsafe.SliceData(kept), signs, alpha, pf)
		case k.D == 128 && signs != nil:
			return maskedScoresF16d128AVX512(&s[0], &a.qr[0], chunks, n, &k.Mask[0], k.MaskStride, unsafe.SliceData(kept), signs, alpha, pf)
		}
		if k.D%64 == 0 {
			return maskedScoresF16x64AVX512(&s[0], &a.qr[0], chunks, n, &k.Mask[0], k.MaskStride, unsafe.SliceData(kept), signs, alpha, pf)
		}
		return maskedScoresF16AVX512(&s[0], &a.qr[0], chunks, n, &k.Mask[0], k.MaskStride, unsafe.SliceData(kept), signs, alpha, pf)
	case []float32:
		return maskedScoresF32AVX512(&s[0], &a.qr[0], chunks, n, &k.Mask[0], k.MaskStride,
			unsafe.SliceData(kept), signs, unsafe.SliceData(any(k.Alpha).([]float32)), pf)
	}
	return 0, 0
}

// maskedLanes is the AVX2 kernels' lane table. In its first half, for mask byte m, lane i of
// entry m is the rank of channel i among m's set bits with bit 31 set when bit i of m is set (a
// kept channel), else its rank among m's clear bits (a pruned channel). In its second half every
// lane of entry m is the number of m's clear bits: where the next byte's pruned channels start
// in the sign bits. See sparkdot_avx2_amd64.s.
var maskedLanes = func() (t [2][256][8]uint32) {
	for m := range 256 {
		var kept, pruned uint32
		for i := range 8 {
			if m>>i&1 == 1 {
				t[0][m][i] = kept | 1<<31
				kept++
			} else {
				t[0][m][i] = pruned
				pruned++
			}
		}
		for i := range 8 {
			t[1][m][i] = pruned
		}
	}
	return t
}()

// maskedRoom is the room the AVX2 kernels need past the end of the kept and sign streams: they
// load 8 kept entries, and 8 sign bytes, from positions up to the end.
const maskedRoom = 8

// maskedScoresAVX2 runs the AVX2 kernel on the n rows of k and returns the kept entries and sign
// bytes they took. The kernel's fixed-size loads may read maskedRoom entries or bytes past the
// end of a row's streams, so the rows whose reads could pass the capacity of k's slices (the
// last few of a stream without spare capacity) run one at a time from copies with that room.
// Which rows those are is found from the end of the rows' streams: the slices' ends, an upper
// bound of it when they have the room past them (so that no pass over the masks is needed, as
// for every block of a stream with slack), else the exact end from the masks (k's slices may
// run past the n rows, as the rest of a longer stream does). The tail rows start where the
// kernel stopped. Besides AVX2, FMA and F16C the kernel uses POPCNT, which every CPU with AVX2
// has.
func maskedScoresAVX2[E uint16 | float32](a *QuadAttention, s []float32, k *MaskedKeys[E], n int) (keptUsed, signsUsed int) {
	d, mb := k.D, (k.D+7)/8
	tight := func(ek, es int) bool {
		return ek+maskedRoom > cap(k.Kept) || k.Signs != nil && es+maskedRoom > cap(k.Signs)
	}
	safe, ek, es := n, len(k.Kept), len(k.Signs)
	if tight(ek, es) {
		ek, es = k.streams(0, n)
	}
	for safe > 0 && tight(ek, es) {
		safe--
		c := popcountBytes(k.Mask[safe*k.MaskStride:][:mb])
		ek -= c
		es -= (d - c + 7) / 8
	}
	kp, sp := 0, 0
	if safe > 0 {
		kp, sp = maskedScoresAVX2Rows(a, s[:safe*quad], k, safe, k.Kept, k.Signs, 0)
	}
	var kb [MaxHeadDim + maskedRoom]E
	var sb [MaxHeadDim/8 + maskedRoom]byte
	for r := safe; r < n; r++ {
		c := popcountBytes(k.Mask[r*k.MaskStride:][:mb])
		copy(kb[:], k.Kept[kp:kp+c])
		kp += c
		var signs []byte
		if k.Signs != nil {
			ns := (d - c + 7) / 8
			signs = sb[:ns]
			copy(signs, k.Signs[sp:sp+ns])
			sp += ns
		}
		maskedScoresAVX2Rows(a, s[r*quad:(r+1)*quad], k, 1, kb[:c], signs, r)
	}
	if k.Signs == nil {
		sp = 0
	}
	return kp, sp
}

// maskedScoresAVX2Rows runs the AVX2 kernel for the element type on n rows of k from row r0,
// with kept and signs (nil: no recovery) the rows' streams, and returns the kept entries and sign
// bytes they took.
func maskedScoresAVX2Rows[E uint16 | float32](a *QuadAttention, s []float32, k *MaskedKeys[E], n int, kept []E, signs []byte, r0 int) (keptUsed, signsUsed int) {
	var sp *byte
	if signs != nil {
		sp = unsafe.SliceData(signs)
	}
	mask := &k.Mask[r0*k.MaskStride]
	alpha := k.Alpha[min(r0, len(k.Alpha)):]
	lanes := &maskedLanes[0][0][0]
	if kept, ok := any(kept).([]uint16); ok {
		return maskedScoresF16AVX2(&s[0], &a.qr[0], k.D/16, n, mask, k.MaskStride, unsafe.SliceData(kept), sp,
			unsafe.SliceData(any(alpha).([]uint16)), lanes)
	}
	return maskedScoresF32AVX2(&s[0], &a.qr[0], k.D/16, n, mask, k.MaskStride, unsafe.SliceData(any(kept).([]float32)), sp,
		unsafe.SliceData(any(alpha).([]float32)), lanes)
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
