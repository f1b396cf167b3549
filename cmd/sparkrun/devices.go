package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

func init() {
	register("devices", "list the Vulkan devices sparkrun can use", runDevices)
}

func runDevices(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("devices", "", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("devices takes no arguments")
	}
	devs, err := vulkan.Devices()
	if *asJSON {
		out := struct {
			Devices []vulkan.DeviceInfo `json:"devices"`
			Error   string              `json:"error,omitempty"`
		}{Devices: devs}
		if err != nil {
			out.Error = err.Error()
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintln(stdout, "cpu: always available (pure Go kernels)")
	if err != nil {
		fmt.Fprintf(stdout, "vulkan: none usable: %v\n", err)
		return nil
	}
	if len(devs) == 0 {
		fmt.Fprintln(stdout, "vulkan: no devices")
	}
	for _, d := range devs {
		fmt.Fprintf(stdout, "vulkan:%d %s\n", d.Index, d.Name)
		fmt.Fprintf(stdout, "    type %s, Vulkan %s, driver %s (%s)\n", d.Type, d.API, d.Driver, d.DriverInfo)
		for _, h := range d.Heaps {
			local := ""
			if h.DeviceLocal {
				local = ", device-local"
			}
			fmt.Fprintf(stdout, "    heap %s%s\n", humanBytes(int64(h.Size)), local)
		}
		fmt.Fprintf(stdout, "    subgroup size %d (arithmetic %v), f16 %v, int8 %v, 16-bit storage %v, 8-bit storage %v, max storage range %s, shared memory %s\n",
			d.SubgroupSize, d.SubgroupArithmetic, d.Float16, d.Int8, d.Storage16Bit, d.Storage8Bit, humanBytes(int64(d.MaxStorageRange)), humanBytes(int64(d.MaxSharedMemory)))
	}
	return nil
}
