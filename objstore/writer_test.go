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

// StartFlush writes a bulk load's worth of pending objects while the
// caller goes on (one ingestion, then the state in a write of its own),
// and leaves fewer pending bytes for the next Flush, which writes them in
// one go with what comes after.
func TestWriterStartFlush(t *testing.T) {
	for _, big := range []bool{false, true} {
		t.Run(fmt.Sprint("big=", big), func(t *testing.T) {
			kv := objstore.NewMemKV()
			s := newStore(t, kv)
			writes0 := kv.Writes // the store's own, at Init
			w := s.NewWriter()
			w.Background = true
			w.FlushBytes = 1 << 30
			n := 100
			if big {
				n = objstore.IngestBytes/4000 + 1
			}
			var tree objstore.Tree
			for i := range n {
				id, err := w.PutBlob(fmt.Appendf(nil, "blob %d %04000d", i, i))
				if err != nil {
					t.Fatal(err)
				}
				tree.Entries = append(tree.Entries, objstore.Entry{Name: fmt.Sprintf("f%04d", i), Mode: objstore.ModeFile, ID: id})
			}
			root, err := w.PutTree(&tree)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.StartFlush(); err != nil {
				t.Fatal(err)
			}
			state, err := w.PutState(&objstore.State{Root: root, Message: "m"})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			want := int64(1)
			if big {
				want = 2
			}
			if got := kv.Writes - writes0; got != want || kv.Ingests != want-1 {
				t.Errorf("%d writes, %d ingestions; want %d and %d", got, kv.Ingests, want, want-1)
			}
			if err := w.Commit(objstore.RefUpdate{Name: "refs/heads/main", New: state}); err != nil {
				t.Fatal(err)
			}
			if rep, err := s.Fsck(context.Background(), true); err != nil || !rep.Clean() {
				t.Fatalf("fsck: %+v, %v", rep, err)
			}
		})
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

// An Uncached writer's trees stay out of the store's cache; a plain
// writer's go in once written. Both read back the same.
func TestWriterUncached(t *testing.T) {
	s := newStore(t, objstore.NewMemKV())
	for _, uncached := range []bool{true, false} {
		w := s.NewWriter()
		w.Uncached = uncached
		blob, err := w.PutBlob(fmt.Append(nil, "uncached ", uncached))
		if err != nil {
			t.Fatal(err)
		}
		tree := &objstore.Tree{Entries: []objstore.Entry{{Name: "f", Mode: objstore.ModeFile, ID: blob}}}
		id, err := w.PutTree(tree)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, cached := s.Cache().Get(objstore.KindTree, id); cached == uncached {
			t.Errorf("Uncached %v: tree cached %v", uncached, cached)
		}
		if got, err := s.Tree(id); err != nil || len(got.Entries) != 1 || got.Entries[0].ID != blob {
			t.Errorf("Uncached %v: tree reads back as %+v, %v", uncached, got, err)
		}
	}
}

// A writer reuses its chunker across large blobs: each blob is cut as a
// fresh writer would cut it, whatever was cut before.
func TestWriterChunksAlike(t *testing.T) {
	big := func(seed int) []byte {
		var b []byte
		for i := 0; len(b) < 300<<10; i++ {
			b = fmt.Appendf(b, "%d line %d of a large file, %x\n", seed, i, i*i*(seed+7))
		}
		return b
	}
	a, b := big(1), big(2)
	cut := func(s *objstore.Store, id objstore.ID) []objstore.ChunkRef {
		t.Helper()
		_, chunks, err := s.BlobChunks(id)
		if err != nil {
			t.Fatal(err)
		}
		return chunks
	}
	fresh := newStore(t, objstore.NewMemKV())
	w := fresh.NewWriter()
	idB, err := w.PutBlob(b)
	if err != nil || w.Flush() != nil {
		t.Fatal(err)
	}
	want := cut(fresh, idB)
	if len(want) < 5 {
		t.Fatalf("a 300 KiB blob in %d chunks", len(want))
	}
	s := newStore(t, objstore.NewMemKV())
	w = s.NewWriter()
	if _, err := w.PutBlob(a[:len(a)-12345]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.PutBlob(b); err != nil || w.Flush() != nil {
		t.Fatal(err)
	}
	if got := cut(s, idB); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after another blob, cut into %v; alone, %v", got, want)
	}
}

// A writer keeps what it found stored and links to (Keep) through a gc,
// as it keeps what it put; and when a gc collected a found object before
// Keep (between the lookup and Keep), the commit fails instead of moving
// a ref to a state with a hole.
func TestWriterKeep(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, objstore.NewMemKV())
	// unreferenced stores a blob no ref reaches (an aborted push's).
	unreferenced := func(content string) objstore.ID {
		w := s.NewWriter()
		id, err := w.PutBlob([]byte(content))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		w.Abort()
		return id
	}
	commitLinking := func(w *objstore.Writer, ref string, blob objstore.ID) error {
		root, err := w.PutTree(&objstore.Tree{Entries: []objstore.Entry{{Name: "f", Mode: objstore.ModeFile, ID: blob}}})
		if err != nil {
			return err
		}
		st, err := w.PutState(&objstore.State{Root: root, Message: ref})
		if err != nil {
			return err
		}
		return w.Commit(objstore.RefUpdate{Name: ref, New: st})
	}

	// Kept, then a gc: the blob stays and the commit lands.
	a := unreferenced("found a")
	w := s.NewWriter()
	w.Keep(objstore.KindBlob, a)
	if _, err := s.GC(ctx, false); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Has(objstore.KindBlob, a); err != nil || !ok {
		t.Fatalf("a kept blob was collected: %v, %v", ok, err)
	}
	if err := commitLinking(w, "refs/heads/a", a); err != nil {
		t.Fatal(err)
	}

	// Found, collected by a gc, then kept: the commit fails, no ref moves.
	b := unreferenced("found b")
	w = s.NewWriter()
	if ok, err := s.Has(objstore.KindBlob, b); err != nil || !ok { // the lookup
		t.Fatal(ok, err)
	}
	if _, err := s.GC(ctx, false); err != nil {
		t.Fatal(err)
	}
	w.Keep(objstore.KindBlob, b)
	if err := commitLinking(w, "refs/heads/b", b); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("commit linking a collected blob: %v, want ErrNotFound", err)
	}
	w.Abort()
	if _, err := s.Ref("refs/heads/b"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("refs/heads/b = %v, want no ref", err)
	}
	// Without a gc in between, nothing is checked and the commit lands.
	c := unreferenced("found c")
	w = s.NewWriter()
	w.Keep(objstore.KindBlob, c)
	if err := commitLinking(w, "refs/heads/c", c); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Fsck(ctx, true); err != nil || !rep.Clean() {
		t.Fatalf("fsck: %+v, %v", rep, err)
	}
}
