package ggml

import "fmt"

// codec holds the whole-buffer conversions of one type. Both functions may assume that the
// sizes were checked: len(src) (or len(dst) for quant) is exactly RowBytes of the float count.
type codec struct {
	dequant func(src []byte, dst []float32)
	quant   func(src []float32, dst []byte) // nil: no quantizer
}

// codecs is indexed by Type; a nil dequant means the type is not supported.
var codecs = [...]codec{
	TypeF32:    {dequantF32, quantF32},
	TypeF16:    {dequantF16, quantF16},
	TypeBF16:   {dequantBF16, quantBF16},
	TypeQ4_0:   {perBlock(TypeQ4_0, dequantQ4_0), perBlockQ(TypeQ4_0, quantQ4_0)},
	TypeQ4_1:   {perBlock(TypeQ4_1, dequantQ4_1), perBlockQ(TypeQ4_1, quantQ4_1)},
	TypeQ5_0:   {perBlock(TypeQ5_0, dequantQ5_0), perBlockQ(TypeQ5_0, quantQ5_0)},
	TypeQ5_1:   {perBlock(TypeQ5_1, dequantQ5_1), perBlockQ(TypeQ5_1, quantQ5_1)},
	TypeQ8_0:   {perBlock(TypeQ8_0, dequantQ8_0), perBlockQ(TypeQ8_0, quantQ8_0)},
	TypeQ8_1:   {perBlock(TypeQ8_1, dequantQ8_1), perBlockQ(TypeQ8_1, quantQ8_1)},
	TypeQ2_K:   {perBlock(TypeQ2_K, dequantQ2_K), perBlockQ(TypeQ2_K, quantQ2_K)},
	TypeQ3_K:   {perBlock(TypeQ3_K, dequantQ3_K), perBlockQ(TypeQ3_K, quantQ3_K)},
	TypeQ4_K:   {perBlock(TypeQ4_K, dequantQ4_K), perBlockQ(TypeQ4_K, quantQ4_K)},
	TypeQ5_K:   {perBlock(TypeQ5_K, dequantQ5_K), perBlockQ(TypeQ5_K, quantQ5_K)},
	TypeQ6_K:   {perBlock(TypeQ6_K, dequantQ6_K), perBlockQ(TypeQ6_K, quantQ6_K)},
	TypeQ8_K:   {perBlock(TypeQ8_K, dequantQ8_K), perBlockQ(TypeQ8_K, quantQ8_K)},
	TypeIQ4_NL: {perBlock(TypeIQ4_NL, dequantIQ4_NL), nil},
	TypeIQ4_XS: {perBlock(TypeIQ4_XS, dequantIQ4_XS), nil},
	TypeTQ1_0:  {perBlock(TypeTQ1_0, dequantTQ1_0), nil},
	TypeTQ2_0:  {perBlock(TypeTQ2_0, dequantTQ2_0), nil},
	TypeMXFP4:  {perBlock(TypeMXFP4, dequantMXFP4), nil},
}

// perBlock turns a one-block dequantizer (blk: TypeSize bytes, out: BlockSize floats) into a
// whole-buffer one.
func perBlock(t Type, fn func(blk []byte, out []float32)) func([]byte, []float32) {
	bs, ts := t.BlockSize(), t.TypeSize()
	return func(src []byte, dst []float32) {
		for i := 0; i < len(dst)/bs; i++ {
			fn(src[i*ts:(i+1)*ts], dst[i*bs:(i+1)*bs])
		}
	}
}

// perBlockQ is perBlock for quantizers.
func perBlockQ(t Type, fn func(in []float32, blk []byte)) func([]float32, []byte) {
	bs, ts := t.BlockSize(), t.TypeSize()
	return func(src []float32, dst []byte) {
		for i := 0; i < len(src)/bs; i++ {
			fn(src[i*bs:(i+1)*bs], dst[i*ts:(i+1)*ts])
		}
	}
}

func codecOf(t Type) codec {
	if int(t) < len(codecs) {
		return codecs[t]
	}
	return codec{}
}

// Supported reports whether Dequantize can convert type t.
func Supported(t Type) bool { return codecOf(t).dequant != nil }

// CanQuantize reports whether Quantize can produce type t.
func CanQuantize(t Type) bool { return codecOf(t).quant != nil }

// checkSize verifies that a buffer of nbytes bytes holds exactly n elements of type t.
func checkSize(op string, t Type, n int, nbytes int) error {
	want, err := RowBytes(t, int64(n))
	if err != nil {
		return fmt.Errorf("ggml: %s %s: %w", op, t, err)
	}
	if want != int64(nbytes) {
		return fmt.Errorf("ggml: %s %s: %d elements need %d bytes, buffer has %d", op, t, n, want, nbytes)
	}
	return nil
}

// Dequantize converts src, which must hold exactly RowBytes(t, len(dst)) bytes of type t, to
// float32 values in dst. Supported: every type Quantize supports, plus IQ4_NL, IQ4_XS, TQ1_0,
// TQ2_0 and MXFP4 (not the grid-based IQ1/IQ2/IQ3 types, nor I8..I64/F64). The result is
// bit-identical to ggml's dequantize_row_* reference code.
func Dequantize(t Type, src []byte, dst []float32) error {
	c := codecOf(t)
	if c.dequant == nil {
		return fmt.Errorf("ggml: dequantizing %s is not supported", t)
	}
	if err := checkSize("dequantize", t, len(dst), len(src)); err != nil {
		return err
	}
	c.dequant(src, dst)
	return nil
}

// Quantize converts src to type t in dst, which must hold exactly RowBytes(t, len(src)) bytes.
// Supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K ... Q6_K and Q8_K (Q8_0,
// Q8_1 and Q8_K are the activation formats of ggml's CPU dot products). The encoding is
// bit-identical to ggml's quantize_row_*_ref reference code, which is what llama-quantize
// writes when no importance matrix is given.
func Quantize(t Type, src []float32, dst []byte) error {
	c := codecOf(t)
	if c.quant == nil {
		return fmt.Errorf("ggml: quantizing to %s is not supported", t)
	}
	if err := checkSize("quantize", t, len(src), len(dst)); err != nil {
		return err
	}
	c.quant(src, dst)
	return nil
}
