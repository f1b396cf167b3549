//go:build cgo && unix

package vulkan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/sparkrun/sparkrun/ggml"
)

// BenchmarkMatVec times MatVec on a 2048x2048 matrix per submission (record, submit, wait), for
// each weight type, without validation: with 1 vector (the matvec kernel, as in decode) and with
// 64 (the matmul kernel, as in prefill). Bytes per op are the weight bytes, so MB/s is the weight
// bandwidth achieved when each weight is read once; min-gpu-us is the fastest dispatch time from
// timestamp queries (recording and submission excluded). On lavapipe the "GPU" is this process's
// worker threads, so on a shared machine wall times mostly measure the other load: cpu-us/vector,
// the process's CPU time per op and vector (getrusage), is the figure to compare kernels by.
func BenchmarkMatVec(b *testing.B) {
	c := openBench(b)
	const n, maxVecs = 2048, 64
	rng := rand.New(rand.NewPCG(1, 2))
	x, err := c.NewBuffer(4 * n * maxVecs)
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	y, err := c.NewBuffer(4 * n * maxVecs)
	if err != nil {
		b.Fatal(err)
	}
	defer y.Close()
	if err := x.WriteF32(0, randF32(rng, n*maxVecs)); err != nil {
		b.Fatal(err)
	}
	r, err := c.NewRecorder()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for _, tt := range []ggml.Type{ggml.TypeF32, ggml.TypeF16, ggml.TypeQ8_0, ggml.TypeQ4_0} {
		raw, _ := randMatrix(rng, tt, n, n)
		m, err := c.UploadMatrix("w", tt, n, n, raw)
		if err != nil {
			b.Fatal(err)
		}
		for _, vecs := range []int{1, maxVecs} {
			b.Run(fmt.Sprintf("%v/vectors=%d", tt, vecs), func(b *testing.B) {
				b.SetBytes(int64(len(raw)))
				gpu, cpu := timeOps(b, r, func(r *Recorder) error { return r.MatVec(m, x.All(), y.All(), vecs) })
				b.ReportMetric(gpu, "min-gpu-us")
				b.ReportMetric(cpu/float64(vecs), "cpu-us/vector")
			})
		}
		m.Close()
	}
}

// timeOps runs op as one submission per iteration, after one untimed (lavapipe compiles the
// pipelines at their first dispatch), and returns the fastest iteration's GPU time (the sum of its
// kernels' timestamps, needing Options.DebugKernels) and the process CPU time per iteration, in
// microseconds.
func timeOps(b *testing.B, r *Recorder, op func(r *Recorder) error) (gpuMin, cpuPer float64) {
	step := func() {
		if err := r.Begin(); err != nil {
			b.Fatal(err)
		}
		if err := op(r); err != nil {
			b.Fatal(err)
		}
		if err := r.Submit(); err != nil {
			b.Fatal(err)
		}
	}
	step()
	gpuMin = math.Inf(1)
	cpu0 := cpuTime()
	for b.Loop() {
		step()
		t := 0.0
		for _, kt := range r.Times() {
			t += kt.Micros
		}
		gpuMin = min(gpuMin, t)
	}
	return gpuMin, float64((cpuTime() - cpu0).Microseconds()) / float64(b.N)
}

// cpuTime is the CPU time this process has used, lavapipe's worker threads included.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
