package press_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/sparkrun/sparkrun/press"
)

// Example shows the runtime's two calls: Compress once per layer at the end of prefill, then
// Attend per decode step on the compressed records plus the dense tail.
func Example() {
	const H, Hkv, T, D = 8, 2, 256, 64 // query heads, KV heads, prompt tokens, head dim
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []float32 {
		xs := make([]float32, n)
		for i := range xs {
			xs[i] = float32(rng.NormFloat64())
		}
		return xs
	}
	p, err := press.New("snap_spark", press.Options{KeyRatio: 0.8, Budget: 128, DType: press.F16})
	if err != nil {
		panic(err)
	}
	res, err := p.Compress(&press.Input{
		KV:     press.LayerKV{NKVHeads: Hkv, T: T, HeadDim: D, K: fill(Hkv * T * D), V: fill(Hkv * T * D)},
		Window: press.Queries{NHeads: H, W: 64, HeadDim: D, Q: fill(H * 64 * D)}, // last 64 prompt queries
	})
	if err != nil {
		panic(err)
	}
	L := res.Layer
	fmt.Printf("kept %d of %d tokens per KV head, %d bytes (%.3f of the same tokens dense)\n",
		L.NTokens, T, L.Bytes(), float64(L.Bytes())/float64(L.DenseBytes()))

	tail := press.NewDenseTail(press.F32, Hkv, D, 16)
	var scratch press.Scratch
	out := make([]float32, H*D)
	for step := range 3 {
		if err := tail.Append(fill(Hkv*D), fill(Hkv*D)); err != nil { // the new token's K (post-RoPE) and V
			panic(err)
		}
		if err := L.Attend(out, fill(H*D), H, tail, &scratch); err != nil {
			panic(err)
		}
		fmt.Printf("step %d: attended %d compressed + %d tail tokens\n", step, L.NTokens, tail.Len)
	}
	// 2 KV heads × 128 tokens × (43 B record + 128 B values) + ρ (2×64×4 B) + offsets (6×8 B) = 44336.
	// Output:
	// kept 128 of 256 tokens per KV head, 44336 bytes (0.677 of the same tokens dense)
	// step 0: attended 128 compressed + 1 tail tokens
	// step 1: attended 128 compressed + 2 tail tokens
	// step 2: attended 128 compressed + 3 tail tokens
}
