//go:build cgo

package vulkan

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/sparkrun/sparkrun/runtime/vulkan/vk"
)

// pushBytes is the push-constant range of every kernel: the largest push block (rope's eight
// words). Recorder always pushes the whole range so no kernel reads an unset constant.
const pushBytes = 32

// maxBindings is the most storage buffers one kernel binds.
const maxBindings = 4

// setsPerPool is how many descriptor sets one pool holds before another pool is created.
const setsPerPool = 256

// pipeline is one kernel's compiled compute pipeline.
type pipeline struct {
	spv      string // embedded module used, e.g. "matvec_q4_0_sg"
	bindings int
	module   vk.ShaderModule
	pipe     vk.Pipeline
	layout   setLayouts
}

// setLayouts are the descriptor-set and pipeline layouts shared by kernels with the same binding
// count.
type setLayouts struct {
	set  vk.DescriptorSetLayout
	pipe vk.PipelineLayout
}

// setKey identifies a descriptor set by what it binds, so that the sets of a forward pass are
// allocated on the first step and reused on every later one.
type setKey struct {
	n int
	r [maxBindings]vk.BufferRange
}

// uses reports whether the set binds b.
func (k setKey) uses(b vk.Buffer) bool {
	for _, r := range k.r[:k.n] {
		if r.Buffer == b {
			return true
		}
	}
	return false
}

// variants lists the embedded modules that may implement kernel name, best first, given the
// context's subgroup, 16-bit storage and 8-bit storage choices (no kernel has both an s16 and an
// i8 build: f16 and int8 weights are different kernels).
func (c *Context) variants(name string) []string {
	var storage []string // storage-feature suffixes in use
	if c.s16 {
		storage = append(storage, "_s16")
	}
	if c.i8 {
		storage = append(storage, "_i8")
	}
	var out []string
	if c.subgroups {
		for _, st := range storage {
			out = append(out, name+"_sg"+st)
		}
		out = append(out, name+"_sg")
	}
	for _, st := range storage {
		out = append(out, name+st)
	}
	return append(out, name)
}

// pipeline returns kernel name's pipeline, building it on first use.
func (c *Context) pipeline(name string, bindings int) (*pipeline, error) {
	if p, ok := c.pipes[name]; ok {
		return p, nil
	}
	spv, code, err := c.module(name)
	if err != nil {
		return nil, err
	}
	l, err := c.setLayouts(bindings)
	if err != nil {
		return nil, err
	}
	p := &pipeline{spv: spv, bindings: bindings, layout: l}
	if p.module, err = c.dev.CreateShaderModule(code); err != nil {
		return nil, fmt.Errorf("vulkan: kernel %s: %w", spv, err)
	}
	if p.pipe, err = c.dev.CreateComputePipeline(p.module, l.pipe, []uint32{wgSize}); err != nil {
		c.dev.DestroyShaderModule(p.module)
		return nil, fmt.Errorf("vulkan: kernel %s: %w", spv, err)
	}
	c.pipes[name] = p
	return p, nil
}

// setLayouts returns the layouts for kernels with n storage bindings, creating them once.
func (c *Context) setLayouts(n int) (setLayouts, error) {
	if l, ok := c.layouts[n]; ok {
		return l, nil
	}
	var l setLayouts
	var err error
	if l.set, err = c.dev.CreateStorageSetLayout(n); err != nil {
		return l, err
	}
	if l.pipe, err = c.dev.CreatePipelineLayout(l.set, pushBytes); err != nil {
		c.dev.DestroyDescriptorSetLayout(l.set)
		return l, err
	}
	c.layouts[n] = l
	return l, nil
}

// descriptorSet returns a set binding ranges for p, allocating and writing it on first use.
func (c *Context) descriptorSet(p *pipeline, ranges []vk.BufferRange) (vk.DescriptorSet, error) {
	k := setKey{n: len(ranges)}
	copy(k.r[:], ranges)
	if s, ok := c.sets[k]; ok {
		return s, nil
	}
	if len(c.pools) == 0 || c.poolUse == setsPerPool {
		pool, err := c.dev.CreateDescriptorPool(setsPerPool, setsPerPool*maxBindings)
		if err != nil {
			return vk.DescriptorSet{}, err
		}
		c.pools, c.poolUse = append(c.pools, pool), 0
	}
	s, err := c.dev.AllocateDescriptorSet(c.pools[len(c.pools)-1], p.layout.set)
	if err != nil {
		return s, err
	}
	c.poolUse++
	c.dev.WriteStorageSet(s, ranges)
	c.sets[k] = s
	return s, nil
}

// push packs kernel push constants (uint32, int or float32 values) into the full push range.
func push(vals ...any) []byte {
	b := make([]byte, pushBytes)
	for i, v := range vals {
		var w uint32
		switch x := v.(type) {
		case uint32:
			w = x
		case int:
			w = uint32(x)
		case float32:
			w = math.Float32bits(x)
		default:
			panic(fmt.Sprintf("vulkan: push constant of type %T", v)) // programming error, not input
		}
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return b
}
