package nvme_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/helios-vcs/helios/nvme"
)

func TestBench(t *testing.T) {
	dev := nvme.NewMem(4<<20, 4096)
	res, err := nvme.Bench(context.Background(), dev, []int{4096, 65536}, []int{1, 8}, 50)
	if err != nil {
		t.Fatalf("Bench: %v", err)
	}
	if len(res) != 8 {
		t.Fatalf("Bench gave %d results, want 8 (2 sizes × 2 depths × write, read)", len(res))
	}
	for _, r := range res {
		if r.Backend != "mem" || r.Ops != 50 || r.P50 > r.P95 || r.P95 > r.P99 || r.MBps <= 0 || r.IOPS <= 0 {
			t.Errorf("implausible result %+v", r)
		}
	}
	if _, err := nvme.Bench(context.Background(), dev, []int{1000}, []int{1}, 1); err == nil {
		t.Errorf("Bench with an unaligned size succeeded")
	}
	if _, err := nvme.Bench(context.Background(), dev, []int{4096}, []int{0}, 1); err == nil {
		t.Errorf("Bench with queue depth 0 succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := nvme.Bench(ctx, dev, []int{4096}, []int{1}, 10); err == nil {
		t.Errorf("Bench with a cancelled context succeeded")
	}
}

// BenchmarkDevice compares the backends: go test -bench Device ./nvme
func BenchmarkDevice(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) nvme.Device
	}{
		{"uring", func(b *testing.B) nvme.Device { return benchOpen(b, nvme.Uring) }},
		{"pread", func(b *testing.B) nvme.Device { return benchOpen(b, nvme.Pread) }},
		{"mem", func(b *testing.B) nvme.Device { return nvme.NewMem(256<<20, 4096) }},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			dev := be.open(b)
			defer dev.Close()
			for _, size := range []int{4 << 10, 64 << 10, 1 << 20} {
				for _, qd := range []int{1, 16} {
					buf := nvme.AlignedBuffer(size*qd, 4096)
					slots := dev.Size() / int64(size*qd)
					for _, op := range []string{"write", "read"} {
						b.Run(fmt.Sprintf("%s/%dKiB/qd%d", op, size>>10, qd), func(b *testing.B) {
							b.SetBytes(int64(size * qd))
							ws := make([]nvme.Write, qd)
							rs := make([]nvme.Read, qd)
							for i := 0; b.Loop(); i++ {
								base := int64(i) % slots * int64(size*qd)
								for j := 0; j < qd; j++ {
									p := buf[j*size : (j+1)*size]
									ws[j] = nvme.Write{Off: base + int64(j*size), Data: p}
									rs[j] = nvme.Read{Off: base + int64(j*size), Buf: p}
								}
								var err error
								if op == "write" {
									err = nvme.WriteBatch(dev, ws)
								} else {
									err = nvme.ReadBatch(dev, rs)
								}
								if err != nil {
									b.Fatal(err)
								}
							}
						})
					}
				}
			}
		})
	}
}

func benchOpen(b *testing.B, backend nvme.Backend) nvme.Device {
	d, err := nvme.Open(filepath.Join(b.TempDir(), "dev"), nvme.Options{Size: 256 << 20, Backend: backend})
	if err != nil {
		b.Skipf("backend unavailable: %v", err)
	}
	return d
}

// BenchmarkLogAppend measures Append+Sync of batches of 64 KiB chunks.
func BenchmarkLogAppend(b *testing.B) {
	for _, backend := range []nvme.Backend{nvme.Uring, nvme.Pread} {
		b.Run(fmt.Sprint(map[nvme.Backend]string{nvme.Uring: "uring", nvme.Pread: "pread"}[backend]), func(b *testing.B) {
			dev := benchOpen(b, backend)
			defer dev.Close()
			l, err := nvme.OpenLog(dev, nvme.LogOptions{SegmentSize: 8 << 20})
			if err != nil {
				b.Fatal(err)
			}
			recs := make([]nvme.Record, 16)
			for i := range recs {
				recs[i] = nvme.Record{Data: make([]byte, 64<<10)}
				recs[i].Key[0] = byte(i)
			}
			b.SetBytes(16 * 64 << 10)
			ix := index{}
			for b.Loop() {
				if _, err := l.Append(recs); err != nil {
					// Full: free everything and go on.
					if _, err := l.Compact(ix.live, ix.commit, nvme.CompactOptions{}); err != nil {
						b.Fatal(err)
					}
					continue
				}
				if err := l.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
