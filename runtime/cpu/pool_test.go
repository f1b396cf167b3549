package cpu

import (
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

func TestParallelCoversRange(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 8} {
		p := NewPool(threads)
		for _, n := range []int{0, 1, 2, 5, 7, 100, 1001} {
			t.Run(fmt.Sprintf("threads%d/n%d", threads, n), func(t *testing.T) {
				hits := make([]atomic.Int32, n)
				var calls atomic.Int32
				p.Parallel(n, func(lo, hi int) {
					calls.Add(1)
					for i := lo; i < hi; i++ {
						hits[i].Add(1)
					}
				})
				for i := range hits {
					if h := hits[i].Load(); h != 1 {
						t.Fatalf("index %d visited %d times", i, h)
					}
				}
				if c := int(calls.Load()); c > threads || (n > 0 && c == 0) {
					t.Fatalf("%d calls for %d threads", c, threads)
				}
			})
		}
		p.Close()
	}
}

func TestNewPoolDefault(t *testing.T) {
	p := NewPool(0)
	defer p.Close()
	if p.Threads() < 1 {
		t.Fatalf("NewPool(0).Threads() = %d", p.Threads())
	}
}

// TestMatMulConcurrentCallers checks that MatMul calls from several goroutines on one pool are
// serialized correctly (they share the scratch): each gets the result of a lone call. Run with
// -race.
func TestMatMulConcurrentCallers(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	rng := rand.New(rand.NewSource(5))
	w := randMatrix(rng, ggml.TypeQ8_0, 33, 256)
	const callers = 4
	xs := make([][]float32, callers)
	want := make([][]float32, callers)
	for i := range xs {
		xs[i] = randVec(rng, 3*256)
		want[i] = make([]float32, 3*33)
		p.MatMul(want[i], w, xs[i], 3)
	}
	var wg sync.WaitGroup
	errs := make(chan string, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			y := make([]float32, 3*33)
			for range 20 {
				p.MatMul(y, w, xs[i], 3)
				for j := range y {
					if y[j] != want[i][j] {
						errs <- fmt.Sprintf("caller %d: y[%d] = %g, alone %g", i, j, y[j], want[i][j])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
