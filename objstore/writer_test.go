package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/helios-vcs/helios/objstore"
)

// A writer with background flushes stores every object, in put order
// (each batch before the next), and the commit finds them all; a failed
// background write is reported by a later call and moves no ref.
func TestWriterBackgroundFlush(t *testing.T) {
	kv := objstore.NewMemKV()
	s := newStore(t, kv)
	w := s.NewWriter()
	w.Background = true
	w.FlushBytes = 4 << 10
	var tree objstore.Tree
	for i := range 500 {
		id, err := w.PutBlob(fmt.Appendf(nil, "blob %d %0100d", i, i))
		if err != nil {
			t.Fatal(err)
		}
		tree.Entries = append(tree.Entries, objstore.Entry{Name: fmt.Sprintf("f%03d", i), Mode: objstore.ModeFile, ID: id})
	}
	root, err := w.PutTree(&tree)
	if err != nil {
		t.Fatal(err)
	}
	state, err := w.PutState(&objstore.State{Root: root, Message: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(objstore.RefUpdate{Name: "refs/heads/main", New: state}); err != nil {
		t.Fatal(err)
	}
	if kv.Writes < 5 {
		t.Errorf("%d writes, want the objects in several batches", kv.Writes)
	}
	if rep, err := s.Fsck(context.Background(), true); err != nil || !rep.Clean() {
		t.Fatalf("fsck: %+v, %v", rep, err)
	}

	fail := errors.New("disk full")
	w = s.NewWriter()
	w.Background = true
	w.FlushBytes = 1 << 10
	kv.FailWrites(fail)
	var last error
	for i := 0; i < 100 && last == nil; i++ {
		_, last = w.PutBlob(fmt.Appendf(nil, "other %d %0200d", i, i))
	}
	if last == nil {
		last = w.Flush()
	}
	if !errors.Is(last, fail) {
		t.Fatalf("got %v, want the background write's error", last)
	}
	st, _ := w.PutState(&objstore.State{Root: root, Message: "n"})
	if err := w.Commit(objstore.RefUpdate{Name: "refs/heads/main", Old: state, New: st}); !errors.Is(err, fail) {
		t.Fatalf("commit after a failed background write: got %v", err)
	}
	w.Abort()
	kv.FailWrites(nil)
	if r, err := s.Ref("refs/heads/main"); err != nil || r.ID != state {
		t.Fatalf("main = %v, %v; want it unmoved", r, err)
	}
}
