package nvme

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// BenchResult is one measured series: Ops accesses of Size bytes, submitted
// QueueDepth at a time (one WriteBatch or ReadBatch per group).
type BenchResult struct {
	Backend    string        `json:"backend"`
	Op         string        `json:"op"` // "write" or "read"
	Size       int           `json:"size"`
	QueueDepth int           `json:"queue_depth"`
	Ops        int           `json:"ops"`
	P50        time.Duration `json:"p50_ns"`
	P95        time.Duration `json:"p95_ns"`
	P99        time.Duration `json:"p99_ns"`
	// MBps is bytes moved per second of wall time, in 10^6 bytes.
	MBps float64 `json:"mbps"`
	IOPS float64 `json:"iops"`
}

// Bench measures dev: for every size and queue depth, n writes and then n
// reads of the same blocks, sequential and wrapping around the device.
// An access's latency is that of the submission it was part of (all of a
// group complete together). Writes are followed by one Sync, counted in
// the write series' wall time but not in its latencies. Bench overwrites the
// device: give it a scratch one. Sizes must be multiples of the block size.
func Bench(ctx context.Context, dev Device, sizes, queueDepths []int, n int) ([]BenchResult, error) {
	backend := DescribeDevice(dev).Backend
	var out []BenchResult
	for _, size := range sizes {
		if size <= 0 || size%dev.BlockSize() != 0 {
			return out, fmt.Errorf("nvme: bench size %d is not a multiple of block size %d", size, dev.BlockSize())
		}
		slots := dev.Size() / int64(size)
		for _, qd := range queueDepths {
			if qd < 1 || int64(qd) > slots {
				return out, fmt.Errorf("nvme: bench queue depth %d with %d-byte accesses on a %d-byte device", qd, size, dev.Size())
			}
			bufs := make([][]byte, qd)
			r := rand.New(rand.NewPCG(uint64(size), uint64(qd)))
			for i := range bufs {
				bufs[i] = AlignedBuffer(size, dev.BlockSize())
				for j := range bufs[i] {
					bufs[i][j] = byte(r.Uint32())
				}
			}
			for _, op := range []string{"write", "read"} {
				res, err := benchSeries(ctx, dev, op, bufs, size, n, slots)
				if err != nil {
					return out, err
				}
				res.Backend = backend
				out = append(out, res)
			}
		}
	}
	return out, nil
}

func benchSeries(ctx context.Context, dev Device, op string, bufs [][]byte, size, n int, slots int64) (BenchResult, error) {
	qd := len(bufs)
	lat := make([]time.Duration, 0, n)
	ws := make([]Write, qd)
	rs := make([]Read, qd)
	start := time.Now()
	for done := 0; done < n; {
		if err := ctx.Err(); err != nil {
			return BenchResult{}, err
		}
		k := min(qd, n-done)
		for i := 0; i < k; i++ {
			off := int64(done+i) % slots * int64(size)
			ws[i], rs[i] = Write{Off: off, Data: bufs[i]}, Read{Off: off, Buf: bufs[i]}
		}
		t0 := time.Now()
		var err error
		if op == "write" {
			err = WriteBatch(dev, ws[:k])
		} else {
			err = ReadBatch(dev, rs[:k])
		}
		if err != nil {
			return BenchResult{}, fmt.Errorf("nvme: bench %s: %w", op, err)
		}
		d := time.Since(t0)
		for i := 0; i < k; i++ {
			lat = append(lat, d)
		}
		done += k
	}
	if op == "write" {
		if err := dev.Sync(); err != nil {
			return BenchResult{}, err
		}
	}
	wall := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	return BenchResult{
		Op: op, Size: size, QueueDepth: qd, Ops: n,
		P50: pct(0.50), P95: pct(0.95), P99: pct(0.99),
		MBps: float64(n) * float64(size) / wall.Seconds() / 1e6,
		IOPS: float64(n) / wall.Seconds(),
	}, nil
}
