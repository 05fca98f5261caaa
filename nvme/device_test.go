package nvme_test

import (
	"path/filepath"
	"testing"

	"github.com/helios-vcs/helios/nvme"
	"github.com/helios-vcs/helios/nvme/nvmetest"
)

// openFile opens a fresh file-backed device in t's temporary directory.
func openFile(t *testing.T, opts nvme.Options) nvme.Device {
	t.Helper()
	if opts.Size == 0 {
		opts.Size = nvmetest.MinSize
	}
	d, err := nvme.Open(filepath.Join(t.TempDir(), "dev"), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

// requireUring skips t, saying why, when io_uring cannot be set up here.
func requireUring(t *testing.T) {
	t.Helper()
	d, err := nvme.Open(filepath.Join(t.TempDir(), "probe"), nvme.Options{Backend: nvme.Uring, Size: 1 << 20})
	if err != nil {
		t.Skipf("io_uring unavailable on this kernel or build, so only the pread fallback is tested: %v", err)
	}
	d.Close()
}

func TestConformanceMem(t *testing.T) {
	nvmetest.TestDevice(t, func(t *testing.T) nvme.Device { return nvme.NewMem(nvmetest.MinSize, 4096) })
}

func TestConformancePread(t *testing.T) {
	nvmetest.TestDevice(t, func(t *testing.T) nvme.Device {
		d := openFile(t, nvme.Options{Backend: nvme.Pread})
		if info := nvme.DescribeDevice(d); info.Backend != "pread" {
			t.Fatalf("backend = %q, want pread", info.Backend)
		}
		return d
	})
}

func TestConformancePreadBuffered(t *testing.T) {
	nvmetest.TestDevice(t, func(t *testing.T) nvme.Device {
		d := openFile(t, nvme.Options{Backend: nvme.Pread, Buffered: true})
		if info := nvme.DescribeDevice(d); info.Direct {
			t.Fatalf("Buffered device reports Direct")
		}
		return d
	})
}

func TestConformanceUring(t *testing.T) {
	requireUring(t)
	nvmetest.TestDevice(t, func(t *testing.T) nvme.Device {
		// A small queue and small buffers make the suite cross rounds and
		// split accesses.
		d := openFile(t, nvme.Options{Backend: nvme.Uring, QueueDepth: 8, BufferSize: 64 << 10})
		if info := nvme.DescribeDevice(d); info.Backend != "io_uring" {
			t.Fatalf("backend = %q, want io_uring", info.Backend)
		}
		return d
	})
}

func TestConformanceUringDefaults(t *testing.T) {
	requireUring(t)
	nvmetest.TestDevice(t, func(t *testing.T) nvme.Device { return openFile(t, nvme.Options{}) })
}
