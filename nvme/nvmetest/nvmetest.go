// Package nvmetest is the conformance suite for nvme.Device. A new Device
// implementation's test is a few lines:
//
//	func TestConformance(t *testing.T) {
//		nvmetest.TestDevice(t, func(t *testing.T) nvme.Device { return openMine(t) })
//	}
package nvmetest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/helios-vcs/helios/nvme"
)

// MinSize is the smallest device the suite needs.
const MinSize = 4 << 20

// TestDevice checks the nvme.Device contract. open must return a new,
// zero-filled device of at least MinSize bytes; the suite closes it.
func TestDevice(t *testing.T, open func(t *testing.T) nvme.Device) {
	t.Run("Geometry", func(t *testing.T) { testGeometry(t, open(t)) })
	t.Run("FreshIsZero", func(t *testing.T) { testFreshIsZero(t, open(t)) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, open(t)) })
	t.Run("UnalignedMemory", func(t *testing.T) { testUnalignedMemory(t, open(t)) })
	t.Run("Rejects", func(t *testing.T) { testRejects(t, open(t)) })
	t.Run("NotRetained", func(t *testing.T) { testNotRetained(t, open(t)) })
	t.Run("Batch", func(t *testing.T) { testBatch(t, open(t)) })
	t.Run("BatchRejects", func(t *testing.T) { testBatchRejects(t, open(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, open(t)) })
	t.Run("Close", func(t *testing.T) { testClose(t, open(t)) })
}

func closeAtEnd(t *testing.T, d nvme.Device) {
	t.Helper()
	t.Cleanup(func() {
		if err := d.Close(); err != nil && !errors.Is(err, nvme.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
}

// pattern returns n bytes that depend on seed and position.
func pattern(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x6e766d65))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

func mustWrite(t *testing.T, d nvme.Device, p []byte, off int64) {
	t.Helper()
	n, err := d.WriteAt(p, off)
	if err != nil || n != len(p) {
		t.Fatalf("WriteAt(%d bytes, %d) = %d, %v; want %d, nil", len(p), off, n, err, len(p))
	}
}

func mustRead(t *testing.T, d nvme.Device, n int, off int64) []byte {
	t.Helper()
	p := make([]byte, n)
	got, err := d.ReadAt(p, off)
	if err != nil || got != n {
		t.Fatalf("ReadAt(%d bytes, %d) = %d, %v; want %d, nil", n, off, got, err, n)
	}
	return p
}

func testGeometry(t *testing.T, d nvme.Device) {
	closeAtEnd(t, d)
	bs := d.BlockSize()
	if bs < 512 || bs&(bs-1) != 0 {
		t.Fatalf("BlockSize() = %d, want a power of two >= 512", bs)
	}
	if d.Size() < MinSize || d.Size()%int64(bs) != 0 {
		t.Fatalf("Size() = %d, want a multiple of %d of at least %d", d.Size(), bs, MinSize)
	}
}

func testFreshIsZero(t *testing.T, d nvme.Device) {
	closeAtEnd(t, d)
	bs := d.BlockSize()
	for _, off := range []int64{0, d.Size() / 2, d.Size() - int64(bs)} {
		off -= off % int64(bs)
		if got := mustRead(t, d, bs, off); !bytes.Equal(got, make([]byte, bs)) {
			t.Errorf("block at %d of a fresh device is not zero", off)
		}
	}
}

func testRoundTrip(t *testing.T, d nvme.Device) {
	closeAtEnd(t, d)
	bs := d.BlockSize()
	size := d.Size()
	cases := []struct {
		name string
		n    int
		off  int64
	}{
		{"first block", bs, 0},
		{"two blocks", 2 * bs, int64(bs)},
		{"last block", bs, size - int64(bs)},
		{"64 KiB", 64 << 10, 1 << 20},
		{"1 MiB spanning buffers", 1 << 20, 2 << 20},
		{"tail run", 8 * bs, size - int64(8*bs)},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := pattern(c.n, uint64(i))
			mustWrite(t, d, want, c.off)
			if got := mustRead(t, d, c.n, c.off); !bytes.Equal(got, want) {
				t.Fatalf("read back %d bytes at %d differ from what was written", c.n, c.off)
			}
		})
	}
	if err := d.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	// Neighbours of a write are untouched.
	mustWrite(t, d, bytes.Repeat([]byte{0xaa}, 3*bs), 0)
	mustWrite(t, d, bytes.Repeat([]byte{0x55}, bs), int64(bs))
	got := mustRead(t, d, 3*bs, 0)
	want := append(append(bytes.Repeat([]byte{0xaa}, bs), bytes.Repeat([]byte{0x55}, bs)...), bytes.Repeat([]byte{0xaa}, bs)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("overwriting the middle block changed its neighbours")
	}
	// Zero-length accesses succeed and do nothing.
	if n, err := d.WriteAt(nil, 0); n != 0 || err != nil {
		t.Fatalf("WriteAt(nil, 0) = %d, %v; want 0, nil", n, err)
	}
	if n, err := d.ReadAt(nil, int64(bs)); n != 0 || err != nil {
		t.Fatalf("ReadAt(nil, %d) = %d, %v; want 0, nil", bs, n, err)
	}
}

func testUnalignedMemory(t *testing.T, d nvme.Device) {
	closeAtEnd(t, d)
	bs := d.BlockSize()
	backing := make([]byte, 4*bs+1)
	want := backing[1:] // deliberately misaligned in memory
	copy(want, pattern(len(want), 7))
	mustWrite(t, d, want, 0)
	back := make([]byte, 4*bs+3)
	got := back[3:]
	if n, err := d.ReadAt(got, 0); err != nil || n != len(got) {
		t.Fatalf("ReadAt into misaligned memory = %d, %v; want %d, nil", n, err, len(got))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("misaligned buffers: read back differs from what was written")
	}
}

func testRejects(t *testing.T, d nvme.Device) {
	closeAtEnd(t, d)
	bs := d.BlockSize()
	size := d.Size()
	mustWrite(t, d, bytes.Repeat([]byte{1}, 2*bs), 0)
	cases := []struct {
		name string
		n    int
		off  int64
		want error
	}{
		{"unaligned offset", bs, 1, nvme.ErrUnaligned},
		{"unaligned length", bs + 1, 0, nvme.ErrUnaligned},
		{"negative offset", bs, -int64(bs), nvme.ErrUnaligned},
		{"past the end", bs, size, nvme.ErrOutOfRange},
		{"straddling the end", 2 * bs, size - int64(bs), nvme.ErrOutOfRange},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := d.WriteAt(make([]byte, c.n), c.off); !errors.Is(err, c.want) {
				t.Errorf("WriteAt: got %v, want %v", err, c.want)
			}
			if _, err := d.ReadAt(make([]byte, c.n), c.off); !errors.Is(err, c.want) {
				t.Errorf("ReadAt: got %v, want %v", err, c.want)
			}
		})
	}
	if got := mustRead(t, d, 2*bs, 0); !bytes.Equal(got, bytes.Repeat([]byte{1}, 2*bs)) {
		t.Fatalf("a rejected write changed the device")
	}
}

func testNotRetained(t *testing.T, d nvme.Device) {
	closeAtEnd(t, d)
	bs := d.BlockSize()
	p := pattern(bs, 3)
	want := bytes.Clone(p)
	mustWrite(t, d, p, 0)
	for i := range p {
		p[i] = 0xff
	}
	if got := mustRead(t, d, bs, 0); !bytes.Equal(got, want) {
		t.Fatalf("changing the buffer after WriteAt returned changed the device")
	}
}

func testBatch(t *testing.T, d nvme.Device) {
	closeAtEnd(t, d)
	bs := d.BlockSize()
	// More entries than any queue, sizes from one block to past a buffer.
	var ws []nvme.Write
	off := int64(0)
	for i := 0; i < 150; i++ {
		n := bs * (1 + i%7)
		if i%50 == 49 {
			n = 512 << 10
		}
		ws = append(ws, nvme.Write{Off: off, Data: pattern(n, uint64(100+i))})
		off += int64(n)
	}
	if off > d.Size() {
		t.Fatalf("test needs %d bytes, device has %d", off, d.Size())
	}
	if err := nvme.WriteBatch(d, ws); err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}
	rs := make([]nvme.Read, len(ws))
	for i, w := range ws {
		rs[i] = nvme.Read{Off: w.Off, Buf: make([]byte, len(w.Data))}
	}
	if err := nvme.ReadBatch(d, rs); err != nil {
		t.Fatalf("ReadBatch: %v", err)
	}
	for i := range ws {
		if !bytes.Equal(rs[i].Buf, ws[i].Data) {
			t.Fatalf("batch entry %d at %d: read back differs from what was written", i, ws[i].Off)
		}
		// Each entry is also visible to a single read.
		if i%37 == 0 {
			if got := mustRead(t, d, len(ws[i].Data), ws[i].Off); !bytes.Equal(got, ws[i].Data) {
				t.Fatalf("entry %d: ReadAt differs from batch write", i)
			}
		}
	}
	if err := nvme.WriteBatch(d, nil); err != nil {
		t.Fatalf("WriteBatch(nil): %v", err)
	}
	if err := nvme.ReadBatch(d, nil); err != nil {
		t.Fatalf("ReadBatch(nil): %v", err)
	}
}

func testBatchRejects(t *testing.T, d nvme.Device) {
	closeAtEnd(t, d)
	bs := d.BlockSize()
	bad := []nvme.Write{{Off: 0, Data: make([]byte, bs)}, {Off: 3, Data: make([]byte, bs)}}
	if err := nvme.WriteBatch(d, bad); !errors.Is(err, nvme.ErrUnaligned) {
		t.Errorf("WriteBatch with an unaligned entry: got %v, want %v", err, nvme.ErrUnaligned)
	}
	badR := []nvme.Read{{Off: d.Size(), Buf: make([]byte, bs)}}
	if err := nvme.ReadBatch(d, badR); !errors.Is(err, nvme.ErrOutOfRange) {
		t.Errorf("ReadBatch past the end: got %v, want %v", err, nvme.ErrOutOfRange)
	}
}

func testConcurrent(t *testing.T, d nvme.Device) {
	closeAtEnd(t, d)
	bs := d.BlockSize()
	const workers, perWorker = 4, 16
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				off := int64((w*perWorker + i) * 2 * bs)
				want := pattern(2*bs, uint64(w*1000+i))
				var err error
				if i%2 == 0 {
					_, err = d.WriteAt(want, off)
				} else {
					err = nvme.WriteBatch(d, []nvme.Write{{Off: off, Data: want[:bs]}, {Off: off + int64(bs), Data: want[bs:]}})
				}
				if err != nil {
					errs <- err
					return
				}
				got := make([]byte, 2*bs)
				if _, err := d.ReadAt(got, off); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, want) {
					errs <- fmt.Errorf("worker %d write %d at %d: read back differs", w, i, off)
					return
				}
			}
			errs <- d.Sync()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func testClose(t *testing.T, d nvme.Device) {
	bs := d.BlockSize()
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	p := make([]byte, bs)
	checks := map[string]error{}
	_, checks["ReadAt"] = d.ReadAt(p, 0)
	_, checks["WriteAt"] = d.WriteAt(p, 0)
	checks["Sync"] = d.Sync()
	checks["WriteBatch"] = nvme.WriteBatch(d, []nvme.Write{{Off: 0, Data: p}})
	checks["ReadBatch"] = nvme.ReadBatch(d, []nvme.Read{{Off: 0, Buf: p}})
	checks["Close"] = d.Close()
	for name, err := range checks {
		if !errors.Is(err, nvme.ErrClosed) {
			t.Errorf("%s after Close: got %v, want %v", name, err, nvme.ErrClosed)
		}
	}
}
