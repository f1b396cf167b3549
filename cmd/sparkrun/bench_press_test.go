package main

import (
	"testing"
)

// TestBenchPress: with --press and -d, tg decodes after a compressed prompt of d tokens and the
// result carries the compressed KV bytes of the whole context, which for the tiny shape (2
// layers, 2 KV heads, head_dim 16, f16) follow spec 3.6: per kept token and KV head a 2-byte
// mask, 16-int(0.8·16) = 4 kept values, 2 sign bytes, α and 16 dense values; per layer and head
// 64 bytes of ρ; per layer 8 bytes per stream offset; positions after the prompt dense.
func TestBenchPress(t *testing.T) {
	withTinyShape(t)
	res := benchJSON(t, "--synthetic", "tiny:f32", "--press", "spark", "--key-ratio", "0.8", "-p", "64", "-n", "8", "-d", "64", "-r", "1")
	if len(res) != 2 || res[0].Test != "pp64" || res[1].Test != "tg8@d64" {
		t.Fatalf("tests %+v, want pp64 and tg8@d64", res)
	}
	const nLayer, nKV, D, size, P = 2, 2, 16, 2, 64
	perTok := int64(nLayer * 2 * nKV * D * size)
	ctx := int64(P + 8)
	kept := 2 + 4*size + 2 + size + D*size
	want := int64(nLayer*(nKV*(P*kept+4*D)+8*2*(nKV+1))) + (ctx-P)*perTok
	for _, r := range res {
		if r.KVBytes != perTok*ctx || r.KVCompressedBytes != want {
			t.Errorf("%s: KV %d dense, %d compressed; want %d and %d", r.Test, r.KVBytes, r.KVCompressedBytes, perTok*ctx, want)
		}
	}
	dense := benchJSON(t, "--synthetic", "tiny:f32", "-p", "64", "-n", "8", "-r", "1")
	if dense[0].KVCompressedBytes != 0 || dense[1].Test != "tg8" {
		t.Errorf("without a press: %+v, want no compressed bytes and test tg8", dense)
	}
}
