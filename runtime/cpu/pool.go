// Package cpu is sparkrun's CPU backend: a goroutine worker pool, quantized matrix products
// computed on the fly from the blocks stored in GGUF files (activations are quantized to 8-bit
// blocks exactly like ggml so the integer dot products and the logits track llama.cpp), and the
// element-wise transformer ops. Every kernel has a pure-Go version, which is the fallback on
// every platform and the oracle the amd64 assembly kernels are tested against.
package cpu

import (
	"bufio"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// Pool is a fixed set of worker goroutines that run the parallel parts of the kernels. The
// calling goroutine always takes part, so a pool of N threads starts N-1 goroutines.
//
// A Pool is meant to be driven by one goroutine at a time (one forward pass); concurrent calls
// are serialized. Parallel and MatMul must not be called from inside a Parallel callback.
type Pool struct {
	threads int
	tasks   []chan task // one channel per helper goroutine: [threads-1]
	done    sync.WaitGroup
	mu      sync.Mutex // serializes Parallel and MatMul, which share done and the scratch below
	closed  bool

	mm      matmulJob // the MatMul in flight; read by the workers through mmRun
	mmRun   func(lo, hi int)
	mmQuant func(lo, hi int)
	scratch scratch
}

// task is one contiguous range handed to a helper goroutine.
type task struct {
	fn     func(lo, hi int)
	lo, hi int
}

// NewPool starts a pool of threads workers (including the caller). threads <= 0 means the
// number of physical cores, which is what memory-bound decoding wants: hyper-threads share the
// core's load ports and only add contention.
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = physicalCores()
	}
	p := &Pool{threads: threads, tasks: make([]chan task, threads-1)}
	for i := range p.tasks {
		ch := make(chan task)
		p.tasks[i] = ch
		go p.worker(ch)
	}
	p.mmRun = p.matmulRows
	p.mmQuant = p.quantizeTokens
	return p
}

func (p *Pool) worker(ch chan task) {
	for t := range ch {
		t.fn(t.lo, t.hi)
		p.done.Done()
	}
}

// Threads returns the number of threads that share the work of each call, the caller included.
func (p *Pool) Threads() int { return p.threads }

// Close stops the helper goroutines. The pool must not be used afterwards.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for _, ch := range p.tasks {
		close(ch)
	}
}

// Parallel splits [0,n) into at most Threads() contiguous, disjoint ranges of near-equal size,
// calls fn once for each range concurrently (one range runs on the calling goroutine) and
// returns when all calls have returned.
func (p *Pool) Parallel(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.parallel(n, fn)
}

// parallel is Parallel without the lock, for callers that already hold it.
func (p *Pool) parallel(n int, fn func(lo, hi int)) {
	parts := p.threads
	if parts > n {
		parts = n
	}
	if parts <= 1 {
		fn(0, n)
		return
	}
	p.done.Add(parts - 1)
	for i := 1; i < parts; i++ {
		p.tasks[i-1] <- task{fn: fn, lo: i * n / parts, hi: (i + 1) * n / parts}
	}
	fn(0, n/parts)
	p.done.Wait()
}

// chunker hands out [0,n) in chunks of a fixed size to whichever worker asks first, so a
// thread slowed down by another process on a shared machine does not hold up the others.
type chunker struct {
	next  atomic.Int64
	n     int
	chunk int
}

func (c *chunker) reset(n, chunk int) {
	c.next.Store(0)
	c.n, c.chunk = n, chunk
}

// take returns the next chunk, or ok=false when all of [0,n) has been handed out.
func (c *chunker) take() (lo, hi int, ok bool) {
	lo = int(c.next.Add(int64(c.chunk))) - c.chunk
	if lo >= c.n {
		return 0, 0, false
	}
	return lo, min(lo+c.chunk, c.n), true
}

// physicalCores counts distinct (physical id, core id) pairs in /proc/cpuinfo, bounded by the
// CPUs this process may use; without that file it falls back to runtime.NumCPU.
func physicalCores() int {
	n := runtime.NumCPU()
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return n
	}
	defer f.Close()
	cores := map[string]bool{}
	var phys string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "physical id":
			phys = strings.TrimSpace(val)
		case "core id":
			cores[phys+"/"+strings.TrimSpace(val)] = true
		}
	}
	if c := len(cores); c > 0 && c < n {
		return c
	}
	return n
}
