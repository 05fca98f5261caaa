package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
)

// engines runs fn against a store on each KV engine: the layers above the
// KV must behave the same on both.
func engines(t *testing.T, fn func(t *testing.T, newStore func(t *testing.T) *objstore.Store)) {
	t.Run("mem", func(t *testing.T) {
		fn(t, func(t *testing.T) *objstore.Store { return newStore(t, objstore.NewMemKV()) })
	})
	t.Run("rocksdb", func(t *testing.T) {
		fn(t, func(t *testing.T) *objstore.Store {
			kv, err := rocksdb.Open(t.TempDir(), rocksdb.Options{Create: true})
			if err != nil {
				t.Fatal(err)
			}
			return newStore(t, kv)
		})
	})
}

var fixedTime = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func newStore(t *testing.T, kv objstore.KV) *objstore.Store {
	t.Helper()
	s, err := objstore.Init(kv, objstore.Options{Now: func() time.Time { return fixedTime }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func commitFiles(t *testing.T, s *objstore.Store, base objstore.ID, ref string, files map[string]string) objstore.ID {
	t.Helper()
	create := false
	if ref != "" && !base.IsZero() {
		if cur, _, err := s.Resolve(ref); err != nil || cur != base {
			create = true
		}
	}
	d, err := s.NewDraft(base)
	if err != nil {
		t.Fatal(err)
	}
	for p, c := range files {
		if c == "" {
			if err := d.Delete(p); err != nil {
				t.Fatalf("Delete(%q): %v", p, err)
			}
			continue
		}
		if err := d.Put(p, objstore.ModeFile, []byte(c)); err != nil {
			t.Fatalf("Put(%q): %v", p, err)
		}
	}
	id, err := d.Commit(objstore.CommitOptions{Ref: ref, Message: "test", CreateRef: create})
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return id
}

func readAll(t *testing.T, s *objstore.Store, state objstore.ID) map[string]string {
	t.Helper()
	st, err := s.State(state)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	err = s.Walk(st.Root, func(p string, e objstore.Entry) error {
		if e.Mode.IsBlob() {
			b, err := s.Blob(e.ID)
			if err != nil {
				return err
			}
			out[p] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDraftCommitRead(t *testing.T) {
	engines(t, func(t *testing.T, ns func(t *testing.T) *objstore.Store) {
		s := ns(t)
		s1 := commitFiles(t, s, objstore.ZeroID, "refs/heads/main", map[string]string{
			"README": "hello\n", "src/a.go": "package a\n", "src/b/c.go": "package b\n",
		})
		got, _, err := s.Resolve("HEAD")
		if err != nil || got != s1 {
			t.Fatalf("HEAD resolves to %v, %v, want %v", got, err, s1)
		}
		s2 := commitFiles(t, s, s1, "refs/heads/main", map[string]string{"src/a.go": "package a // v2\n", "src/b/c.go": "", "new/x": "x"})
		want := map[string]string{"README": "hello\n", "src/a.go": "package a // v2\n", "new/x": "x"}
		if diff := cmp.Diff(want, readAll(t, s, s2)); diff != "" {
			t.Errorf("state 2 (-want +got):\n%s", diff)
		}
		// src/b became empty and vanished; the old state is untouched.
		if _, err := s.Stat(s2, "src/b"); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("empty dir survived: %v", err)
		}
		if _, b, err := s.ReadFile(s1, "src/b/c.go"); err != nil || string(b) != "package b\n" {
			t.Errorf("old state changed: %q, %v", b, err)
		}
		st, _ := s.State(s2)
		if len(st.Parents) != 1 || st.Parents[0] != s1 || st.Message != "test" || !st.Author.When.Equal(fixedTime) {
			t.Errorf("state 2 = %+v", st)
		}
		ents, err := s.ListTree(s2, "")
		if err != nil || len(ents) != 3 {
			t.Errorf("ListTree root = %v, %v", ents, err)
		}
		if _, err := s.ListTree(s2, "README"); err == nil {
			t.Error("ListTree of a file succeeded")
		}
		if _, _, err := s.ReadFile(s2, "src"); err == nil {
			t.Error("ReadFile of a directory succeeded")
		}
		ids, sts, err := s.Log(s2, 0)
		if err != nil || len(ids) != 2 || ids[1] != s1 || len(sts) != 2 {
			t.Errorf("Log = %v, %v", ids, err)
		}
		if id, err := s.ResolveState("main"); err != nil || id != s2 {
			t.Errorf("ResolveState(main) = %v, %v", id, err)
		}
		if id, err := s.ResolveState(s1.String()); err != nil || id != s1 {
			t.Errorf("ResolveState(id) = %v, %v", id, err)
		}
		if _, err := s.ResolveState("nope"); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("ResolveState(nope) = %v", err)
		}
	})
}

func TestCommitWritesOnlyThePath(t *testing.T) {
	kv := objstore.NewMemKV()
	s := newStore(t, kv)
	files := map[string]string{}
	for d := 0; d < 10; d++ {
		for f := 0; f < 10; f++ {
			files[fmt.Sprintf("d%d/f%d.txt", d, f)] = fmt.Sprintf("content %d %d\n", d, f)
		}
	}
	base := commitFiles(t, s, objstore.ZeroID, "refs/heads/main", files)
	before := kv.WriteBytes
	d, _ := s.NewDraft(base)
	d.Put("d3/f4.txt", objstore.ModeFile, []byte("changed\n"))
	if _, err := d.Commit(objstore.CommitOptions{Ref: "refs/heads/main"}); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	// One blob, two trees (d3 and root), one state: 4 objects.
	if st.ObjectsWritten-int64(100+11+1) != 4 {
		t.Errorf("objects written by the edit: %d, want 4", st.ObjectsWritten-112)
	}
	if n := kv.WriteBytes - before; n > 2000 {
		t.Errorf("edit wrote %d bytes, want < 2000 for 2 small trees", n)
	}
	// Unchanged content is not rewritten.
	d.Put("d3/f4.txt", objstore.ModeFile, []byte("changed\n"))
	if _, err := d.Commit(objstore.CommitOptions{}); !errors.Is(err, objstore.ErrNothingToCommit) {
		t.Errorf("re-putting same content: %v, want ErrNothingToCommit", err)
	}
}

func TestRefCompareAndSwap(t *testing.T) {
	engines(t, func(t *testing.T, ns func(t *testing.T) *objstore.Store) {
		s := ns(t)
		a := commitFiles(t, s, objstore.ZeroID, "refs/heads/main", map[string]string{"f": "1"})
		b := commitFiles(t, s, a, "refs/heads/main", map[string]string{"f": "2"})
		// A draft still on a loses the race.
		d, _ := s.NewDraft(a)
		d.Put("f", objstore.ModeFile, []byte("3"))
		_, err := d.Commit(objstore.CommitOptions{Ref: "refs/heads/main"})
		var ce *objstore.RefConflictError
		if !errors.As(err, &ce) || ce.Got != b || ce.Want != a || !errors.Is(err, objstore.ErrRefConflict) {
			t.Fatalf("stale commit: got %v, want conflict got=b want=a", err)
		}
		if cur, _, _ := s.Resolve("refs/heads/main"); cur != b {
			t.Fatalf("ref moved by a losing update: %v", cur)
		}
		// Atomic multi-ref: one bad expectation and nothing moves.
		err = s.UpdateRefs(
			objstore.RefUpdate{Name: "refs/heads/x", New: a},
			objstore.RefUpdate{Name: "refs/heads/main", Old: a, New: a},
		)
		if !errors.Is(err, objstore.ErrRefConflict) {
			t.Fatalf("got %v, want conflict", err)
		}
		if _, err := s.Ref("refs/heads/x"); !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("half of an atomic update landed: %v", err)
		}
		// Create, force, delete.
		if err := s.UpdateRefs(objstore.RefUpdate{Name: "refs/tags/v1", New: a}); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateRefs(objstore.RefUpdate{Name: "refs/tags/v1", New: a}); !errors.Is(err, objstore.ErrRefConflict) {
			t.Errorf("create over existing: %v", err)
		}
		if err := s.UpdateRefs(objstore.RefUpdate{Name: "refs/tags/v1", New: b, IgnoreOld: true}); err != nil {
			t.Errorf("forced: %v", err)
		}
		if err := s.UpdateRefs(objstore.RefUpdate{Name: "refs/tags/v1", Old: b}); err != nil {
			t.Errorf("delete: %v", err)
		}
		if err := s.UpdateRefs(objstore.RefUpdate{Name: "refs/heads/y", New: objstore.ID{1}}); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("ref to missing state: %v", err)
		}
		if err := s.UpdateRefs(objstore.RefUpdate{Name: "refs/heads/bad..name", New: a}); !errors.Is(err, objstore.ErrBadRefName) {
			t.Errorf("bad name: %v", err)
		}
		if err := s.UpdateRefs(objstore.RefUpdate{Name: "refs/heads/z", New: a}, objstore.RefUpdate{Name: "refs/heads/z", Old: a, New: b}); err == nil {
			t.Error("two updates of one ref in a batch accepted")
		}
		// Updating through the symbolic HEAD moves its target.
		if err := s.UpdateRefs(objstore.RefUpdate{Name: "HEAD", Old: b, New: a}); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.Ref("HEAD"); r.Target != "refs/heads/main" {
			t.Errorf("HEAD became %+v", r)
		}
		if cur, _, _ := s.Resolve("refs/heads/main"); cur != a {
			t.Errorf("update through HEAD: main = %v", cur)
		}
		if err := s.SetSymbolicRef("HEAD", "refs/heads/dev"); err != nil {
			t.Fatal(err)
		}
		if _, name, err := s.Resolve("HEAD"); !errors.Is(err, objstore.ErrNotFound) || name != "refs/heads/dev" {
			t.Errorf("unborn HEAD: %v %v", name, err)
		}
		refs, _ := s.Refs("refs/heads/")
		if len(refs) != 1 || refs[0].Name != "refs/heads/main" {
			t.Errorf("Refs = %+v", refs)
		}
	})
}

func TestConcurrentCommitsNoLostUpdate(t *testing.T) {
	engines(t, func(t *testing.T, ns func(t *testing.T) *objstore.Store) {
		s := ns(t)
		base := commitFiles(t, s, objstore.ZeroID, "refs/heads/main", map[string]string{"n": "0"})
		const workers, each = 4, 25
		var wg sync.WaitGroup
		var mu sync.Mutex
		landed := 0
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					for {
						cur, _, _ := s.Resolve("refs/heads/main")
						d, err := s.NewDraft(cur)
						if err != nil {
							t.Error(err)
							return
						}
						d.Put(fmt.Sprintf("w%d/%d", w, i), objstore.ModeFile, []byte("x"))
						_, err = d.Commit(objstore.CommitOptions{Ref: "refs/heads/main"})
						if errors.Is(err, objstore.ErrRefConflict) {
							continue
						}
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						landed++
						mu.Unlock()
						break
					}
				}
			}(w)
		}
		wg.Wait()
		head, _, _ := s.Resolve("refs/heads/main")
		files := readAll(t, s, head)
		if len(files) != 1+workers*each || landed != workers*each {
			t.Fatalf("head has %d files, %d commits landed; want %d", len(files), landed, 1+workers*each)
		}
		ids, _, _ := s.Log(head, 0)
		if len(ids) != 1+workers*each || ids[len(ids)-1] != base {
			t.Errorf("history has %d states, want %d", len(ids), 1+workers*each)
		}
	})
}

func TestDiff(t *testing.T) {
	s := newStore(t, objstore.NewMemKV())
	a := commitFiles(t, s, objstore.ZeroID, "", map[string]string{"a": "1", "b/c": "2", "b/d": "3", "e": "4", "x": "5"})
	d, _ := s.NewDraft(a)
	d.Put("a", objstore.ModeFile, []byte("1 changed"))
	d.Delete("b/c")
	d.Put("e", objstore.ModeExec, []byte("4")) // chmod +x
	d.Delete("x")
	d.Put("x/y", objstore.ModeFile, []byte("file became dir"))
	d.Put("n/m", objstore.ModeSymlink, []byte("../a"))
	b, err := d.Commit(objstore.CommitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := s.DiffStates(a, b)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range ch {
		got[c.Path] = c.Op.String()
	}
	want := map[string]string{"a": "modified", "b/c": "deleted", "e": "mode changed", "x": "deleted", "x/y": "added", "n/m": "added"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
	if ch, _ := s.DiffStates(b, b); len(ch) != 0 {
		t.Errorf("self diff = %v", ch)
	}
	all, _ := s.DiffStates(objstore.ZeroID, b)
	if len(all) != 5 {
		t.Errorf("diff from empty: %d changes, want 5 files", len(all))
	}
}

func TestDraftEdgeCases(t *testing.T) {
	s := newStore(t, objstore.NewMemKV())
	d, _ := s.NewDraft(objstore.ZeroID)
	if err := d.Put("../x", objstore.ModeFile, nil); !errors.Is(err, objstore.ErrBadPath) {
		t.Errorf("Put(../x) = %v", err)
	}
	if err := d.Put("a", objstore.ModeDir, nil); err == nil {
		t.Error("Put with dir mode accepted")
	}
	if err := d.Delete("missing"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Delete(missing) = %v", err)
	}
	d.Put("f", objstore.ModeFile, []byte("file"))
	d.Put("f/g", objstore.ModeFile, []byte("now a dir")) // replaces file f
	if e, err := d.Get("f"); err != nil || !e.Mode.IsDir() {
		t.Errorf("f = %v, %v, want a directory", e, err)
	}
	d.Put("f", objstore.ModeFile, []byte("a file again")) // replaces the dir
	if _, err := d.Get("f/g"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("f/g survived: %v", err)
	}
	var gl objstore.ID
	copy(gl[:], bytes.Repeat([]byte{0xab}, 20))
	if err := d.PutEntry("sub", objstore.ModeGitlink, gl); err != nil {
		t.Fatal(err)
	}
	if err := d.PutEntry("nope", objstore.ModeFile, objstore.ID{9}); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("PutEntry of missing blob: %v", err)
	}
	id, err := d.Commit(objstore.CommitOptions{Ref: "refs/heads/main"})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Stat(id, "sub"); e.Mode != objstore.ModeGitlink || e.ID != gl {
		t.Errorf("gitlink = %+v", e)
	}
	// Deleting everything leaves the empty tree.
	d.Delete("f")
	d.Delete("sub")
	id2, err := d.Commit(objstore.CommitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ents, err := s.ListTree(id2, ""); err != nil || len(ents) != 0 {
		t.Errorf("empty state lists %v, %v", ents, err)
	}
}

func TestLargeFileChunkDedup(t *testing.T) {
	kv := objstore.NewMemKV()
	s := newStore(t, kv)
	rng := rand.New(rand.NewSource(1))
	big := make([]byte, 4<<20)
	rng.Read(big)
	a := commitFiles(t, s, objstore.ZeroID, "refs/heads/main", map[string]string{"big.bin": string(big)})
	before := kv.WriteBytes
	edited := bytes.Clone(big)
	copy(edited[2<<20:], "an edit in the middle")
	b := commitFiles(t, s, a, "refs/heads/main", map[string]string{"big.bin": string(edited)})
	if n := kv.WriteBytes - before; n > 300<<10 {
		t.Errorf("editing 21 bytes of a 4 MiB file wrote %d bytes, want < 300 KiB", n)
	}
	_, got, err := s.ReadFile(b, "big.bin")
	if err != nil || !bytes.Equal(got, edited) {
		t.Fatalf("read back: %d bytes, %v", len(got), err)
	}
	e, _ := s.Stat(b, "big.bin")
	size, chunks, err := s.BlobChunks(e.ID)
	if err != nil || size != len(edited) || len(chunks) < 64 {
		t.Errorf("BlobChunks = %d bytes in %d chunks, %v", size, len(chunks), err)
	}
}

func TestCorruptionIsDetected(t *testing.T) {
	kv := objstore.NewMemKV()
	s := newStore(t, kv)
	big := bytes.Repeat([]byte("0123456789abcdef"), 10000)
	a := commitFiles(t, s, objstore.ZeroID, "refs/heads/main", map[string]string{"f": "small file", "d/big": string(big)})
	if rep, err := s.Fsck(context.Background(), true); err != nil || !rep.Clean() {
		t.Fatalf("fresh store not clean: %+v, %v", rep, err)
	}
	// Flip one byte in each kind of stored value, through the KV, on a
	// fresh store handle (so nothing comes from the L1 cache).
	for _, prefix := range []byte{'b', 'c', 't', 's'} {
		t.Run(string(prefix), func(t *testing.T) {
			var key, val []byte
			kv.Scan([]byte{prefix}, func(k, v []byte) error {
				if key == nil {
					key, val = bytes.Clone(k), bytes.Clone(v)
				}
				return nil
			})
			bad := bytes.Clone(val)
			bad[len(bad)-1] ^= 0x01
			var b objstore.Batch
			b.Put(key, bad)
			kv.Write(&b, false)
			defer func() { b.Reset(); b.Put(key, val); kv.Write(&b, false) }()
			fresh, err := objstore.Open(kv, objstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := fresh.Fsck(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Clean() {
				t.Fatalf("fsck missed a flipped byte under %q", prefix)
			}
			// Reading every file of the state fails rather than returning bad data.
			var readErr error
			st, err := fresh.State(a)
			if err == nil {
				readErr = fresh.Walk(st.Root, func(p string, e objstore.Entry) error {
					if e.Mode.IsBlob() {
						_, err := fresh.Blob(e.ID)
						return err
					}
					return nil
				})
			} else {
				readErr = err
			}
			if !errors.Is(readErr, objstore.ErrCorrupt) {
				t.Errorf("read after corruption: got %v, want ErrCorrupt", readErr)
			}
		})
	}
}

func TestFsckMissingAndGC(t *testing.T) {
	engines(t, func(t *testing.T, ns func(t *testing.T) *objstore.Store) {
		s := ns(t)
		a := commitFiles(t, s, objstore.ZeroID, "refs/heads/main", map[string]string{"keep": "k", "old": "o"})
		b := commitFiles(t, s, a, "refs/heads/tmp", map[string]string{"old": "", "tmp": strings("t", 100000)})
		// Drop the tmp branch: b and its unique objects become garbage.
		if err := s.UpdateRefs(objstore.RefUpdate{Name: "refs/heads/tmp", Old: b}); err != nil {
			t.Fatal(err)
		}
		rep, err := s.Fsck(context.Background(), true)
		if err != nil || !rep.Clean() || rep.Unreferenced["state"] != 1 {
			t.Fatalf("fsck before gc: %+v, %v", rep, err)
		}
		// A writer in flight: its objects survive gc.
		w := s.NewWriter()
		pending, err := w.PutBlob([]byte("in flight"))
		if err != nil || w.Flush() != nil {
			t.Fatal(err)
		}
		g, err := s.GC(context.Background(), true)
		if err != nil {
			t.Fatal(err)
		}
		if g.Deleted["state"] != 1 || g.Deleted["blob"] != 1 || g.Deleted["chunk"] == 0 {
			t.Errorf("gc deleted %v, want the tmp state, blob and its chunks", g.Deleted)
		}
		if ok, _ := s.Has(objstore.KindBlob, pending); !ok {
			t.Error("gc took an in-flight writer's blob")
		}
		w.Abort()
		rep, _ = s.Fsck(context.Background(), true)
		if !rep.Clean() || rep.Unreferenced["state"] != 0 || rep.Unreferenced["blob"] != 1 {
			t.Errorf("fsck after gc: %+v", rep)
		}
		if got := readAll(t, s, a); got["keep"] != "k" || got["old"] != "o" {
			t.Errorf("gc damaged a live state: %v", got)
		}
		// A draft opened before gc whose base objects were swept fails
		// cleanly instead of committing a state with holes.
		d, _ := s.NewDraft(a)
		if err := d.Put("new", objstore.ModeFile, []byte("n")); err != nil {
			t.Fatal(err)
		}
		s.UpdateRefs(objstore.RefUpdate{Name: "refs/heads/main", Old: a})
		if _, err := s.GC(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Commit(objstore.CommitOptions{Ref: "refs/heads/main", CreateRef: true, Parents: []objstore.ID{}}); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("commit over collected base: got %v, want ErrNotFound", err)
		}
		// Deleting a state's tree by hand: fsck reports it missing.
		c := commitFiles(t, s, objstore.ZeroID, "refs/heads/other", map[string]string{"q": "q"})
		st, _ := s.State(c)
		var del objstore.Batch
		del.Delete(append([]byte{'t'}, st.Root[:]...))
		s.KV().Write(&del, false)
		fresh, _ := objstore.Open(s.KV(), objstore.Options{})
		rep, _ = fresh.Fsck(context.Background(), false)
		if rep.Clean() || rep.Problems[0].Ref != "refs/heads/other" {
			t.Errorf("missing tree not reported with its ref: %+v", rep.Problems)
		}
		if _, err := fresh.GC(context.Background(), false); err == nil {
			t.Error("gc ran on a store with problems")
		}
	})
}

func strings(s string, n int) string { return string(bytes.Repeat([]byte(s), n)) }

func TestOpenRejectsNonStore(t *testing.T) {
	kv := objstore.NewMemKV()
	if _, err := objstore.Open(kv, objstore.Options{}); !errors.Is(err, objstore.ErrNotAStore) {
		t.Errorf("Open(empty) = %v", err)
	}
	var b objstore.Batch
	b.Put([]byte("mformat"), []byte("something else"))
	kv.Write(&b, false)
	if _, err := objstore.Init(kv, objstore.Options{}); !errors.Is(err, objstore.ErrNotAStore) {
		t.Errorf("Init(foreign) = %v", err)
	}
	kv2 := objstore.NewMemKV()
	s, err := objstore.Init(kv2, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := objstore.Init(kv2, objstore.Options{}); err != nil {
		t.Errorf("Init twice: %v", err)
	}
	if s.Settings().Chunking != objstore.DefaultChunking {
		t.Errorf("settings = %+v", s.Settings())
	}
	kv3 := objstore.NewMemKV()
	kv3.FailWrites(errors.New("disk full"))
	if _, err := objstore.Init(kv3, objstore.Options{}); err == nil {
		t.Error("Init on a failing KV succeeded")
	}
}

func TestWriteFailureLosesNothing(t *testing.T) {
	kv := objstore.NewMemKV()
	s := newStore(t, kv)
	a := commitFiles(t, s, objstore.ZeroID, "refs/heads/main", map[string]string{"f": "1"})
	kv.FailWrites(errors.New("disk full"))
	d, _ := s.NewDraft(a)
	d.Put("f", objstore.ModeFile, []byte("2"))
	if _, err := d.Commit(objstore.CommitOptions{Ref: "refs/heads/main"}); err == nil {
		t.Fatal("commit on a full disk succeeded")
	}
	if cur, _, _ := s.Resolve("refs/heads/main"); cur != a {
		t.Fatal("ref moved although the write failed")
	}
	kv.FailWrites(nil)
	// The same draft commits once the disk has room.
	id, err := d.Commit(objstore.CommitOptions{Ref: "refs/heads/main"})
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if _, b, _ := s.ReadFile(id, "f"); string(b) != "2" {
		t.Errorf("retry committed %q", b)
	}
}
