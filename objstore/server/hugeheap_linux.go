package server

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A page fault costs 15–18 µs on the virtual machines Helios is built and
// measured on (each page-table update traps to the hypervisor), and a full
// push's server touched about 120 MB of fresh Go heap: 30k faults, a fifth
// of its processor time. With transparent huge pages one fault maps 2 MiB.
// Linux gives them to a process only where it asks (madvise mode, the
// usual default), and the Go runtime does not ask for its heap (since Go
// 1.21.1). ReserveHugeHeap asks: it has the runtime map a stretch of heap
// it will use next, without touching it, and advises it MADV_HUGEPAGE; the
// advice stays with the mapping when the stretch is freed, so the heap a
// push or a clone grows into later comes in huge pages. Measured on a
// 32k-object push (BENCHMARKS.md, session 7): 33k faults → 6.4k, server
// CPU 2.16 s → 1.76 s.

// hugePage is the size of a transparent huge page on amd64 and arm64.
const hugePage = 2 << 20

// ReserveHugeHeap maps n bytes of heap and advises them for transparent
// huge pages, returning the advised range. Called as a process starts, it
// costs address space, not memory: the bytes are fresh from the kernel
// and not touched, and pages come only as the heap grows into them. (A
// heap that has freed memory may hand that out instead, which the runtime
// zeroes.) Without transparent huge pages (the kernel's mode "never", or
// none at all), or under strict overcommit, it returns ErrNoHugePages and
// changes nothing.
func ReserveHugeHeap(n int) (lo, hi uintptr, err error) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(mode), "[never]") {
		return 0, 0, ErrNoHugePages
	}
	// Under strict overcommit the mapping is charged whole, touched or
	// not, and a refusal would end the process (the runtime cannot fail
	// an allocation): leave the heap as it comes.
	if o, _ := os.ReadFile("/proc/sys/vm/overcommit_memory"); strings.TrimSpace(string(o)) == "2" {
		return 0, 0, fmt.Errorf("%w: the kernel overcommits strictly", ErrNoHugePages)
	}
	b := make([]byte, n) // fresh from the kernel: the runtime does not zero it
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo = (p + hugePage - 1) &^ (hugePage - 1)
	hi = (p + uintptr(n)) &^ (hugePage - 1)
	if hi <= lo {
		return 0, 0, errors.New("server: huge heap: too small to hold a huge page")
	}
	err = unix.Madvise(b[lo-p:hi-p], unix.MADV_HUGEPAGE)
	runtime.KeepAlive(b)
	if err != nil {
		return 0, 0, err
	}
	// Free it now: else the heap grows past it until the next collection
	// and only then comes back to it.
	b = nil
	runtime.GC()
	return lo, hi, nil
}
