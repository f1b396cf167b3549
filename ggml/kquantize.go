package ggml

import (
	"encoding/binary"
	"math"
)

// Reference k-quant quantizers (ggml's quantize_row_*_ref), the path llama-quantize takes when
// no importance matrix is given. They search for the scales that minimise a weighted error, so
// reproducing ggml's bytes needs its float32 arithmetic in its order: every product that feeds
// an addition is converted with float32() so that Go cannot fuse it into an FMA (the Go spec
// allows fusion, even across statements, unless an explicit conversion rounds the product).

// groupMaxEps is GROUP_MAX_EPS: a group whose largest magnitude is below it quantizes to zeros.
const groupMaxEps = 1e-15

// nearestInt rounds to the nearest integer, ties to even, by adding 1.5*2^23 so that the FPU
// rounds the fraction away (ggml's nearest_int; valid for |f| <= 2^22).
func nearestInt(f float32) int {
	v := f + 12582912
	return int(int32(math.Float32bits(v))&0x007fffff) - 0x00400000
}

// clampInt returns v limited to [lo, hi].
func clampInt(v, lo, hi int) int { return max(lo, min(hi, v)) }

// makeQXQuants is make_qx_quants with rmse_type 1 and no importance weights (the only way the
// reference quantizers call it): symmetric levels L[i] in [0, 2*nmax) (i.e. l+nmax for l in
// [-nmax, nmax-1]), weighted by x^2, trying 19 scales around -nmax/max and keeping the one with
// the best weighted least-squares fit. It returns the scale.
func makeQXQuants(nmax int, x []float32, L []int8) float32 {
	amax, mx := signedAbsMax(x)
	if amax < groupMaxEps {
		clear(L[:len(x)])
		return 0
	}
	// fit quantizes x with iscale and returns the weighted sums Σw·x·l and Σw·l².
	fit := func(iscale float32, store bool) (sumlx, suml2 float32) {
		for i, v := range x {
			l := clampInt(nearestInt(float32(iscale*v)), -nmax, nmax-1)
			if store {
				L[i] = int8(l + nmax)
			}
			w := float32(v * v)
			fl := float32(l)
			sumlx += float32(float32(w*v) * fl)
			suml2 += float32(float32(w*fl) * fl)
		}
		return sumlx, suml2
	}
	sumlx, suml2 := fit(float32(-nmax)/mx, true)
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := float32(scale * sumlx)
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale := -(float32(nmax) + float32(0.1*float32(is))) / mx
		sumlx, suml2 = fit(iscale, false)
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			fit(iscale, true)
			scale = sumlx / suml2
			best = float32(scale * sumlx)
		}
	}
	return scale
}

// makeQKX2Quants is make_qkx2_quants: affine levels L[i] in [0, nmax] with x ≈ scale*L - min.
// Starting from the range [min(x, 0), max(x)] it tries nstep+1 inverse scales
// (rmin + rdelta*is + nmax)/(max-min), solves the weighted least-squares scale and min for each
// level assignment, and keeps the one with the smallest weighted error (absolute if useMad,
// else squared). It returns the scale and the (non-negative) min to subtract. laux is scratch.
func makeQKX2Quants(nmax int, x, weights []float32, L, laux []uint8, rmin, rdelta float32, nstep int, useMad bool) (scale, theMin float32) {
	n := len(x)
	mn, mx := x[0], x[0]
	sumW := weights[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		if x[i] < mn {
			mn = x[i]
		}
		if x[i] > mx {
			mx = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if mn > 0 {
		mn = 0
	}
	if mx == mn {
		clear(L[:n])
		return 0, -mn
	}
	// errorOf is the weighted error of levels q under (s, m).
	errorOf := func(q []uint8, s, m float32) float32 {
		var e float32
		for i, v := range x {
			diff := float32(float32(s*float32(q[i]))+m) - v
			if useMad {
				diff = abs32(diff)
			} else {
				diff = float32(diff * diff)
			}
			e += float32(weights[i] * diff)
		}
		return e
	}
	iscale := float32(nmax) / (mx - mn)
	scale = 1 / iscale
	for i, v := range x {
		L[i] = uint8(clampInt(nearestInt(float32(iscale*(v-mn))), 0, nmax))
	}
	bestError := errorOf(L, scale, mn)
	if nstep < 1 {
		return scale, -mn
	}
	for is := 0; is <= nstep; is++ {
		iscale = (float32(rmin+float32(rdelta*float32(is))) + float32(nmax)) / (mx - mn)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			l := clampInt(nearestInt(float32(iscale*(v-mn))), 0, nmax)
			laux[i] = uint8(l)
			w := weights[i]
			wl := float32(w * float32(l))
			sumL += wl
			sumL2 += float32(wl * float32(l))
			sumXL += float32(wl * v)
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			if cur := errorOf(laux[:n], thisScale, thisMin); cur < bestError {
				copy(L[:n], laux[:n])
				bestError = cur
				scale = thisScale
				mn = thisMin
			}
		}
	}
	return scale, -mn
}

// quantScaleMinK is quantize_row_q4_K_ref (qh == nil, nmax 15) and quantize_row_q5_K_ref
// (nmax 31): eight 32-element sub-blocks, each fitted by makeQKX2Quants with weights
// rms(x)+|x|; the sub-block scales and mins are then quantized to 6 bits against the largest
// of each (super-block d = maxScale/63, dmin = maxMin/63) and the levels recomputed with the
// rounded scales. Layout: see kquants.go.
func quantScaleMinK(x []float32, b []byte, nmax int, rmin, rdelta float32, nstep int, qh, qs []byte) {
	const nsub = qkK / 32
	var (
		L              [qkK]uint8
		laux           [32]uint8
		weights        [32]float32
		scales, mins   [nsub]float32
		maxScale, maxM float32
	)
	x = x[:qkK]
	for j := 0; j < nsub; j++ {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := sqrt32(sumX2 / 32)
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(nmax, xs, weights[:], L[32*j:32*j+32], laux[:], rmin, rdelta, nstep, false)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxM {
			maxM = mins[j]
		}
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxM > 0 {
		invMin = 63 / maxM
	}
	sc := b[4:16]
	for j := 0; j < nsub; j++ {
		// uint8 conversion wraps like C's assignment to uint8_t before MIN(63, ...).
		ls := min(63, uint8(nearestInt(float32(invScale*scales[j]))))
		lm := min(63, uint8(nearestInt(float32(invMin*mins[j]))))
		if j < 4 {
			sc[j] = ls
			sc[j+4] = lm
		} else {
			sc[j+4] = ls&0xF | (lm&0xF)<<4
			sc[j-4] |= (ls >> 4) << 6
			sc[j] |= (lm >> 4) << 6
		}
	}
	putHalf(b, maxScale/63)
	putHalf(b[2:], maxM/63)
	d, dmin := halfAt(b), halfAt(b[2:])
	for j := 0; j < nsub; j++ {
		s, m := scaleMinK4(j, sc)
		dj := float32(d * float32(s))
		if dj == 0 {
			continue // keeps the levels of the fit, as ggml does
		}
		dm := float32(dmin * float32(m))
		for i := 32 * j; i < 32*j+32; i++ {
			L[i] = uint8(clampInt(nearestInt((x[i]+dm)/dj), 0, nmax))
		}
	}
	if qh != nil {
		clear(qh[:32])
	}
	for g := 0; g < qkK/64; g++ {
		q := qs[32*g : 32*g+32]
		for l := range q {
			lo, hi := L[64*g+l], L[64*g+l+32]
			if qh != nil {
				qh[l] |= (lo>>4)<<(2*g) | (hi>>4)<<(2*g+1)
			}
			q[l] = lo&0xF | (hi&0xF)<<4
		}
	}
}

func quantQ4_K(x []float32, b []byte) { quantScaleMinK(x, b, 15, -1, 0.1, 20, nil, b[16:144]) }

func quantQ5_K(x []float32, b []byte) {
	quantScaleMinK(x, b, 31, -0.5, 0.1, 15, b[16:48], b[48:176])
}

// quantQ6_K is quantize_row_q6_K_ref: sixteen 16-element sub-blocks fitted by makeQXQuants
// (nmax 32), their scales quantized to int8 against the one of largest magnitude
// (d = -maxScale/128), then the 6-bit levels recomputed with the rounded scales.
func quantQ6_K(x []float32, b []byte) {
	const nsub = qkK / 16
	var (
		L                     [qkK]int8
		scales                [nsub]float32
		maxScale, maxAbsScale float32
	)
	x = x[:qkK]
	for ib := 0; ib < nsub; ib++ {
		s := makeQXQuants(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16])
		scales[ib] = s
		if a := abs32(s); a > maxAbsScale {
			maxAbsScale, maxScale = a, s
		}
	}
	ql, qh, sc := b[0:128], b[128:192], b[192:208]
	if maxAbsScale < groupMaxEps {
		clear(b[:210])
		return
	}
	iscale := -128 / maxScale
	putHalf(b[208:], 1/iscale)
	for ib := range sc {
		sc[ib] = uint8(int8(min(127, nearestInt(float32(iscale*scales[ib])))))
	}
	d := halfAt(b[208:])
	for j := 0; j < nsub; j++ {
		dj := d * float32(int8(sc[j]))
		if dj == 0 {
			continue
		}
		for i := 16 * j; i < 16*j+16; i++ {
			L[i] = int8(clampInt(nearestInt(x[i]/dj), -32, 31) + 32)
		}
	}
	// Low nibbles: byte l of each 64-byte half of ql holds elements l and l+64, byte l+32
	// holds l+32 and l+96. High 2 bits: packed like Q2_K's levels.
	var high [qkK]uint8
	for half := 0; half < 2; half++ {
		lq := ql[64*half : 64*half+64]
		l4 := L[128*half : 128*half+128]
		for l := 0; l < 32; l++ {
			q1, q2, q3, q4 := uint8(l4[l]), uint8(l4[l+32]), uint8(l4[l+64]), uint8(l4[l+96])
			lq[l] = q1&0xF | (q3&0xF)<<4
			lq[l+32] = q2&0xF | (q4&0xF)<<4
		}
	}
	for i, l := range L {
		high[i] = uint8(l) >> 4
	}
	pack2Bit(&high, qh)
}

// quantQ8_K is quantize_row_q8_K_ref, used for activations in k-quant dot products:
// d = max/-127 (a float32, not F16) for the signed value of largest magnitude, levels capped at
// 127, plus the sums of each 16 levels (bsums) that the dot products use for the mins.
func quantQ8_K(x []float32, b []byte) {
	x = x[:qkK]
	qs, bsums := b[4:4+qkK], b[4+qkK:4+qkK+32]
	amax, mx := signedAbsMax(x)
	if amax == 0 {
		// ggml leaves bsums untouched here; zero them so the output is deterministic.
		clear(b[:4+qkK+32])
		return
	}
	iscale := -127 / mx
	for j, v := range x {
		qs[j] = uint8(int8(min(127, nearestInt(float32(iscale*v)))))
	}
	for j := 0; j < qkK/16; j++ {
		var sum int
		for _, q := range qs[16*j : 16*j+16] {
			sum += int(int8(q))
		}
		binary.LittleEndian.PutUint16(bsums[2*j:], uint16(int16(sum)))
	}
	binary.LittleEndian.PutUint32(b, math.Float32bits(1/iscale))
}

// sqrt32 is C's sqrtf: the float64 square root rounded to float32 is correctly rounded.
func sqrt32(f float32) float32 { return float32(math.Sqrt(float64(f))) }

// makeQ3Quants is make_q3_quants with do_rmse: symmetric levels in [-nmax, nmax) weighted by
// x^2, first from -nmax/max, then refined element by element (up to 5 sweeps) whenever moving
// one level improves the least-squares fit. It stores L[i] = level+nmax and returns the scale.
func makeQ3Quants(nmax int, x []float32, L []int8) float32 {
	amax, mx := signedAbsMax(x)
	if amax < groupMaxEps {
		clear(L[:len(x)])
		return 0
	}
	iscale := float32(-nmax) / mx
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt(nearestInt(float32(iscale*v)), -nmax, nmax-1)
		L[i] = int8(l)
		w := float32(v * v)
		sumlx += float32(float32(w*v) * float32(l))
		suml2 += float32(float32(w*float32(l)) * float32(l))
	}
	for range 5 {
		changed := false
		for i, v := range x {
			w := float32(v * v)
			li := float32(L[i])
			slx := sumlx - float32(float32(w*v)*li)
			if slx <= 0 {
				continue
			}
			sl2 := suml2 - float32(float32(w*li)*li)
			newL := clampInt(nearestInt(float32(v*sl2)/slx), -nmax, nmax-1)
			if newL == int(L[i]) {
				continue
			}
			fl := float32(newL)
			slx += float32(float32(w*v) * fl)
			sl2 += float32(float32(w*fl) * fl)
			if sl2 > 0 && float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
				L[i] = int8(newL)
				sumlx, suml2 = slx, sl2
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	for i := range x {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// pack2Bit stores 256 2-bit levels into qs[64]: byte l of each 32-byte half holds elements
// l, l+32, l+64, l+96 of that half (Q2_K, Q3_K).
func pack2Bit(L *[qkK]uint8, qs []byte) {
	for j := 0; j < qkK; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}

// quantQ2_K is quantize_row_q2_K_ref: sixteen 16-element sub-blocks fitted by makeQKX2Quants
// (2-bit levels, weights |x|, absolute error), scales and mins quantized to 4 bits.
func quantQ2_K(x []float32, b []byte) {
	const nsub = qkK / 16
	var (
		L                [qkK]uint8
		laux             [16]uint8
		weights          [16]float32
		scales, mins     [nsub]float32
		maxScale, maxMin float32
	)
	x = x[:qkK]
	for j := 0; j < nsub; j++ {
		xs := x[16*j : 16*j+16]
		for l, v := range xs {
			weights[l] = abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(3, xs, weights[:], L[16*j:16*j+16], laux[:], -0.5, 0.1, 15, true)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	sc := b[0:16]
	const q4scale = 15
	if maxScale > 0 {
		iscale := q4scale / maxScale
		for j := range sc {
			sc[j] = uint8(nearestInt(float32(iscale * scales[j])))
		}
		putHalf(b[80:], maxScale/q4scale)
	} else {
		clear(sc)
		putHalf(b[80:], 0)
	}
	if maxMin > 0 {
		iscale := q4scale / maxMin
		for j := range sc {
			sc[j] |= uint8(nearestInt(float32(iscale*mins[j])) << 4)
		}
		putHalf(b[82:], maxMin/q4scale)
	} else {
		putHalf(b[82:], 0)
	}
	d, dmin := halfAt(b[80:]), halfAt(b[82:])
	for j := 0; j < nsub; j++ {
		dj := float32(d * float32(sc[j]&0xF))
		if dj == 0 {
			continue
		}
		dm := float32(dmin * float32(sc[j]>>4))
		for i := 16 * j; i < 16*j+16; i++ {
			L[i] = uint8(clampInt(nearestInt((x[i]+dm)/dj), 0, 3))
		}
	}
	pack2Bit(&L, b[16:80])
}

// quantQ3_K is quantize_row_q3_K_ref: sixteen 16-element sub-blocks fitted by makeQ3Quants
// (3-bit signed levels), their scales quantized to 6 bits against the one of largest magnitude
// (d = -maxScale/32); the third bit of each level goes to hmask (bit k of byte m for element
// 32k+m).
func quantQ3_K(x []float32, b []byte) {
	const nsub = qkK / 16
	var (
		L              [qkK]int8
		scales         [nsub]float32
		maxScale, amax float32
	)
	x = x[:qkK]
	for j := 0; j < nsub; j++ {
		scales[j] = makeQ3Quants(4, x[16*j:16*j+16], L[16*j:16*j+16])
		if s := abs32(scales[j]); s > amax {
			amax, maxScale = s, scales[j]
		}
	}
	hmask, qs, sc := b[0:32], b[32:96], b[96:108]
	clear(sc)
	if maxScale != 0 {
		iscale := -32 / maxScale
		for j := 0; j < nsub; j++ {
			l := uint8(clampInt(int(int8(nearestInt(float32(iscale*scales[j])))), -32, 31) + 32)
			if j < 8 {
				sc[j] = l & 0xF
			} else {
				sc[j-8] |= (l & 0xF) << 4
			}
			sc[j%4+8] |= (l >> 4) << (2 * (j / 4))
		}
		putHalf(b[108:], 1/iscale)
	} else {
		putHalf(b[108:], 0)
	}
	d := halfAt(b[108:])
	for j := 0; j < nsub; j++ {
		dj := d * float32(scaleQ3K(j, sc)-32)
		if dj == 0 {
			continue
		}
		for i := 16 * j; i < 16*j+16; i++ {
			L[i] = int8(clampInt(nearestInt(x[i]/dj), -4, 3) + 4)
		}
	}
	clear(hmask)
	var low [qkK]uint8
	for j, l := range L {
		if l > 3 {
			hmask[j%32] |= 1 << (j / 32)
			l -= 4
		}
		low[j] = uint8(l)
	}
	pack2Bit(&low, qs)
}
