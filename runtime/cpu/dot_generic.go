package cpu

import (
	"encoding/binary"
	"math"

	"github.com/sparkrun/sparkrun/ggml"
)

// The pure-Go dot products of one weight row (ggml blocks) with one activation row (quantized
// to the weight type's vec_dot_type). They follow ggml's ggml_vec_dot_*_generic: integer sums
// inside each block (exact), then one float32 multiply-add per block with the product of the
// two scales, so results differ from llama.cpp's only in float summation order.

// half reads the little-endian half-precision value at b[0:2].
func half(b []byte) float32 { return ggml.FP16ToFP32(binary.LittleEndian.Uint16(b)) }

func vecDotF32(w []byte, x *actRow) float32 {
	var sum float64
	for i, v := range x.f {
		sum += float64(math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:])) * v)
	}
	return float32(sum)
}

// vecDotF16 multiplies half-precision weights by half-precision activations; each product is exact
// in float32 (11-bit significands) and, as in ggml's generic code, the sum is kept in float64.
func vecDotF16(w []byte, x *actRow) float32 {
	var sum float64
	for i, v := range x.f {
		sum += float64(ggml.FP16ToFP32(binary.LittleEndian.Uint16(w[2*i:])) * v)
	}
	return float32(sum)
}

func vecDotBF16(w []byte, x *actRow) float32 {
	var sum float64
	for i, v := range x.f {
		sum += float64(ggml.BF16ToFP32(binary.LittleEndian.Uint16(w[2*i:])) * v)
	}
	return float32(sum)
}

func vecDotQ8_0(w []byte, x *actRow) float32 {
	var sum float32
	for b, xd := range x.d[:len(x.qs)/32] {
		blk := w[b*34 : b*34+34]
		q := x.qs[b*32 : b*32+32]
		var s int32
		for j := range 32 {
			s += int32(int8(blk[2+j])) * int32(q[j])
		}
		sum += float32(s) * (half(blk) * xd)
	}
	return sum
}

func vecDotQ4_0(w []byte, x *actRow) float32 {
	var sum float32
	for b, xd := range x.d[:len(x.qs)/32] {
		blk := w[b*18 : b*18+18]
		q := x.qs[b*32 : b*32+32]
		var s int32
		for j := range 16 {
			s += (int32(blk[2+j]&15) - 8) * int32(q[j])
			s += (int32(blk[2+j]>>4) - 8) * int32(q[j+16])
		}
		sum += float32(s) * half(blk) * xd
	}
	return sum
}

func vecDotQ4_1(w []byte, x *actRow) float32 {
	var sum float32
	for b, xd := range x.d[:len(x.qs)/32] {
		blk := w[b*20 : b*20+20]
		q := x.qs[b*32 : b*32+32]
		var s int32
		for j := range 16 {
			s += int32(blk[4+j]&15) * int32(q[j])
			s += int32(blk[4+j]>>4) * int32(q[j+16])
		}
		sum += half(blk)*xd*float32(s) + half(blk[2:])*x.s[b]
	}
	return sum
}

// q5Bits returns the 32 high bits of a Q5_0/Q5_1 block: bit j belongs to element j.
func q5Bits(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

func vecDotQ5_0(w []byte, x *actRow) float32 {
	var sum float32
	for b, xd := range x.d[:len(x.qs)/32] {
		blk := w[b*22 : b*22+22]
		qh := q5Bits(blk[2:])
		q := x.qs[b*32 : b*32+32]
		var s int32
		for j := range 16 {
			lo := int32(blk[6+j]&15) | int32(qh>>j&1)<<4
			hi := int32(blk[6+j]>>4) | int32(qh>>(j+16)&1)<<4
			s += (lo-16)*int32(q[j]) + (hi-16)*int32(q[j+16])
		}
		sum += half(blk) * xd * float32(s)
	}
	return sum
}

func vecDotQ5_1(w []byte, x *actRow) float32 {
	var sum float32
	for b, xd := range x.d[:len(x.qs)/32] {
		blk := w[b*24 : b*24+24]
		qh := q5Bits(blk[4:])
		q := x.qs[b*32 : b*32+32]
		var s int32
		for j := range 16 {
			lo := int32(blk[8+j]&15) | int32(qh>>j&1)<<4
			hi := int32(blk[8+j]>>4) | int32(qh>>(j+16)&1)<<4
			s += lo*int32(q[j]) + hi*int32(q[j+16])
		}
		sum += half(blk)*xd*float32(s) + half(blk[2:])*x.s[b]
	}
	return sum
}

// iq4nlValues is ggml's kvalues_iq4nl: the non-linear 4-bit codebook of IQ4_NL and IQ4_XS.
var iq4nlValues = [16]int32{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// iq4Dot is the integer dot product of 16 bytes of IQ4 nibbles (low nibbles are elements 0..15,
// high nibbles 16..31) with 32 quants.
func iq4Dot(qs []byte, q []int8) int32 {
	var s int32
	for j := range 16 {
		s += iq4nlValues[qs[j]&15]*int32(q[j]) + iq4nlValues[qs[j]>>4]*int32(q[j+16])
	}
	return s
}

func vecDotIQ4_NL(w []byte, x *actRow) float32 {
	var sum float32
	for b, xd := range x.d[:len(x.qs)/32] {
		blk := w[b*18 : b*18+18]
		sum += xd * half(blk) * float32(iq4Dot(blk[2:], x.qs[b*32:b*32+32]))
	}
	return sum
}

func vecDotIQ4_XS(w []byte, x *actRow) float32 {
	var sum float32
	for b, xd := range x.d[:len(x.qs)/256] {
		blk := w[b*136 : b*136+136]
		d := half(blk) * xd
		h := uint32(binary.LittleEndian.Uint16(blk[2:]))
		for ib := range 8 {
			ls := int32(blk[4+ib/2]>>(4*(ib&1))&15) | int32(h>>(2*ib)&3)<<4
			s := iq4Dot(blk[8+16*ib:], x.qs[b*256+32*ib:])
			sum += d * float32(ls-32) * float32(s)
		}
	}
	return sum
}

// kScaleMin decodes sub-block j's 6-bit scale and minimum of a Q4_K/Q5_K block from its 12
// packed bytes (ggml's get_scale_min_k4).
func kScaleMin(j int, q []byte) (sc, m int32) {
	if j < 4 {
		return int32(q[j] & 63), int32(q[j+4] & 63)
	}
	return int32(q[j+4]&15 | q[j-4]>>6<<4), int32(q[j+4]>>4 | q[j]>>6<<4)
}

// dotU8 is the integer dot product of 32 small non-negative weights with 32 quants.
func dotU8(a [32]int32, q []int8) int32 {
	var s int32
	for l := range 32 {
		s += a[l] * int32(q[l])
	}
	return s
}

// kMinSum is sum over the eight 32-element sub-blocks of min_j times their activation sum.
func kMinSum(scales []byte, bsums []int16) int32 {
	var s int32
	for j := range 8 {
		_, m := kScaleMin(j, scales)
		s += m * (int32(bsums[2*j]) + int32(bsums[2*j+1]))
	}
	return s
}

func vecDotQ4_K(w []byte, x *actRow) float32 {
	var sum float32
	for b, xd := range x.d[:len(x.qs)/256] {
		blk := w[b*144 : b*144+144]
		scales, qs := blk[4:16], blk[16:144]
		q8 := x.qs[b*256 : b*256+256]
		var isum int32
		var a [32]int32
		for c := range 4 { // 64-element chunks: low nibbles then high nibbles of 32 bytes
			for nib := range 2 {
				for l := range 32 {
					a[l] = int32(qs[32*c+l] >> (4 * nib) & 15)
				}
				sc, _ := kScaleMin(2*c+nib, scales)
				isum += sc * dotU8(a, q8[64*c+32*nib:])
			}
		}
		msum := kMinSum(scales, x.bsums[b*16:b*16+16])
		sum += half(blk)*xd*float32(isum) - half(blk[2:])*xd*float32(msum)
	}
	return sum
}

func vecDotQ5_K(w []byte, x *actRow) float32 {
	var sum float32
	for b, xd := range x.d[:len(x.qs)/256] {
		blk := w[b*176 : b*176+176]
		scales, qh, qs := blk[4:16], blk[16:48], blk[48:176]
		q8 := x.qs[b*256 : b*256+256]
		var isum int32
		var a [32]int32
		for c := range 4 {
			for nib := range 2 {
				bit := uint(2*c + nib)
				for l := range 32 {
					a[l] = int32(qs[32*c+l]>>(4*nib)&15) | int32(qh[l]>>bit&1)<<4
				}
				sc, _ := kScaleMin(2*c+nib, scales)
				isum += sc * dotU8(a, q8[64*c+32*nib:])
			}
		}
		msum := kMinSum(scales, x.bsums[b*16:b*16+16])
		sum += half(blk)*xd*float32(isum) - half(blk[2:])*xd*float32(msum)
	}
	return sum
}

// dot16 is the integer dot product of 16 signed weights with 16 quants.
func dot16(a []int32, q []int8) int32 {
	var s int32
	for l := range 16 {
		s += a[l] * int32(q[l])
	}
	return s
}

func vecDotQ6_K(w []byte, x *actRow) float32 {
	var sum float32
	for b, xd := range x.d[:len(x.qs)/256] {
		blk := w[b*210 : b*210+210]
		ql, qh, sc := blk[0:128], blk[128:192], blk[192:208]
		q8 := x.qs[b*256 : b*256+256]
		var a [256]int32
		for n := range 2 { // two 128-element halves
			l0, h0, o := ql[64*n:], qh[32*n:], a[128*n:]
			for l := range 32 {
				o[l] = int32(l0[l]&15|(h0[l]>>0&3)<<4) - 32
				o[l+32] = int32(l0[l+32]&15|(h0[l]>>2&3)<<4) - 32
				o[l+64] = int32(l0[l]>>4|(h0[l]>>4&3)<<4) - 32
				o[l+96] = int32(l0[l+32]>>4|(h0[l]>>6&3)<<4) - 32
			}
		}
		var isum int32
		for j := range 16 {
			isum += int32(int8(sc[j])) * dot16(a[16*j:], q8[16*j:])
		}
		sum += half(blk[208:]) * xd * float32(isum)
	}
	return sum
}

func vecDotQ2_K(w []byte, x *actRow) float32 {
	var sum float32
	for b, xd := range x.d[:len(x.qs)/256] {
		blk := w[b*84 : b*84+84]
		sc, qs := blk[0:16], blk[16:80]
		q8 := x.qs[b*256 : b*256+256]
		bs := x.bsums[b*16 : b*16+16]
		var msum, isum int32
		for j := range 16 {
			msum += int32(bs[j]) * int32(sc[j]>>4)
		}
		var a [16]int32
		for j := range 16 { // sub-block j: 128-chunk j/8, shift 2*((j/2)%4), bytes 16*(j%2)
			chunk, shift, off := j/8, 2*((j/2)%4), 16*(j%2)
			for l := range 16 {
				a[l] = int32(qs[32*chunk+off+l] >> shift & 3)
			}
			isum += int32(sc[j]&15) * dot16(a[:], q8[16*j:])
		}
		sum += half(blk[80:])*xd*float32(isum) - half(blk[82:])*xd*float32(msum)
	}
	return sum
}

// q3Scales unpacks the sixteen 6-bit Q3_K scales (stored biased by 32) from 12 bytes.
func q3Scales(p []byte) [16]int32 {
	var out [16]int32
	for j := range 16 {
		lo := p[j%8] >> (4 * (j / 8)) & 15
		hi := p[8+j%4] >> (2 * (j / 4)) & 3
		out[j] = int32(lo|hi<<4) - 32
	}
	return out
}

func vecDotQ3_K(w []byte, x *actRow) float32 {
	var sum float32
	for b, xd := range x.d[:len(x.qs)/256] {
		blk := w[b*110 : b*110+110]
		hm, qs := blk[0:32], blk[32:96]
		sc := q3Scales(blk[96:108])
		q8 := x.qs[b*256 : b*256+256]
		var isum int32
		var a [16]int32
		for j := range 16 { // as Q2_K, plus a high bit from hmask (clear bit: subtract 4)
			chunk, shift, off := j/8, 2*((j/2)%4), 16*(j%2)
			m := byte(1) << (j / 2)
			for l := range 16 {
				v := int32(qs[32*chunk+off+l] >> shift & 3)
				if hm[off+l]&m == 0 {
					v -= 4
				}
				a[l] = v
			}
			isum += sc[j] * dot16(a[:], q8[16*j:])
		}
		sum += half(blk[108:]) * xd * float32(isum)
	}
	return sum
}
