package ggml

// Ternary formats (BitNet b1.58 / TriLM weights in {-1, 0, 1} times a per-block F16 scale d).
//
//	TQ1_0  qs[48], qh[4], d: 5 trits per byte in qs (first 32 bytes, then 16), 4 per byte in qh  54 bytes / 256
//	TQ2_0  qs[64], d: 2 bits per value, value+1 stored                                            66 bytes / 256
//
// TQ1_0 stores a base-3 number of 5 trits scaled to a byte: multiplying the byte by 3^n (mod
// 256) brings trit n to the top, and (q*3)>>8 reads it.

var pow3 = [5]uint8{1, 3, 9, 27, 81}

// trit returns the n-th trit (0..2) of a TQ1_0 byte, as ggml's dequantize_row_tq1_0 does.
func trit(b uint8, n int) int {
	q := b * pow3[n]
	return int(uint16(q)*3>>8) - 1
}

func dequantTQ1_0(b []byte, out []float32) {
	qs, qh := b[0:48], b[48:52]
	d := halfAt(b[52:])
	out = out[:qkK]
	i := 0
	// qs in a run of 32 bytes then one of 16: each run yields 5 passes over its bytes.
	for _, run := range [][]byte{qs[:32], qs[32:48]} {
		for n := 0; n < 5; n++ {
			for _, v := range run {
				out[i] = float32(trit(v, n)) * d
				i++
			}
		}
	}
	for n := 0; n < 4; n++ {
		for _, v := range qh {
			out[i] = float32(trit(v, n)) * d
			i++
		}
	}
}

func dequantTQ2_0(b []byte, out []float32) {
	qs := b[0:64]
	d := halfAt(b[64:])
	out = out[:qkK]
	i := 0
	for j := 0; j < len(qs); j += 32 {
		for l := 0; l < 4; l++ {
			for _, v := range qs[j : j+32] {
				out[i] = float32(int(v>>(2*l)&3)-1) * d
				i++
			}
		}
	}
}
