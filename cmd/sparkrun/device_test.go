package main

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// TestDeviceChoice resolves --device against made-up machines: auto takes a GPU, passes over
// lavapipe (a CPU device) and machines without Vulkan saying why on stderr, and keeps press caches
// that the device does not implement on the CPU; explicit choices are obeyed; malformed ones are usage errors.
func TestDeviceChoice(t *testing.T) {
	pressesOnDevice := slices.Contains(vulkan.DevicePressNames(), "spark")
	lavapipe := vulkan.DeviceInfo{Name: "llvmpipe", Type: "CPU"}
	gpu := vulkan.DeviceInfo{Name: "Radeon", Type: "discrete GPU"}
	noVulkan := errors.New("vulkan: no Vulkan device found")
	cases := []struct {
		spec    string
		press   string // a press name, "" for none
		devs    []vulkan.DeviceInfo
		devErr  error
		vk      bool
		usage   bool
		message string // expected on stderr ("" : nothing)
	}{
		{spec: "cpu", devs: []vulkan.DeviceInfo{gpu}},
		{spec: "vulkan", vk: true},
		{spec: "vulkan:1", vk: true},
		{spec: "auto", devs: []vulkan.DeviceInfo{lavapipe, gpu}, vk: true},
		{spec: "auto", devs: []vulkan.DeviceInfo{lavapipe}, message: "no Vulkan GPU, only llvmpipe (CPU); running on the CPU"},
		{spec: "auto", message: "no Vulkan device; running on the CPU"},
		{spec: "auto", devErr: noVulkan, message: "running on the CPU (vulkan: no Vulkan device found)"},
		// Presses compress on the device (in a build with cgo; without, every press stays on the
		// CPU), those scoring with prefill statistics too.
		{spec: "auto", press: "spark", devs: []vulkan.DeviceInfo{gpu}, vk: pressesOnDevice, message: map[bool]string{false: "KV press spark runs on the CPU only"}[pressesOnDevice]},
		{spec: "auto", press: "expected_attention", devs: []vulkan.DeviceInfo{gpu}, vk: pressesOnDevice, message: map[bool]string{false: "KV press expected_attention runs on the CPU only"}[pressesOnDevice]},
		{spec: "auto", press: "observed_attention", devs: []vulkan.DeviceInfo{gpu}, vk: pressesOnDevice, message: map[bool]string{false: "KV press observed_attention runs on the CPU only"}[pressesOnDevice]},
		{spec: "gpu", usage: true},
		{spec: "vulkan:x", usage: true},
		{spec: "vulkan:-1", usage: true},
	}
	for _, c := range cases {
		var stderr bytes.Buffer
		d := &deviceFlag{spec: c.spec, stderr: &stderr}
		var opts runtime.Options
		if c.press != "" {
			opts.Press = &runtime.PressConfig{Name: c.press}
		}
		vk, err := d.useVulkan(opts, func() ([]vulkan.DeviceInfo, error) { return slices.Clone(c.devs), c.devErr })
		var ue usageError
		if c.usage != errors.As(err, &ue) || (!c.usage && err != nil) {
			t.Errorf("--device %s: error %v, want usage error %v", c.spec, err, c.usage)
			continue
		}
		if vk != c.vk {
			t.Errorf("--device %s (press %q, devices %v): vulkan %v, want %v", c.spec, c.press, c.devs, vk, c.vk)
		}
		if got := stderr.String(); (c.message == "") != (got == "") || !strings.Contains(got, c.message) {
			t.Errorf("--device %s (devices %v): stderr %q, want it to say %q", c.spec, c.devs, got, c.message)
		}
	}
}

// TestDeviceNilFlag: a command without --device loads on the CPU runtime, saying nothing.
func TestDeviceNilFlag(t *testing.T) {
	f, _, err := openModel("", false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d *deviceFlag
	e, cpu, closeFn, err := d.load(f, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if cpu == nil || e != runtime.Engine(cpu) {
		t.Fatalf("nil --device flag: engine %T, CPU model %v; want the CPU model", e, cpu)
	}
}
