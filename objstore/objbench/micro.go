package objbench

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/helios-vcs/helios/objstore"
)

// Throughput is a hashing rate at one input size.
type Throughput struct {
	Size   int     `json:"size"`
	GBps   float64 `json:"gb_per_s"`
	NsEach float64 `json:"ns_per_op"`
}

// BLAKE3 measures the store's ID function on one core at several sizes.
func BLAKE3(sizes []int, budget time.Duration) []Throughput {
	h := objstore.NewHasher(nil)
	var out []Throughput
	for _, size := range sizes {
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		n := 0
		start := time.Now()
		for time.Since(start) < budget {
			for i := 0; i < 16; i++ {
				h.Sum(objstore.KindBlob, buf)
			}
			n += 16
		}
		el := time.Since(start)
		out = append(out, Throughput{Size: size, GBps: float64(n) * float64(size) / el.Seconds() / 1e9, NsEach: float64(el.Nanoseconds()) / float64(n)})
	}
	return out
}

// CacheHit measures an L1 lookup of a decoded tree that is cached.
func CacheHit(n int) Latency {
	c := objstore.NewCache(64 << 20)
	ids := make([]objstore.ID, 1024)
	for i := range ids {
		ids[i][0], ids[i][1] = byte(i), byte(i>>8)
		c.Add(objstore.KindTree, ids[i], &objstore.Tree{}, 100)
	}
	ds := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		// Time batches of 100 lookups: one is below the clock's resolution.
		t0 := time.Now()
		for j := 0; j < 100; j++ {
			if _, ok := c.Get(objstore.KindTree, ids[(i+j)&1023]); !ok {
				panic("objbench: cache miss")
			}
		}
		ds = append(ds, time.Since(t0)/100)
	}
	return Summarize(ds)
}

// KVResult is the raw engine's put and get latency.
type KVResult struct {
	Put     Latency `json:"put"`
	PutSync Latency `json:"put_sync"`
	Get     Latency `json:"get"`
}

// KV measures single-key RocksDB writes (WAL, with and without fsync) and
// reads of 1 KiB values.
func KV(n int) (KVResult, error) {
	s, _, done, err := OpenTemp(false)
	if err != nil {
		return KVResult{}, err
	}
	defer done()
	kv := s.KV()
	val := make([]byte, 1024)
	var res KVResult
	for _, sync := range []bool{false, true} {
		iters := n
		if sync {
			iters = min(n, 200)
		}
		ds := make([]time.Duration, 0, iters)
		for i := 0; i < iters; i++ {
			var b objstore.Batch
			b.Put([]byte(fmt.Sprintf("xbench/%v/%08d", sync, i)), val)
			t0 := time.Now()
			if err := kv.Write(&b, sync); err != nil {
				return res, err
			}
			ds = append(ds, time.Since(t0))
		}
		if sync {
			res.PutSync = Summarize(ds)
		} else {
			res.Put = Summarize(ds)
		}
	}
	ds := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		k := []byte(fmt.Sprintf("xbench/false/%08d", (i*7919)%n))
		t0 := time.Now()
		if _, err := kv.Get(k); err != nil {
			return res, err
		}
		ds = append(ds, time.Since(t0))
	}
	res.Get = Summarize(ds)
	return res, nil
}

// WorktreeResult is materialize and switch timing.
type WorktreeResult struct {
	Files       int     `json:"files"`
	Materialize Latency `json:"materialize"`
	Switch      Latency `json:"switch_one_file"`
	Snapshot    Latency `json:"snapshot_one_file"`
}

// Worktree measures materializing a state of files files into an empty
// directory, switching a directory between two sibling states that differ
// in one file, and snapshotting a directory after a one-file edit (stat
// walk included).
func Worktree(files, iterations int) (WorktreeResult, error) {
	s, dir, done, err := OpenTemp(false)
	if err != nil {
		return WorktreeResult{}, err
	}
	defer done()
	tree := GenFiles(TreeSpec{Files: files, Seed: 2})
	a, err := Seed(s, "refs/heads/main", tree)
	if err != nil {
		return WorktreeResult{}, err
	}
	paths := make([]string, 0, len(tree))
	for p := range tree {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	d, _ := s.NewDraft(a)
	d.Put(paths[len(paths)/2], objstore.ModeFile, []byte("changed\n"))
	b, err := d.Commit(objstore.CommitOptions{})
	if err != nil {
		return WorktreeResult{}, err
	}
	res := WorktreeResult{Files: files}
	var mat []time.Duration
	for i := 0; i < max(iterations/50, 3); i++ {
		out := filepath.Join(dir, fmt.Sprintf("m%d", i))
		t0 := time.Now()
		if _, err := s.Materialize(a, out); err != nil {
			return res, err
		}
		mat = append(mat, time.Since(t0))
	}
	res.Materialize = Summarize(mat)
	wt := filepath.Join(dir, "m0")
	var sw []time.Duration
	for i := 0; i < iterations; i++ {
		to := b
		if i%2 == 1 {
			to = a
		}
		t0 := time.Now()
		if _, err := s.Checkout(wt, to, objstore.CheckoutOptions{}); err != nil {
			return res, err
		}
		sw = append(sw, time.Since(t0))
	}
	res.Switch = Summarize(sw)
	// Snapshot after a one-file edit. The first snapshot reads every file
	// (all are racy after materialize); age them so the stat cache applies.
	snapDir := filepath.Join(dir, "snap")
	if _, err := s.Materialize(a, snapDir); err != nil {
		return res, err
	}
	old := time.Now().Add(-time.Hour)
	for _, p := range paths {
		os.Chtimes(filepath.Join(snapDir, p), old, old)
	}
	if _, err := s.Snapshot(snapDir, objstore.SnapshotOptions{Ref: "refs/heads/snap"}); err != nil {
		return res, err
	}
	var sn []time.Duration
	for i := 0; i < iterations; i++ {
		p := filepath.Join(snapDir, paths[(i*31)%len(paths)])
		if err := os.WriteFile(p, []byte(fmt.Sprintf("edit %d\n", i)), 0o644); err != nil {
			return res, err
		}
		t0 := time.Now()
		r, err := s.Snapshot(snapDir, objstore.SnapshotOptions{Ref: "refs/heads/snap"})
		if err != nil {
			return res, err
		}
		sn = append(sn, time.Since(t0))
		if !r.Changed {
			return res, fmt.Errorf("objbench: snapshot %d saw no change", i)
		}
	}
	res.Snapshot = Summarize(sn)
	return res, nil
}
