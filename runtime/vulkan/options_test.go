package vulkan

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestParseDevice covers the --device forms the backend accepts.
func TestParseDevice(t *testing.T) {
	cases := []struct {
		spec string
		want int
		ok   bool
	}{
		{"auto", -1, true}, {"vulkan", -1, true}, {"", -1, true}, {"vulkan:0", 0, true}, {"vulkan:12", 12, true},
		{"vulkan:", 0, false}, {"vulkan:-1", 0, false}, {"vulkan:x", 0, false}, {"cuda", 0, false}, {"cpu", 0, false},
	}
	for _, c := range cases {
		got, err := parseDevice(c.spec)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("parseDevice(%q) = %d, %v; want %d, ok=%v", c.spec, got, err, c.want, c.ok)
		}
	}
}

// TestParseVisible covers SPARKRUN_VK_VISIBLE_DEVICES values.
func TestParseVisible(t *testing.T) {
	cases := []struct {
		v    string
		want string
		ok   bool
	}{
		{"0", "[0]", true}, {"2, 0,1", "[2 0 1]", true}, {"", "[]", true},
		{"0,0", "", false}, {"a", "", false}, {"-1", "", false},
	}
	for _, c := range cases {
		got, err := parseVisible(c.v)
		if (err == nil) != c.ok || (c.ok && fmt.Sprint(got) != c.want) {
			t.Errorf("parseVisible(%q) = %v, %v; want %s, ok=%v", c.v, got, err, c.want, c.ok)
		}
	}
}

// TestPick checks automatic selection order and index errors.
func TestPick(t *testing.T) {
	devs := []DeviceInfo{{Type: "CPU"}, {Type: "integrated GPU"}, {Type: "discrete GPU"}, {Type: "discrete GPU"}}
	cases := []struct {
		devs []DeviceInfo
		spec string
		want int
		ok   bool
	}{
		{devs, "auto", 2, true}, {devs, "vulkan", 2, true}, {devs[:2], "auto", 1, true},
		{devs[:1], "auto", 0, true}, {devs, "vulkan:3", 3, true}, {devs, "vulkan:4", 0, false},
		{nil, "auto", 0, false}, {devs, "gpu", 0, false},
	}
	for _, c := range cases {
		got, err := pick(c.devs, c.spec)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("pick(%d devices, %q) = %d, %v; want %d, ok=%v", len(c.devs), c.spec, got, err, c.want, c.ok)
		}
	}
	if _, err := pick(nil, "auto"); !errors.Is(err, ErrNoDevice) {
		t.Errorf("pick with no devices: %v, want ErrNoDevice", err)
	}
}

// TestOptionsFromEnv checks that each environment variable reaches its option.
func TestOptionsFromEnv(t *testing.T) {
	t.Setenv("SPARKRUN_VK_VISIBLE_DEVICES", "1,0")
	t.Setenv("SPARKRUN_VK_VALIDATE", "")
	t.Setenv("VK_INSTANCE_LAYERS", "VK_LAYER_KHRONOS_validation")
	t.Setenv("SPARKRUN_VK_NO_SUBGROUP", "1")
	t.Setenv("SPARKRUN_VK_NO_F16", "1")
	t.Setenv("SPARKRUN_VK_NO_INT8", "1")
	t.Setenv("SPARKRUN_DEBUG", "sched,kernels")
	t.Setenv("SPARKRUN_VK_MAX_MEMORY", "512")
	o, err := OptionsFromEnv("vulkan:1")
	if err != nil {
		t.Fatal(err)
	}
	if o.Device != "vulkan:1" || len(o.Visible) != 2 || o.Visible[0] != 1 || !o.Validate || !o.NoSubgroup || !o.NoF16 || !o.NoInt8 || !o.DebugKernels || o.MaxDeviceBytes != 512<<20 {
		t.Errorf("OptionsFromEnv = %+v", o)
	}
	t.Setenv("SPARKRUN_VK_NO_INT8", "0")
	if o, _ := OptionsFromEnv("auto"); o.NoInt8 {
		t.Error("SPARKRUN_VK_NO_INT8=0 selected the fallback")
	}
	for _, bad := range []string{"0", "-1", "1.5G", "x"} {
		t.Setenv("SPARKRUN_VK_MAX_MEMORY", bad)
		if _, err := OptionsFromEnv("auto"); err == nil || !strings.Contains(err.Error(), "SPARKRUN_VK_MAX_MEMORY") {
			t.Errorf("SPARKRUN_VK_MAX_MEMORY=%s: error %v", bad, err)
		}
	}
	t.Setenv("SPARKRUN_VK_MAX_MEMORY", "512")
	t.Setenv("SPARKRUN_VK_VISIBLE_DEVICES", "x")
	if _, err := OptionsFromEnv("auto"); err == nil {
		t.Error("bad SPARKRUN_VK_VISIBLE_DEVICES accepted")
	}
}
