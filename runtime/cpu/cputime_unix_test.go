//go:build unix

package cpu

import "syscall"

// processCPU returns the CPU time (user + system) this process has used, in seconds. Benchmarks
// report throughput per CPU-second besides per wall-second because the development machines
// are shared: under load the wall time measures the neighbours, the CPU time still the kernel.
func processCPU() (float64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime), true
}
