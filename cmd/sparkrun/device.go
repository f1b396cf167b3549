package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/vkmodel"
	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// deviceFlag is the --device flag of the commands that run a model: where the forward passes run.
// A nil *deviceFlag (a command without the flag, such as batch, which needs the CPU runtime's
// RunBatch) loads on the CPU.
type deviceFlag struct {
	spec   string    // auto, cpu, vulkan or vulkan:N
	stderr io.Writer // where the choice of auto is reported (the flag set's output)
}

// addDeviceFlag adds --device to fs; the choice of auto is reported on fs's output.
func addDeviceFlag(fs *flag.FlagSet) *deviceFlag {
	d := &deviceFlag{stderr: fs.Output()}
	fs.StringVar(&d.spec, "device", "auto",
		"where to run: auto (a Vulkan GPU if there is one, else the CPU), cpu, vulkan (the best Vulkan device) or vulkan:N (see sparkrun devices)")
	return d
}

// gpuTypes are the Vulkan device types that auto runs on: a CPU device (lavapipe) is slower than
// the CPU runtime, so auto passes it over.
var gpuTypes = map[string]bool{"discrete GPU": true, "integrated GPU": true}

// useVulkan resolves the flag: whether to run on Vulkan. auto picks Vulkan when a GPU is visible
// (package vulkan then prefers a discrete one) and the options need nothing the device path lacks
// (a press the shaders do not implement), and otherwise says on stderr why it runs on the CPU. devices lists the visible
// Vulkan devices (vulkan.Devices; a parameter so that tests can supply any machine's).
func (d *deviceFlag) useVulkan(opts runtime.Options, devices func() ([]vulkan.DeviceInfo, error)) (bool, error) {
	switch {
	case d.spec == "cpu":
		return false, nil
	case d.spec == "vulkan":
		return true, nil
	case strings.HasPrefix(d.spec, "vulkan:"):
		if n, err := strconv.Atoi(strings.TrimPrefix(d.spec, "vulkan:")); err != nil || n < 0 {
			return false, usagef("--device %q: N in vulkan:N must be a device index (see sparkrun devices)", d.spec)
		}
		return true, nil
	case d.spec != "auto":
		return false, usagef("--device %q: want auto, cpu, vulkan or vulkan:N", d.spec)
	}
	if opts.Press != nil && !slices.Contains(vulkan.DevicePressNames(), opts.Press.Name) {
		fmt.Fprintf(d.stderr, "sparkrun: --device auto: KV press %s runs on the CPU only\n", opts.Press.Name)
		return false, nil
	}
	devs, err := devices()
	if err != nil {
		fmt.Fprintf(d.stderr, "sparkrun: --device auto: running on the CPU (%v)\n", err)
		return false, nil
	}
	var seen []string
	for _, dev := range devs {
		if gpuTypes[dev.Type] {
			return true, nil
		}
		seen = append(seen, fmt.Sprintf("%s (%s)", dev.Name, dev.Type))
	}
	what := "no Vulkan device"
	if len(seen) > 0 {
		what = "no Vulkan GPU, only " + strings.Join(seen, ", ")
	}
	fmt.Fprintf(d.stderr, "sparkrun: --device auto: %s; running on the CPU (--device vulkan forces Vulkan)\n", what)
	return false, nil
}

// load loads f on the device the flag selects. engine runs the model either way; cpu is the
// same model when it runs on the CPU runtime and nil on Vulkan. closeFn frees the model.
// Errors of the Vulkan path (no device, no cgo, out of device memory) are runtime failures, not
// model errors: the same file loads on the CPU.
func (d *deviceFlag) load(f *gguf.File, opts runtime.Options) (engine runtime.Engine, cpu *runtime.Model, closeFn func(), err error) {
	vk := false
	if d != nil {
		if vk, err = d.useVulkan(opts, vulkan.Devices); err != nil {
			return nil, nil, nil, err
		}
	}
	onCPU := func() (runtime.Engine, *runtime.Model, func(), error) {
		m, err := runtime.Load(f, opts)
		if err != nil {
			return nil, nil, nil, modelError{err}
		}
		return m, m, m.Close, nil
	}
	if !vk {
		return onCPU()
	}
	if _, err := runtime.ConfigFromGGUF(f); err != nil {
		return nil, nil, nil, modelError{err}
	}
	spec := d.spec
	if spec == "auto" {
		spec = "vulkan"
	}
	vo, err := vulkan.OptionsFromEnv(spec)
	if err != nil {
		return nil, nil, nil, usagef("%v", err)
	}
	e, err := vkmodel.Open(f, opts, vo)
	if err != nil {
		if d.spec == "auto" && errors.Is(err, vulkan.ErrNoFit) {
			fmt.Fprintf(d.stderr, "sparkrun: --device auto: %v; running on the CPU\n", err)
			return onCPU()
		}
		if errors.Is(err, vulkan.ErrNoDevice) {
			return nil, nil, nil, fmt.Errorf("--device %s: %w (--device cpu runs without one)", d.spec, err)
		}
		return nil, nil, nil, fmt.Errorf("--device %s: %w", d.spec, err)
	}
	info := e.Device()
	fmt.Fprintf(d.stderr, "sparkrun: running on vulkan:%d %s (%s)\n", info.Index, info.Name, info.Type)
	return e, nil, func() {
		if err := e.Close(); err != nil {
			fmt.Fprintf(d.stderr, "sparkrun: closing the Vulkan device: %v\n", err)
		}
	}, nil
}
