package server

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestReserveHugeHeap: the reserved stretch of heap is advised for huge
// pages (the kernel says it is eligible for them) and, in a process that
// has just started (as helios serve calls it), nothing of it is touched;
// on a system without transparent huge pages the call says so. It runs
// in a fresh process of this test binary: a heap other tests have used
// has freed memory to hand out, which the runtime zeroes first.
func TestReserveHugeHeap(t *testing.T) {
	if os.Getenv("HELIOS_TEST_HUGEHEAP") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReserveHugeHeap$", "-test.v")
		cmd.Env = append(os.Environ(), "HELIOS_TEST_HUGEHEAP=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestReserveHugeHeap") {
			t.Fatalf("in a fresh process: %v\n%s", err, out)
		}
		return
	}
	mode, _ := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	overcommit, _ := os.ReadFile("/proc/sys/vm/overcommit_memory")
	lo, hi, err := ReserveHugeHeap(64 << 20)
	if len(mode) == 0 || strings.Contains(string(mode), "[never]") || strings.TrimSpace(string(overcommit)) == "2" {
		if !errors.Is(err, ErrNoHugePages) {
			t.Fatalf("THP mode %q: got %v, want ErrNoHugePages", mode, err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if hi-lo < 62<<20 || lo%hugePage != 0 || hi%hugePage != 0 {
		t.Fatalf("advised [%#x, %#x): want at least 62 MiB in whole huge pages", lo, hi)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Every mapping that overlaps the range must be eligible, and
	// together they must hold little memory (the bytes were not touched).
	sc := bufio.NewScanner(f)
	var in bool
	covered, rssKB := uintptr(0), 0
	for sc.Scan() {
		line := sc.Text()
		if rng, _, ok := strings.Cut(line, " "); ok && strings.Contains(rng, "-") && !strings.HasSuffix(rng, ":") {
			a, b, _ := strings.Cut(rng, "-")
			start, err1 := strconv.ParseUint(a, 16, 64)
			end, err2 := strconv.ParseUint(b, 16, 64)
			if err1 == nil && err2 == nil {
				in = uintptr(start) < hi && uintptr(end) > lo
				if in {
					covered += min(uintptr(end), hi) - max(uintptr(start), lo)
				}
				continue
			}
		}
		if !in {
			continue
		}
		switch k, v, _ := strings.Cut(line, ":"); k {
		case "THPeligible":
			if strings.TrimSpace(v) != "1" {
				t.Errorf("a mapping in the advised range is not eligible for huge pages: %s", line)
			}
		case "Rss":
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			rssKB += n
		}
	}
	if covered != hi-lo {
		t.Fatalf("mappings cover %d of the %d advised bytes", covered, hi-lo)
	}
	if rssKB > 16<<10 {
		t.Errorf("the reserved heap holds %d KiB of memory; it was not to be touched", rssKB)
	}
}
