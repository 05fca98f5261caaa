package nvme

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

// crashDevice wraps a Mem and remembers which writes were not yet synced,
// so a test can simulate a power cut: any subset of unsynced blocks may
// reach the disk, and any of them may be torn.
type crashDevice struct {
	*Mem
	mu      sync.Mutex
	durable *Mem
	pending []Write
}

func newCrashDevice(size int64) *crashDevice {
	return &crashDevice{Mem: NewMem(size, 4096), durable: NewMem(size, 4096)}
}

func (c *crashDevice) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.Mem.WriteAt(p, off)
	if err == nil {
		c.mu.Lock()
		c.pending = append(c.pending, Write{Off: off, Data: bytes.Clone(p)})
		c.mu.Unlock()
	}
	return n, err
}

func (c *crashDevice) Sync() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.pending {
		c.durable.WriteAt(w.Data, w.Off)
	}
	c.pending = nil
	return nil
}

// crash returns the device as it might be found after a power cut.
func (c *crashDevice) crash(r *rand.Rand) *crashDevice {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := make([]byte, c.durable.Size())
	c.durable.ReadAt(img, 0)
	for _, w := range c.pending {
		for b := 0; b < len(w.Data); b += 4096 {
			dst := img[w.Off+int64(b) : w.Off+int64(b)+4096]
			switch r.IntN(4) {
			case 0: // lost
			case 1: // torn: a prefix made it
				copy(dst[:r.IntN(4096)], w.Data[b:])
			default:
				copy(dst, w.Data[b:b+4096])
			}
		}
	}
	out := newCrashDevice(int64(len(img)))
	out.Mem.WriteAt(img, 0)
	out.durable.WriteAt(img, 0)
	return out
}

// TestLogCrashModel appends, syncs and crashes at random; after every crash
// each synced record reads back intact, nothing read is ever wrong, and the
// log keeps working.
func TestLogCrashModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seed := rapid.Uint64().Draw(t, "seed")
		r := rand.New(rand.NewPCG(seed, 0))
		dev := newCrashDevice(2*4096 + 8*32<<10)
		l, err := OpenLog(dev, LogOptions{SegmentSize: 32 << 10})
		if err != nil {
			t.Fatal(err)
		}
		want := map[uint64][]byte{} // every record ever appended, by key
		var synced, unsynced []Location
		next := uint64(1)
		steps := rapid.IntRange(1, 40).Draw(t, "steps")
		for step := 0; step < steps; step++ {
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0, 1, 2, 3, 4:
				var recs []Record
				for i := rapid.IntRange(1, 6).Draw(t, "batch"); i > 0; i-- {
					var rec Record
					binary.LittleEndian.PutUint64(rec.Key[:], next)
					rec.Data = make([]byte, r.IntN(9000))
					for j := range rec.Data {
						rec.Data[j] = byte(r.Uint32())
					}
					want[next] = rec.Data
					next++
					recs = append(recs, rec)
				}
				locs, err := l.Append(recs)
				if errors.Is(err, ErrFull) {
					continue
				}
				if err != nil {
					t.Fatalf("Append: %v", err)
				}
				unsynced = append(unsynced, locs...)
			case 5, 6:
				if err := l.Sync(); err != nil {
					t.Fatal(err)
				}
				synced, unsynced = append(synced, unsynced...), nil
			case 7, 8, 9:
				dev = dev.crash(r)
				if l, err = OpenLog(dev, LogOptions{}); err != nil {
					t.Fatalf("OpenLog after crash: %v", err)
				}
				for _, loc := range unsynced {
					if rec, err := l.ReadRecord(loc); err == nil && !bytes.Equal(rec.Data, want[binary.LittleEndian.Uint64(rec.Key[:])]) {
						t.Fatalf("unsynced %v served wrong bytes after crash", loc)
					}
				}
				unsynced = nil
			}
			for _, loc := range synced {
				rec, err := l.ReadRecord(loc)
				if err != nil {
					t.Fatalf("step %d: synced %v: %v", step, loc, err)
				}
				if !bytes.Equal(rec.Data, want[binary.LittleEndian.Uint64(rec.Key[:])]) {
					t.Fatalf("step %d: synced %v: wrong bytes", step, loc)
				}
			}
			// Whatever the chain holds is intact.
			var walked []Location
			if err := l.Walk(func(key [KeySize]byte, loc Location) error {
				walked = append(walked, loc)
				return nil
			}); err != nil {
				t.Fatalf("Walk: %v", err)
			}
			for _, loc := range walked {
				rec, err := l.ReadRecord(loc)
				if err != nil {
					t.Fatalf("Walk found %v: %v", loc, err)
				}
				if !bytes.Equal(rec.Data, want[binary.LittleEndian.Uint64(rec.Key[:])]) {
					t.Fatalf("Walk found %v with wrong bytes", loc)
				}
			}
		}
	})
}
