// Package objbench measures the store: state commits, the L1 cache,
// BLAKE3, the KV engine, materialize and checkout. `helios bench` prints
// what it returns; BENCHMARKS.md records it. Nothing here asserts a speed:
// figures are measured and reported, and compared against their budgets by
// the reader (or by the Phase-0 report).
package objbench

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
)

// Latency summarizes a set of durations.
type Latency struct {
	N     int     `json:"iterations"`
	P50us float64 `json:"p50_us"`
	P95us float64 `json:"p95_us"`
	P99us float64 `json:"p99_us"`
	MaxUs float64 `json:"max_us"`
	Mean  float64 `json:"mean_us"`
}

// Summarize sorts ds and returns its percentiles.
func Summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	pct := func(p float64) float64 {
		i := int(p*float64(len(ds))+0.5) - 1
		i = max(0, min(i, len(ds)-1))
		return float64(ds[i].Nanoseconds()) / 1e3
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Latency{N: len(ds), P50us: pct(0.50), P95us: pct(0.95), P99us: pct(0.99), MaxUs: pct(1), Mean: float64(sum.Nanoseconds()) / float64(len(ds)) / 1e3}
}

// TreeSpec shapes a generated source tree.
type TreeSpec struct {
	Files    int // total files
	PerDir   int // files per directory (default 25)
	FileSize int // bytes per file (default 2 KiB)
	Seed     int64
}

// GenFiles returns a deterministic tree of text files laid out like a
// source repository: directories two levels deep, PerDir files each.
func GenFiles(spec TreeSpec) map[string][]byte {
	if spec.PerDir == 0 {
		spec.PerDir = 25
	}
	if spec.FileSize == 0 {
		spec.FileSize = 2048
	}
	rng := rand.New(rand.NewSource(spec.Seed))
	out := make(map[string][]byte, spec.Files)
	for i := 0; i < spec.Files; i++ {
		d := i / spec.PerDir
		p := fmt.Sprintf("pkg%02d/sub%02d/file%04d.go", d/8, d%8, i)
		out[p] = genText(rng, spec.FileSize)
	}
	return out
}

func genText(rng *rand.Rand, n int) []byte {
	words := []string{"func", "return", "if", "err", "nil", "for", "range", "x", "y", ":=", "{", "}", "(", ")", "ctx", "state", "tree", "id", "0", "1"}
	b := make([]byte, 0, n+16)
	for len(b) < n {
		b = append(b, words[rng.Intn(len(words))]...)
		if rng.Intn(8) == 0 {
			b = append(b, '\n')
		} else {
			b = append(b, ' ')
		}
	}
	return b[:n]
}

// OpenTemp makes a RocksDB-backed store in a new temporary directory; the
// returned func closes and removes it.
func OpenTemp(durable bool) (*objstore.Store, string, func(), error) {
	dir, err := os.MkdirTemp("", "helios-bench-")
	if err != nil {
		return nil, "", nil, err
	}
	kv, err := rocksdb.Open(filepath.Join(dir, "db"), rocksdb.Options{Create: true})
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", nil, err
	}
	s, err := objstore.Init(kv, objstore.Options{Durable: durable})
	if err != nil {
		kv.Close()
		os.RemoveAll(dir)
		return nil, "", nil, err
	}
	return s, dir, func() { s.Close(); os.RemoveAll(dir) }, nil
}

// Seed commits files as the first state on ref.
func Seed(s *objstore.Store, ref string, files map[string][]byte) (objstore.ID, error) {
	d, err := s.NewDraft(objstore.ZeroID)
	if err != nil {
		return objstore.ZeroID, err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := d.Put(p, objstore.ModeFile, files[p]); err != nil {
			return objstore.ZeroID, err
		}
	}
	return d.Commit(objstore.CommitOptions{Ref: ref, Message: "seed"})
}

// CommitResult is `helios bench commit`'s output.
type CommitResult struct {
	Files   int     `json:"files"`
	Durable bool    `json:"durable"`
	Workers int     `json:"workers"`
	Latency         // of one Put + Commit (with its ref CAS), per worker
	PerSec  float64 `json:"commits_per_sec"`
	// BytesPerCommit is what the store handed the KV per commit (keys and
	// values; before RocksDB's WAL framing, flush and compaction).
	BytesPerCommit float64 `json:"kv_bytes_per_commit"`
}

// Commit measures state commits of one changed file in a tree of
// files files: each iteration edits one line of a random file and commits,
// moving a ref by compare-and-swap. With workers > 1 that many goroutines
// commit to their own refs at once (with durable, they share fsyncs).
func Commit(files, iterations, workers int, durable bool) (CommitResult, error) {
	s, _, done, err := OpenTemp(durable)
	if err != nil {
		return CommitResult{}, err
	}
	defer done()
	tree := GenFiles(TreeSpec{Files: files, Seed: 1})
	base, err := Seed(s, "refs/heads/main", tree)
	if err != nil {
		return CommitResult{}, err
	}
	paths := make([]string, 0, len(tree))
	for p := range tree {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	workers = max(workers, 1)
	per := make([][]time.Duration, workers)
	errs := make([]error, workers)
	before := s.Stats().BytesWritten
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			ref := fmt.Sprintf("refs/heads/w%d", w)
			d, err := s.NewDraft(base)
			if err != nil {
				errs[w] = err
				return
			}
			rng := rand.New(rand.NewSource(int64(w)))
			create := true
			for i := 0; i < iterations; i++ {
				p := paths[rng.Intn(len(paths))]
				content := append([]byte(nil), tree[p]...)
				line := fmt.Sprintf("\n// edit %d %d\n", w, i)
				at := rng.Intn(len(content) - len(line))
				copy(content[at:], line)
				t0 := time.Now()
				if err := d.Put(p, objstore.ModeFile, content); err != nil {
					errs[w] = err
					return
				}
				if _, err := d.Commit(objstore.CommitOptions{Ref: ref, CreateRef: create, Message: "edit"}); err != nil {
					errs[w] = err
					return
				}
				per[w] = append(per[w], time.Since(t0))
				create = false
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for w := range per {
		if errs[w] != nil {
			return CommitResult{}, errs[w]
		}
		all = append(all, per[w]...)
	}
	n := len(all)
	return CommitResult{
		Files: files, Durable: durable, Workers: workers, Latency: Summarize(all),
		PerSec:         float64(n) / elapsed.Seconds(),
		BytesPerCommit: float64(s.Stats().BytesWritten-before) / float64(n),
	}, nil
}
