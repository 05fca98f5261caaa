package server

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/objstore"
)

// lazyKV is a MemKV that says a compaction is pending until it has one.
type lazyKV struct {
	*objstore.MemKV
	pending   atomic.Bool
	compacted atomic.Int32
}

func (k *lazyKV) Flush() error            { return nil }
func (k *lazyKV) CompactionPending() bool { return k.pending.Load() }
func (k *lazyKV) Compact() error          { return nil }
func (k *lazyKV) Settle() error {
	k.compacted.Add(1)
	k.pending.Store(false)
	return nil
}

// TestSettleAfterPush: a push leaves work for the database; the server
// compacts once requests have stopped for the quiet time, not while they keep
// coming, and only once.
func TestSettleAfterPush(t *testing.T) {
	kv := &lazyKV{MemKV: objstore.NewMemKV()}
	s, err := objstore.Init(kv, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const quiet = time.Second
	f := serveStore(t, t.TempDir(), s, Options{SettleQuiet: quiet})
	c := f.client(t)
	var m memObjects
	tip := m.history(t, "x\n", "x", gitobj.OID{})
	kv.pending.Store(true)
	res, err := c.Git(true).Push(context.Background(), []helper.RefUpdate{{Name: "refs/heads/main", Old: gitobj.SHA1.ZeroOID(), New: tip}}, helper.PushOptions{}, &m)
	if err != nil || res[0] != nil {
		t.Fatalf("push: %v %v", res, err)
	}
	// Requests every 50 ms for three times the quiet time: no compaction.
	for end := time.Now().Add(3 * quiet); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, err := c.Refs("refs/"); err != nil {
			t.Fatal(err)
		}
		if n := kv.compacted.Load(); n != 0 {
			t.Fatalf("compacted %d times while requests kept coming", n)
		}
	}
	deadline := time.Now().Add(quiet + 10*time.Second)
	for kv.compacted.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no compaction after the requests stopped")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * quiet)
	if n := kv.compacted.Load(); n != 1 {
		t.Errorf("compacted %d times, want 1", n)
	}
}
