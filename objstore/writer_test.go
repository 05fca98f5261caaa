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

// PutBlobOwned keeps a small blob's buffer instead of copying it: the
// stored value is the same as PutBlob's, through a plain and a sealed KV,
// by a Write and by an ingestion.
func TestPutBlobOwned(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		t.Run(fmt.Sprint("sealed=", sealed), func(t *testing.T) {
			var kv objstore.KV = objstore.NewMemKV()
			if sealed {
				kv = sealKV(t, kv, 1)
			}
			s := newStore(t, kv)
			for _, flush := range []int{1 << 30, objstore.IngestBytes} {
				w := s.NewWriter()
				w.FlushBytes = flush
				var ids []objstore.ID
				var want [][]byte
				for i := range 2000 {
					content := fmt.Appendf(nil, "owned %d %d %04000d", flush, i, i)
					want = append(want, append([]byte(nil), content...))
					id, err := w.PutBlobOwned(content)
					if err != nil {
						t.Fatal(err)
					}
					ids = append(ids, id)
				}
				copied, err := w.PutBlob(want[7])
				if err != nil || copied != ids[7] {
					t.Fatalf("PutBlob of the same content: %v, %v; want %v", copied, err, ids[7])
				}
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				for i, id := range ids {
					got, err := s.Blob(id)
					if err != nil || string(got) != string(want[i]) {
						t.Fatalf("blob %d: %q, %v", i, got, err)
					}
				}
			}
			if rep, err := s.Fsck(context.Background(), true); err != nil || !rep.Clean() {
				t.Fatalf("fsck: %+v, %v", rep, err)
			}
		})
	}
}
