package objbench

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/helios-vcs/helios/nvme"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
)

// TierReport is `helios bench tier`: each Device backend on its own, then
// the store's end-to-end put and get of large blobs with the tier off and
// on, all in one run so the ratios mean something.
type TierReport struct {
	Devices []nvme.BenchResult `json:"devices"`
	Store   []TierStoreResult  `json:"store"`
	// Fallbacks lists what Open could not use here (io_uring, O_DIRECT).
	Fallbacks []string `json:"fallbacks,omitempty"`
}

// TierStoreResult is one store configuration's figures.
type TierStoreResult struct {
	Config       string  `json:"config"` // "rocksdb-only" or "tier-<backend>"
	Threshold    int     `json:"tier_threshold"`
	Blobs        int     `json:"blobs"`
	BlobBytes    int     `json:"blob_bytes"`
	Put          Latency `json:"put_blob"`
	Get          Latency `json:"get_blob"`
	PutMBps      float64 `json:"put_mb_per_s"`
	GetMBps      float64 `json:"get_mb_per_s"`
	BytesWritten int64   `json:"bytes_written"` // to storage, flush and compaction included (/proc/self/io)
	WriteAmp     float64 `json:"write_amplification"`
	TieredChunks int     `json:"tiered_chunks"`
	KVChunks     int     `json:"kv_chunks"`
}

// procWriteBytes is this process's write_bytes from /proc/self/io: bytes it
// caused to be sent to storage, RocksDB's background flushes and
// compactions included.
func procWriteBytes() int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// Tier runs the tier benchmark: blobs of blobSize random bytes, n of them.
func Tier(ctx context.Context, n, blobSize, threshold int) (TierReport, error) {
	var rep TierReport
	dir, err := os.MkdirTemp("", "helios-tier-bench-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	for _, b := range []nvme.Backend{nvme.Uring, nvme.Pread} {
		path := filepath.Join(dir, fmt.Sprintf("dev%d", b))
		dev, err := nvme.Open(path, nvme.Options{Backend: b, Size: 256 << 20})
		if err != nil {
			rep.Fallbacks = append(rep.Fallbacks, fmt.Sprintf("backend %d: %v", b, err))
			continue
		}
		rep.Fallbacks = append(rep.Fallbacks, nvme.DescribeDevice(dev).Fallbacks...)
		res, err := nvme.Bench(ctx, dev, []int{4 << 10, 64 << 10, 1 << 20}, []int{1, 16}, 256)
		dev.Close()
		os.Remove(path)
		if err != nil {
			return rep, err
		}
		rep.Devices = append(rep.Devices, res...)
	}
	mem := nvme.NewMem(64<<20, 4096)
	res, err := nvme.Bench(ctx, mem, []int{4 << 10, 64 << 10, 1 << 20}, []int{1, 16}, 256)
	if err != nil {
		return rep, err
	}
	rep.Devices = append(rep.Devices, res...)

	for _, cfg := range []string{"rocksdb-only", "tier-uring", "tier-pread"} {
		r, err := tierStore(filepath.Join(dir, cfg), cfg, n, blobSize, threshold)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", cfg, err)
		}
		rep.Store = append(rep.Store, r)
	}
	return rep, nil
}

func tierStore(dir, cfg string, n, blobSize, threshold int) (TierStoreResult, error) {
	res := TierStoreResult{Config: cfg, Blobs: n, BlobBytes: blobSize}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return res, err
	}
	kv, err := rocksdb.Open(filepath.Join(dir, "db"), rocksdb.Options{Create: true})
	if err != nil {
		return res, err
	}
	opts := objstore.Options{Settings: objstore.DefaultSettings, CacheBytes: -1}
	if cfg != "rocksdb-only" {
		backend := nvme.Uring
		if cfg == "tier-pread" {
			backend = nvme.Pread
		}
		dev, err := nvme.Open(filepath.Join(dir, "tier.log"), nvme.Options{Backend: backend, Size: int64(n*blobSize)*2 + 64<<20})
		if err != nil {
			kv.Close()
			return res, err
		}
		log, err := nvme.OpenLog(dev, nvme.LogOptions{SegmentSize: 8 << 20})
		if err != nil {
			kv.Close()
			dev.Close()
			return res, err
		}
		opts.Settings.TierThreshold = threshold
		opts.Tier, opts.TierDevice = log, dev
		res.Threshold = threshold
	}
	s, err := objstore.Init(kv, opts)
	if err != nil {
		kv.Close()
		return res, err
	}
	defer s.Close()
	rng := rand.New(rand.NewSource(42))
	content := make([]byte, blobSize)
	ids := make([]objstore.ID, 0, n)
	var puts []time.Duration
	w0 := procWriteBytes()
	start := time.Now()
	for i := 0; i < n; i++ {
		rng.Read(content)
		t0 := time.Now()
		w := s.NewWriter()
		id, err := w.PutBlob(content)
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			return res, err
		}
		w.Abort() // nothing pending; releases the gc registration
		puts = append(puts, time.Since(t0))
		ids = append(ids, id)
	}
	putWall := time.Since(start)
	if c, ok := s.KV().(objstore.Compactor); ok {
		c.Flush()
		c.Compact()
	}
	res.BytesWritten = procWriteBytes() - w0
	res.WriteAmp = float64(res.BytesWritten) / float64(n*blobSize)
	res.Put = Summarize(puts)
	res.PutMBps = float64(n*blobSize) / putWall.Seconds() / 1e6
	var gets []time.Duration
	start = time.Now()
	for _, id := range ids {
		t0 := time.Now()
		if _, err := s.Blob(id); err != nil {
			return res, err
		}
		gets = append(gets, time.Since(t0))
	}
	res.GetMBps = float64(n*blobSize) / time.Since(start).Seconds() / 1e6
	res.Get = Summarize(gets)
	s.KV().Scan([]byte{'C'}, func(k, v []byte) error { res.TieredChunks++; return nil })
	s.KV().Scan([]byte{'c'}, func(k, v []byte) error { res.KVChunks++; return nil })
	return res, nil
}
