package objbench

import (
	"context"
	"testing"
	"time"
)

// The benchmarks run small here to check they work and report sane
// shapes; the figures themselves come from `helios bench`.
func TestCommitBenchRuns(t *testing.T) {
	for _, durable := range []bool{false, true} {
		r, err := Commit(100, 20, 2, durable)
		if err != nil {
			t.Fatal(err)
		}
		if r.N != 40 || r.Files != 100 || r.P50us <= 0 || r.P95us < r.P50us || r.BytesPerCommit <= 0 {
			t.Errorf("durable=%v: %+v", durable, r)
		}
	}
}

func TestMicroBenchesRun(t *testing.T) {
	if th := BLAKE3([]int{64 << 10}, 5*time.Millisecond); len(th) != 1 || th[0].GBps <= 0 {
		t.Errorf("BLAKE3 = %+v", th)
	}
	if l := CacheHit(100); l.N != 100 || l.P50us <= 0 {
		t.Errorf("CacheHit = %+v", l)
	}
	kv, err := KV(50)
	if err != nil || kv.Get.N != 50 || kv.PutSync.N != 50 {
		t.Errorf("KV = %+v, %v", kv, err)
	}
	wt, err := Worktree(60, 6)
	if err != nil || wt.Switch.N != 6 || wt.Snapshot.N != 6 || wt.Materialize.N != 3 {
		t.Errorf("Worktree = %+v, %v", wt, err)
	}
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Microsecond)
	}
	l := Summarize(ds)
	if l.P50us != 50 || l.P95us != 95 || l.P99us != 99 || l.MaxUs != 100 || l.N != 100 {
		t.Errorf("Summarize = %+v", l)
	}
	if (Summarize(nil) != Latency{}) {
		t.Error("empty summary")
	}
}

func TestTierBenchRuns(t *testing.T) {
	rep, err := Tier(context.Background(), 4, 256<<10, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Store) != 3 || len(rep.Devices) == 0 {
		t.Fatalf("report = %+v", rep)
	}
	for _, r := range rep.Store {
		if r.Put.N != 4 || r.Get.N != 4 || r.PutMBps <= 0 {
			t.Errorf("%s: %+v", r.Config, r)
		}
		if (r.Config == "rocksdb-only") != (r.TieredChunks == 0) {
			t.Errorf("%s: %d tiered chunks", r.Config, r.TieredChunks)
		}
	}
}
