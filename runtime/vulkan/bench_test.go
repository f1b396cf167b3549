//go:build cgo

package vulkan

import (
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// BenchmarkMatVec times one 2048x2048 matrix-vector product per submission (record, submit,
// wait), for each weight type, without validation. Bytes per op are the weight bytes, so MB/s is
// the weight bandwidth achieved; gpu-us/op is the dispatch's own time from timestamp queries,
// which excludes recording and submission overhead.
func BenchmarkMatVec(b *testing.B) {
	o, err := OptionsFromEnv("auto")
	if err != nil {
		b.Fatal(err)
	}
	o.Validate = false
	o.DebugKernels, o.DebugOut = true, io.Discard
	c, err := Open(o)
	if errors.Is(err, ErrNoDevice) && os.Getenv("SPARKRUN_VK_OPTIONAL") == "1" {
		b.Skip(err)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const n = 2048
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tt := range []ggml.Type{ggml.TypeF32, ggml.TypeF16, ggml.TypeQ8_0, ggml.TypeQ4_0} {
		b.Run(tt.String(), func(b *testing.B) {
			raw, _ := randMatrix(rng, tt, n, n)
			m, err := c.UploadMatrix("w", tt, n, n, raw)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			x, err := c.NewBuffer(4 * n)
			if err != nil {
				b.Fatal(err)
			}
			defer x.Close()
			y, err := c.NewBuffer(4 * n)
			if err != nil {
				b.Fatal(err)
			}
			defer y.Close()
			if err := x.WriteF32(0, randF32(rng, n)); err != nil {
				b.Fatal(err)
			}
			r, err := c.NewRecorder()
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			b.SetBytes(int64(len(raw)))
			gpu := 0.0
			for b.Loop() {
				if err := r.Begin(); err != nil {
					b.Fatal(err)
				}
				if err := r.MatVec(m, x.All(), y.All(), 1); err != nil {
					b.Fatal(err)
				}
				if err := r.Submit(); err != nil {
					b.Fatal(err)
				}
				for _, kt := range r.Times() {
					gpu += kt.Micros
				}
			}
			b.ReportMetric(gpu/float64(b.N), "gpu-us/op")
		})
	}
}
