//go:build cgo

package vulkan

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/runtime/vulkan/vk"
)

// TestDevices lists the devices as `sparkrun devices` will.
func TestDevices(t *testing.T) {
	c := openTest(t, func(*Options) {}) // fails clearly when no device exists
	devs, err := Devices()
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) == 0 {
		t.Fatal("Devices returned no device although Open found one")
	}
	for i, d := range devs {
		t.Log(d)
		sg := d.SubgroupSize
		if d.Index != i || d.Name == "" || d.Type == "" || len(d.Heaps) == 0 || sg == 0 || sg&(sg-1) != 0 || d.MaxStorageRange == 0 {
			t.Errorf("implausible device %d: %+v", i, d)
		}
		if !strings.Contains(d.String(), d.Name) {
			t.Errorf("String() = %q lacks the name", d.String())
		}
	}
	if c.Info.Name == "" {
		t.Error("context has no device name")
	}
}

// TestVisibleDevices restricts the devices as SPARKRUN_VK_VISIBLE_DEVICES does.
func TestVisibleDevices(t *testing.T) {
	c := openTest(t, func(o *Options) { o.Visible = []int{0}; o.Device = "vulkan:0" })
	if c.Info.LoaderIndex != 0 {
		t.Errorf("visible [0] opened loader device %d", c.Info.LoaderIndex)
	}
	if _, err := Open(Options{Visible: []int{}}); !errors.Is(err, ErrNoDevice) {
		t.Errorf("no visible device: %v, want ErrNoDevice", err)
	}
	if _, err := Open(Options{Visible: []int{99}}); err == nil || !strings.Contains(err.Error(), "99") {
		t.Errorf("visible device 99: %v, want an error naming 99", err)
	}
	if _, err := Open(Options{Device: "vulkan:99"}); err == nil || !strings.Contains(err.Error(), "vulkan:99") {
		t.Errorf("vulkan:99: %v, want an error naming it", err)
	}
}

// TestValidationCatchesMisuse proves that validation messages reach the collector, so the other
// tests would fail on them: a zero-sized buffer is invalid usage (VUID-VkBufferCreateInfo-size-00912).
func TestValidationCatchesMisuse(t *testing.T) {
	c := openTest(t, func(*Options) {})
	b, err := c.dev.CreateBuffer(0, vk.BufferStorage)
	if err == nil {
		c.dev.DestroyBuffer(b)
	}
	msgs := c.ValidationMessages()
	if len(msgs) == 0 || !strings.Contains(strings.Join(msgs, "\n"), "VUID-VkBufferCreateInfo-size-00912") {
		t.Fatalf("validation messages %q, want VUID-VkBufferCreateInfo-size-00912", msgs)
	}
	c.valMu.Lock()
	c.valMsg = nil // expected; must not fail Close
	c.valMu.Unlock()
}

// TestVariantSelection checks that kill switches (options or SPARKRUN_VK_NO_* variables) select
// the fallback shaders.
func TestVariantSelection(t *testing.T) {
	for _, cf := range configs {
		t.Run(cf.name, func(t *testing.T) {
			c := openTest(t, cf.mod)
			p, err := c.pipeline("matvec_f16", 3)
			if err != nil {
				t.Fatal(err)
			}
			o := c.opts // the environment's kill switches with the config applied
			wantSG := c.Info.SubgroupArithmetic && !o.NoSubgroup
			wantS16 := c.Info.Storage16Bit && !o.NoF16
			if strings.Contains(p.spv, "_sg") != wantSG || strings.Contains(p.spv, "_s16") != wantS16 {
				t.Errorf("module %s; want subgroup=%v, 16-bit storage=%v", p.spv, wantSG, wantS16)
			}
		})
	}
}

// TestOneSubmitManyDispatches records a chain of dependent ops (each reads the previous result)
// and checks that they cost one queue submission and compute the right value.
func TestOneSubmitManyDispatches(t *testing.T) {
	c := openTest(t, func(*Options) {})
	const n, steps = 1000, 40
	one := make([]float32, n)
	for i := range one {
		one[i] = 1
	}
	ab, ob := f32Buffer(t, c, one), f32Buffer(t, c, make([]float32, n))
	r, err := c.NewRecorder()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	before := c.Submits()
	if err := r.Begin(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < steps; i++ {
		if err := r.Add(ob.All(), ab.All(), ob.All(), n); err != nil {
			t.Fatal(err)
		}
	}
	if r.Dispatches() != steps {
		t.Errorf("%d dispatches recorded, want %d", r.Dispatches(), steps)
	}
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	if got := c.Submits() - before; got != 1 {
		t.Errorf("%d submissions for one recorded step, want 1", got)
	}
	for i, v := range readF32(t, ob, n) {
		if v != steps {
			t.Fatalf("element %d = %g after %d dependent adds, want %d (missing barrier?)", i, v, steps, steps)
		}
	}
}

// TestDebugKernels checks the per-dispatch GPU timing listing of SPARKRUN_DEBUG=kernels.
func TestDebugKernels(t *testing.T) {
	var out bytes.Buffer
	c := openTest(t, func(o *Options) { o.DebugKernels, o.DebugOut = true, &out })
	x := f32Buffer(t, c, randF32(rand.New(rand.NewPCG(1, 1)), 300))
	run(t, c, func(r *Recorder) error {
		if err := r.Softmax(x.All(), 3, 100); err != nil {
			return err
		}
		return r.Add(x.All(), x.All(), x.All(), 300)
	})
	text := out.String()
	if !strings.Contains(text, "softmax") || !strings.Contains(text, "add") || !strings.Contains(text, "2 dispatches") {
		t.Errorf("kernel listing lacks the dispatches:\n%s", text)
	}
}

// TestBadInput checks that invalid shapes and operands are errors naming what is wrong.
func TestBadInput(t *testing.T) {
	c := openTest(t, func(*Options) {})
	if _, err := c.UploadMatrix("blk.0.attn_q", ggml.TypeQ4_0, 4, 40, make([]byte, 4*40)); err == nil || !strings.Contains(err.Error(), "blk.0.attn_q") {
		t.Errorf("q4_0 with 40 columns: %v", err)
	}
	if _, err := c.UploadMatrix("w", ggml.TypeF32, 4, 8, make([]byte, 100)); err == nil || !strings.Contains(err.Error(), "100 bytes") {
		t.Errorf("short data: %v", err)
	}
	if _, err := c.UploadMatrix("w", ggml.TypeTQ2_0, 4, 256, nil); err == nil || !strings.Contains(err.Error(), "no Vulkan kernel") {
		t.Errorf("unsupported type: %v", err)
	}
	m, err := c.UploadMatrix("w", ggml.TypeF32, 4, 8, make([]byte, 4*4*8))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	small, big := newBuf(t, c, 16), newBuf(t, c, 4096)
	r, err := c.NewRecorder()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Add(big.All(), big.All(), big.All(), 4); err == nil {
		t.Error("op outside Begin accepted")
	}
	if err := r.Begin(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what string
		err  error
		want string
	}{
		{"short x", r.MatVec(m, small.All(), big.All(), 1), "operand x has 16 bytes, needs 32"},
		{"misaligned", r.Add(Span{big, 2, 64}, big.All(), big.All(), 4), "alignment"},
		{"head dim", r.Attend(big.All(), big.All(), big.All(), big.All(), Attention{NHeads: 1, NKV: 1, HeadDim: 300, T: 1, TMax: 1, KV: ggml.TypeF32}), "head dim 300"},
		{"gqa", r.Attend(big.All(), big.All(), big.All(), big.All(), Attention{NHeads: 3, NKV: 2, HeadDim: 4, T: 1, TMax: 1, KV: ggml.TypeF32}), "3 query heads over 2"},
		{"queries", r.Attend(big.All(), big.All(), big.All(), big.All(), Attention{NHeads: 1, NKV: 1, HeadDim: 4, T: 2, TMax: 4, Queries: 3, KV: ggml.TypeF32}), "3 queries over 2"},
		{"kv slots", r.KVStore(big.All(), big.All(), KVStore{NKV: 1, HeadDim: 4, TMax: 4, Pos: 3, Tokens: 2, KV: ggml.TypeF16}), "slots 3..4"},
		{"kv type", r.KVStore(big.All(), big.All(), KVStore{NKV: 1, HeadDim: 4, TMax: 4, KV: ggml.TypeQ8_0}), "cache type"},
		{"rope", r.RoPE(big.All(), Span{}, RoPE{HeadDim: 4, NRot: 3, NHeads: 1, Rows: 1}), "rope"},
		{"begin twice", r.Begin(), "while recording"},
	}
	for _, ch := range checks {
		if ch.err == nil || !strings.Contains(ch.err.Error(), ch.want) {
			t.Errorf("%s: error %v, want one containing %q", ch.what, ch.err, ch.want)
		}
	}
	if err := r.Submit(); err != nil { // nothing valid was recorded; an empty submission is fine
		t.Fatal(err)
	}
}

// TestFenceWaitOutlastsTimeout: with a wait slice of 1 ns every fence wait times out at least
// once; the wait must go on until the work is done (returning early let callers free memory the
// device still used, which crashed lavapipe under load), so the results are complete.
func TestFenceWaitOutlastsTimeout(t *testing.T) {
	defer func(d uint64) { fenceTimeout = d }(fenceTimeout)
	fenceTimeout = 1
	TestOneSubmitManyDispatches(t)
}
