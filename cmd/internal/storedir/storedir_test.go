package storedir

import (
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
)

// TestReadOnlyOpenBesideBulkPush opens the store read-only, as a
// HELIOS_NO_SERVER fetch does, again and again while a writer commits
// states whose objects are big enough to be ingested as table files (a
// push's), each moving a ref. Every view Open returns must reach the
// objects behind every ref it shows.
func TestReadOnlyOpenBesideBulkPush(t *testing.T) {
	dir := t.TempDir()
	kv, err := rocksdb.Open(DBDir(dir), rocksdb.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	w, err := objstore.Init(kv, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	start := time.Now()
	var stop atomic.Bool
	var rounds atomic.Int64
	done := make(chan error, 1)
	go func() {
		old := objstore.ZeroID
		for i := 0; !stop.Load(); i++ {
			content := make([]byte, objstore.IngestBytes+1024)
			rand.Read(content)
			wr := w.NewWriter()
			blob, err := wr.PutBlob(content)
			if err != nil {
				done <- err
				return
			}
			root, err := wr.PutTree(&objstore.Tree{Entries: []objstore.Entry{{Name: "big", Mode: objstore.ModeFile, ID: blob}}})
			if err != nil {
				done <- err
				return
			}
			st, err := wr.PutState(&objstore.State{Root: root, Message: fmt.Sprint(i)})
			if err != nil {
				done <- err
				return
			}
			if err := wr.Commit(objstore.RefUpdate{Name: "refs/heads/main", Old: old, New: st}); err != nil {
				done <- err
				return
			}
			old = st
			rounds.Add(1)
		}
		done <- nil
	}()
	defer func() {
		stop.Store(true)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	for rounds.Load() == 0 && time.Since(start) < time.Minute {
		time.Sleep(time.Millisecond)
	}
	deadline := time.Now().Add(2 * time.Second)
	opens := 0
	for time.Now().Before(deadline) {
		r, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("open %d: %v", opens, err)
		}
		opens++
		err = r.CheckRefTargets()
		if err == nil {
			var main objstore.ID
			if main, _, err = r.Resolve("refs/heads/main"); err == nil {
				_, _, err = r.ReadFile(main, "big")
			}
		}
		r.Close()
		if err != nil {
			t.Fatalf("open %d: a read-only view shows a ref without its objects: %v", opens, err)
		}
	}
	t.Logf("%d read-only opens beside %d bulk commits", opens, rounds.Load())
	if rounds.Load() < 2 {
		t.Errorf("only %d commits: the writer did not run beside the reader", rounds.Load())
	}
}
