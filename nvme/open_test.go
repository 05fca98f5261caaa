package nvme

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// withHooks replaces the open hooks for one test.
func withHooks(t *testing.T, open func(string, int, os.FileMode) (*os.File, error), uring func(fileBase, int, int) (*uringDevice, error)) {
	t.Helper()
	oldOpen, oldUring := openFile, uringOpen
	if open != nil {
		openFile = open
	}
	if uring != nil {
		uringOpen = uring
	}
	t.Cleanup(func() { openFile, uringOpen = oldOpen, oldUring })
}

func TestOpenFallsBackWhenUringRefused(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOSYS, syscall.EPERM} {
		t.Run(errno.Error(), func(t *testing.T) {
			withHooks(t, nil, func(fileBase, int, int) (*uringDevice, error) {
				return nil, fmt.Errorf("nvme: io_uring setup: %w", errno)
			})
			var logged []string
			d, err := Open(filepath.Join(t.TempDir(), "dev"), Options{Size: 1 << 20, Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer d.Close()
			info := DescribeDevice(d)
			if info.Backend != "pread" || len(info.Fallbacks) != 1 || !strings.Contains(info.Fallbacks[0], "io_uring unavailable") {
				t.Fatalf("Info = %+v, want pread with one io_uring fallback", info)
			}
			if len(logged) != 1 || logged[0] != info.Fallbacks[0] {
				t.Fatalf("logged %q, want exactly %q", logged, info.Fallbacks[0])
			}
			// The fallback device works.
			p := make([]byte, 4096)
			p[0] = 9
			if _, err := d.WriteAt(p, 4096); err != nil {
				t.Fatal(err)
			}
			q := make([]byte, 4096)
			if _, err := d.ReadAt(q, 4096); err != nil || q[0] != 9 {
				t.Fatalf("ReadAt after fallback = %v, byte %d", err, q[0])
			}
			// Insisting on io_uring fails instead.
			if _, err := Open(filepath.Join(t.TempDir(), "dev2"), Options{Size: 1 << 20, Backend: Uring}); !errors.Is(err, errno) {
				t.Fatalf("Open with Backend Uring: got %v, want %v", err, errno)
			}
		})
	}
}

func TestOpenFallsBackWhenDirectRefused(t *testing.T) {
	// tmpfs refused O_DIRECT with EINVAL before Linux 6.6; simulate it.
	withHooks(t, func(name string, flag int, perm os.FileMode) (*os.File, error) {
		if flag&oDirect != 0 {
			return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EINVAL}
		}
		return os.OpenFile(name, flag, perm)
	}, nil)
	var logged []string
	for _, b := range []Backend{Auto, Pread} {
		d, err := Open(filepath.Join(t.TempDir(), "dev"), Options{Size: 1 << 20, Backend: b, Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		info := DescribeDevice(d)
		d.Close()
		if info.Direct || len(info.Fallbacks) == 0 || !strings.Contains(info.Fallbacks[0], "refuses O_DIRECT") {
			t.Fatalf("Info = %+v, want buffered I/O with an O_DIRECT fallback", info)
		}
	}
	direct := 0
	for _, line := range logged {
		if strings.Contains(line, "O_DIRECT") {
			direct++
		}
	}
	if direct != 2 {
		t.Fatalf("logged %d O_DIRECT lines for two opens, want 2: %q", direct, logged)
	}
}

func TestOpenDirectOnThisFilesystem(t *testing.T) {
	d, err := Open(filepath.Join(t.TempDir(), "dev"), Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	info := DescribeDevice(d)
	t.Logf("t.TempDir() device: %+v", info)
	if oDirect != 0 && !info.Direct && len(info.Fallbacks) == 0 {
		t.Fatalf("Info = %+v: not direct, and no fallback given", info)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	cases := []struct {
		name string
		path string
		opts Options
	}{
		{"missing without Size", filepath.Join(dir, "missing"), Options{}},
		{"empty without Size", empty, Options{}},
		{"block size not a power of two", filepath.Join(dir, "x"), Options{Size: 1 << 20, BlockSize: 3000}},
		{"block size too small", filepath.Join(dir, "x"), Options{Size: 1 << 20, BlockSize: 256}},
		{"buffer not a block multiple", filepath.Join(dir, "x"), Options{Size: 1 << 20, BufferSize: 1000}},
		{"character device", "/dev/null", Options{}},
		{"directory", dir, Options{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if d, err := Open(c.path, c.opts); err == nil {
				d.Close()
				t.Fatalf("Open(%q, %+v) succeeded", c.path, c.opts)
			}
		})
	}
}

func TestOpenKeepsDataAndSize(t *testing.T) {
	for _, b := range []Backend{Auto, Pread} {
		path := filepath.Join(t.TempDir(), "dev")
		d, err := Open(path, Options{Size: 1 << 20, Backend: b})
		if err != nil {
			t.Fatal(err)
		}
		p := make([]byte, 8192)
		for i := range p {
			p[i] = byte(i)
		}
		d.WriteAt(p, 8192)
		if err := d.Sync(); err != nil {
			t.Fatal(err)
		}
		d.Close()
		// Reopen without Size, and with a smaller Size: never shrinks.
		for _, size := range []int64{0, 4096} {
			d, err = Open(path, Options{Backend: b, Size: size})
			if err != nil {
				t.Fatal(err)
			}
			q := make([]byte, 8192)
			d.ReadAt(q, 8192)
			if d.Size() != 1<<20 || string(q) != string(p) {
				t.Fatalf("reopened device: size %d, data equal %v; want 1 MiB and the data", d.Size(), string(q) == string(p))
			}
			d.Close()
		}
	}
}

// TestOpenBlockDevice runs only when NVME_TEST_BLOCKDEV names a block device
// whose contents may be destroyed (a loop device, say).
func TestOpenBlockDevice(t *testing.T) {
	path := os.Getenv("NVME_TEST_BLOCKDEV")
	if path == "" {
		t.Skip("set NVME_TEST_BLOCKDEV to a scratch block device to test one")
	}
	d, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	defer d.Close()
	t.Logf("%s: size %d, block size %d, %+v", path, d.Size(), d.BlockSize(), DescribeDevice(d))
	p := make([]byte, d.BlockSize())
	p[0] = 0x42
	if _, err := d.WriteAt(p, 0); err != nil {
		t.Fatal(err)
	}
	q := make([]byte, d.BlockSize())
	if _, err := d.ReadAt(q, 0); err != nil || q[0] != 0x42 {
		t.Fatalf("ReadAt = %v, first byte %#x", err, q[0])
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
}
