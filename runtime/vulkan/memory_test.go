//go:build cgo

package vulkan

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// TestCheckFit checks the fit check against a heap limit lowered through MaxDeviceBytes: a plan
// of exactly the limit passes, one 16-byte unit more fails naming both numbers, and a single
// buffer over the allocation limit fails naming it.
func TestCheckFit(t *testing.T) {
	const limit = 1 << 20
	c := openTest(t, func(o *Options) { o.MaxDeviceBytes = limit })
	l := c.Limits()
	if l.Heap != limit || l.MaxAlloc == 0 || l.MaxAlloc > 1<<30 {
		t.Fatalf("Limits() = %+v, want heap %d and an allocation limit within the guaranteed 1 GiB", l, limit)
	}
	// 1000 bytes round up to 1008 (whole 16-byte units, as NewBuffer allocates).
	fits := []Alloc{{"a", 1000, 2}, {"b", limit - 2016, 1}, {"unused", 1 << 40, 0}}
	if got := PlanBytes(fits); got != limit {
		t.Fatalf("PlanBytes = %d, want %d", got, limit)
	}
	if err := c.CheckFit(fits); err != nil {
		t.Errorf("plan of exactly the heap: %v", err)
	}
	over := append(fits, Alloc{"c", 1, 1})
	err := c.CheckFit(over)
	if !errors.Is(err, ErrNoFit) || !strings.Contains(err.Error(), fmt.Sprint(limit+16)) || !strings.Contains(err.Error(), fmt.Sprint(limit)) {
		t.Errorf("plan of 16 bytes over the heap: error %v, want needed %d and available %d bytes", err, limit+16, limit)
	}
	err = c.CheckFit([]Alloc{{"huge buffer", l.MaxAlloc + 1, 1}})
	if !errors.Is(err, ErrNoFit) || !strings.Contains(err.Error(), "huge buffer") || !strings.Contains(err.Error(), "single-allocation") {
		t.Errorf("buffer over the allocation limit: error %v", err)
	}
}

// TestMatrixAllocs checks that the planned allocations of a matrix are the chunks UploadMatrix
// makes, with and without splitting.
func TestMatrixAllocs(t *testing.T) {
	for _, bind := range []uint64{0, 8192} {
		c := openTest(t, func(o *Options) { o.MaxBindingBytes = bind })
		for _, tt := range []ggml.Type{ggml.TypeQ4_K, ggml.TypeQ8_0, ggml.TypeBF16} {
			const rows, cols = 301, 256
			rb, _ := ggml.RowBytes(tt, cols)
			m := upload(t, c, "w", tt, rows, cols, make([]byte, rows*int(rb)))
			plan, err := c.MatrixAllocs("w", tt, rows, cols)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			var bytes uint64
			for _, a := range plan {
				n += a.Count
				bytes += a.Bytes * uint64(a.Count)
			}
			if n != m.Chunks() || bytes != m.Bytes() || bytes != uint64(rows)*uint64(rb) {
				t.Errorf("binding limit %d, %v: plan %+v (%d buffers, %d bytes), upload %d chunks of %d bytes in all",
					bind, tt, plan, n, bytes, m.Chunks(), m.Bytes())
			}
		}
	}
	c := openTest(t, func(*Options) {})
	if _, err := c.MatrixAllocs("blk.3.ffn_up.weight", ggml.TypeQ4_K, 4, 100); err == nil || !strings.Contains(err.Error(), "blk.3.ffn_up.weight") {
		t.Errorf("Q4_K with 100 columns: %v", err)
	}
}
