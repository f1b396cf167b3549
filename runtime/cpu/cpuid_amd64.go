package cpu

// cpuid executes the CPUID instruction for leaf eaxArg, sub-leaf ecxArg.
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// xgetbv reads XCR0, which says which register states the operating system saves on a context
// switch: a CPU may support AVX while the OS does not preserve the YMM registers.
func xgetbv() (eax, edx uint32)

// features are the instruction-set extensions the amd64 kernels use, detected once.
var features = detectFeatures()

type cpuFeatures struct {
	avx2FMA bool // AVX2 + FMA + F16C, with YMM state saved by the OS
	avx512  bool // AVX-512 F/BW/VL + VNNI, with ZMM state saved by the OS
}

func detectFeatures() cpuFeatures {
	var f cpuFeatures
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return f
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const (
		fma     = 1 << 12
		osxsave = 1 << 27
		avx     = 1 << 28
		f16c    = 1 << 29
	)
	if ecx1&(fma|osxsave|avx|f16c) != fma|osxsave|avx|f16c {
		return f
	}
	xcr0, _ := xgetbv()
	if xcr0&0x6 != 0x6 { // XMM and YMM state
		return f
	}
	_, ebx7, ecx7, _ := cpuid(7, 0)
	f.avx2FMA = ebx7&(1<<5) != 0
	const avx512FBWVL = 1<<16 | 1<<30 | 1<<31
	f.avx512 = f.avx2FMA && ebx7&avx512FBWVL == avx512FBWVL && ecx7&(1<<11) != 0 && xcr0&0xE0 == 0xE0
	return f
}
