package server

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/helios-vcs/helios/objstore"
)

// BenchmarkRoundTrip is the per-request cost of the protocol: a status
// request over the store's socket.
func BenchmarkRoundTrip(b *testing.B) {
	dir := b.TempDir()
	s, err := openRocks(dir)
	if err != nil {
		b.Fatal(err)
	}
	f := serveStoreB(b, dir, s, Options{})
	c, err := Dial(f, "")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Refs("refs/heads/"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshot1000 is a snapshot through the server after a one-line
// edit in a 1,000-file tree, without process start (see
// scripts/bench-snapshot.sh for the whole command), with the file watcher
// and with a stat walk.
func BenchmarkSnapshot1000(b *testing.B) {
	b.Run("watch", func(b *testing.B) { benchSnapshot1000(b, Options{}) })
	b.Run("stat-walk", func(b *testing.B) { benchSnapshot1000(b, Options{Watch: WatchOptions{Disabled: true}}) })
}

func benchSnapshot1000(b *testing.B, o Options) {
	dir := b.TempDir()
	s, err := openRocks(dir)
	if err != nil {
		b.Fatal(err)
	}
	f := serveStoreB(b, dir, s, o)
	wt := filepath.Join(b.TempDir(), "wt")
	for i := range 1000 {
		p := filepath.Join(wt, fmt.Sprintf("d%d/s%d/f%d.go", i%20, i%3, i))
		os.MkdirAll(filepath.Dir(p), 0o777)
		os.WriteFile(p, fmt.Appendf(nil, "package p\n// %d\n", i), 0o644)
	}
	c, err := Dial(f, "")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Snapshot(SnapshotRequest{Dir: wt, Ref: "refs/heads/main"}); err != nil {
		b.Fatal(err)
	}
	i := 0
	var lat []time.Duration
	for b.Loop() {
		i++
		b.StopTimer()
		j := i % 1000
		p := filepath.Join(wt, fmt.Sprintf("d%d/s%d/f%d.go", j%20, j%3, j))
		fh, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		fmt.Fprintf(fh, "// edit %d\n", i)
		fh.Close()
		b.StartTimer()
		t0 := time.Now()
		res, err := c.Snapshot(SnapshotRequest{Dir: wt, Ref: "refs/heads/main"})
		lat = append(lat, time.Since(t0))
		if err != nil || !res.Changed {
			b.Fatal(res, err)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds()), "p95-µs")
}

func serveStoreB(b *testing.B, dir string, s *objstore.Store, o Options) string {
	lock, err := LockServer(dir, 0)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := Listen(dir)
	if err != nil {
		b.Fatal(err)
	}
	o.Store = s
	srv := New(o)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	b.Cleanup(func() { srv.Shutdown(); <-done; s.Close(); lock.Release() })
	return dir
}
