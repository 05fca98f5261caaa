package objstore

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// bigDir is a draft with one directory of n files.
func bigDir(t *testing.T, s *Store, n int) ID {
	t.Helper()
	d, err := s.NewDraft(ZeroID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := d.Put(fmt.Sprintf("dir/f%04d.go", i), ModeFile, []byte(fmt.Sprintf("package p\n// %d\n", i))); err != nil {
			t.Fatal(err)
		}
	}
	id, err := d.Commit(CommitOptions{Ref: "refs/heads/main", Message: "base"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func rootOf(t *testing.T, s *Store, state ID, dir string) ID {
	t.Helper()
	e, err := s.Stat(state, dir)
	if err != nil {
		t.Fatal(err)
	}
	return e.ID
}

func edit(t *testing.T, s *Store, base ID, path, content string) ID {
	t.Helper()
	d, err := s.NewDraft(base)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Put(path, ModeFile, []byte(content)); err != nil {
		t.Fatal(err)
	}
	id, err := d.Commit(CommitOptions{Ref: "refs/heads/main", Message: "edit"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestTreeDeltaStoredAndRead: a one-file edit in a big directory stores the
// directory as a small delta; the tree reads back the same from a cold
// cache and from the KV alone; chains stop at maxTreeDepth.
func TestTreeDeltaStoredAndRead(t *testing.T) {
	kv := NewMemKV()
	s, err := Init(kv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	state := bigDir(t, s, 300)
	first := rootOf(t, s, state, "dir")
	for i := range maxTreeDepth + 4 {
		state = edit(t, s, state, fmt.Sprintf("dir/f%04d.go", i*7), fmt.Sprintf("edited %d\n", i))
		id := rootOf(t, s, state, "dir")
		v, err := kv.Get(objectKey(KindTree, id))
		if err != nil {
			t.Fatal(err)
		}
		depth, err := s.treeDepth(id)
		if err != nil {
			t.Fatal(err)
		}
		want := i%(maxTreeDepth+1) + 1
		if want == maxTreeDepth+1 {
			want = 0 // the chain is full: a full encoding again
		}
		if depth != want {
			t.Errorf("edit %d: depth %d, want %d", i, depth, want)
		}
		if depth > 0 && (v[0] != treeDeltaFormat || len(v) > 200) {
			t.Errorf("edit %d: stored %d bytes (format %d), want a small delta", i, len(v), v[0])
		}
		// A cold store (new cache, same KV) and the KV-only path agree.
		cold, err := Open(kv, Options{})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := cold.Tree(id)
		if err != nil {
			t.Fatalf("edit %d: %v", i, err)
		}
		tr2, _, err := cold.treeFromValue(id, v, false, maxTreeDepth)
		if err != nil {
			t.Fatal(err)
		}
		full, _ := EncodeTree(tr)
		full2, _ := EncodeTree(tr2)
		if s.hash.Sum(KindTree, full) != id || string(full) != string(full2) || len(tr.Entries) != 300 {
			t.Fatalf("edit %d: tree reads back wrong", i)
		}
	}
	if first == rootOf(t, s, state, "dir") {
		t.Fatal("edits did not change the directory")
	}
	rep, err := s.Fsck(context.Background(), true)
	if err != nil || !rep.Clean() {
		t.Fatalf("fsck: %v %v", rep, err)
	}
}

// TestTreeDeltaGC: gc keeps the bases of a live delta (not what only the
// bases link to), and the latest state reads back whole.
func TestTreeDeltaGC(t *testing.T) {
	s, err := Init(NewMemKV(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	state := bigDir(t, s, 300)
	for i := range 5 {
		state = edit(t, s, state, "dir/f0001.go", fmt.Sprintf("version %d\n", i))
	}
	oldBlob := s.Hasher().Sum(KindBlob, []byte("version 0\n"))
	rep, err := s.GC(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	// Only main's last state is reachable through refs… but states link
	// parents, so every version is still reachable. Cut the history.
	st, err := s.State(state)
	if err != nil {
		t.Fatal(err)
	}
	w := s.NewWriter()
	orphan, err := w.PutState(&State{Root: st.Root, Message: "no parents"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(RefUpdate{Name: "refs/heads/cut", New: orphan}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRefs(RefUpdate{Name: "refs/heads/main", Old: state}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSymbolicRef("HEAD", "refs/heads/cut"); err != nil {
		t.Fatal(err)
	}
	if rep, err = s.GC(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if rep.Deleted["blob"] < 4 || rep.Deleted["state"] < 5 {
		t.Errorf("gc deleted %v: want the old versions gone", rep.Deleted)
	}
	if ok, _ := s.Has(KindBlob, oldBlob); ok {
		t.Errorf("an old blob only a delta base names was kept")
	}
	s.cache = NewCache(64 << 20)
	s.depths = treeDepths{}
	_, c, err := s.ReadFile(orphan, "dir/f0001.go")
	if err != nil || string(c) != "version 4\n" {
		t.Fatalf("after gc: %q %v", c, err)
	}
	frep, err := s.Fsck(context.Background(), true)
	if err != nil || !frep.Clean() || frep.Unreferenced["tree"] != 0 {
		t.Fatalf("fsck after gc: %+v %v", frep, err)
	}
}

// TestTreeDeltaCorrupt: a delta whose base is gone, or which rebuilds
// another tree, is reported, never returned as good data.
func TestTreeDeltaCorrupt(t *testing.T) {
	kv := NewMemKV()
	s, err := Init(kv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	state := bigDir(t, s, 300)
	base := rootOf(t, s, state, "dir")
	state = edit(t, s, state, "dir/f0002.go", "x\n")
	id := rootOf(t, s, state, "dir")
	v, _ := kv.Get(objectKey(KindTree, id))
	if v[0] != treeDeltaFormat {
		t.Fatal("not a delta")
	}
	// Another tree's changes under this tree's key.
	bad := append([]byte(nil), v...)
	bad[len(bad)-1] ^= 1
	var b Batch
	b.Put(objectKey(KindTree, id), bad)
	kv.Write(&b, false)
	cold, _ := Open(kv, Options{})
	if _, err := cold.Tree(id); err == nil || !strings.Contains(err.Error(), "hashes to") {
		t.Errorf("a delta rebuilding another tree: %v", err)
	}
	rep, err := cold.Fsck(context.Background(), false)
	if err != nil || rep.Clean() {
		t.Errorf("fsck of a bad delta: %v %v", rep, err)
	}
	// The base gone.
	b.Reset()
	b.Put(objectKey(KindTree, id), v)
	b.Delete(objectKey(KindTree, base))
	kv.Write(&b, false)
	cold, _ = Open(kv, Options{})
	if _, err := cold.Tree(id); err == nil || !strings.Contains(err.Error(), "delta base") {
		t.Errorf("a delta without its base: %v", err)
	}
}

// TestTreeDeltaRoundTrip: applying the delta between any two entry lists to
// the first gives the second.
func TestTreeDeltaRoundTrip(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		gen := func(label string) []Entry {
			n := rapid.IntRange(0, 60).Draw(rt, label+"n")
			seen := map[string]bool{}
			var es []Entry
			for i := range n {
				name := fmt.Sprintf("n%d", rapid.IntRange(0, 80).Draw(rt, fmt.Sprint(label, i)))
				if seen[name] {
					continue
				}
				seen[name] = true
				mode := []Mode{ModeFile, ModeExec, ModeDir}[rapid.IntRange(0, 2).Draw(rt, fmt.Sprint(label, "m", i))]
				es = append(es, Entry{Name: name, Mode: mode, ID: ID{byte(rapid.IntRange(0, 3).Draw(rt, fmt.Sprint(label, "id", i)))}})
			}
			SortEntries(es)
			return es
		}
		old, new := gen("old"), gen("new")
		delta := encodeTreeDelta(ID{9}, 0, old, new, 1<<20)
		if delta == nil {
			rt.Fatal("no delta despite a huge full size")
		}
		_, depth, rest, err := parseDeltaHeader(delta)
		if err != nil || depth != 1 {
			rt.Fatalf("header: %v depth %d", err, depth)
		}
		got, err := applyTreeDelta(old, rest)
		if err != nil {
			rt.Fatal(err)
		}
		a, _ := EncodeTree(&Tree{Entries: got})
		b, _ := EncodeTree(&Tree{Entries: new})
		if string(a) != string(b) {
			rt.Fatalf("delta applied gives %v, want %v", got, new)
		}
	})
}

func FuzzApplyTreeDelta(f *testing.F) {
	old := []Entry{{Name: "a", Mode: ModeFile}, {Name: "b", Mode: ModeDir, ID: ID{1}}}
	new := []Entry{{Name: "a", Mode: ModeExec}, {Name: "c", Mode: ModeFile, ID: ID{2}}}
	d := encodeTreeDelta(ID{3}, 0, old, new, 1<<20)
	f.Add(d[1+32+1:])
	f.Fuzz(func(t *testing.T, rest []byte) {
		es, err := applyTreeDelta(old, rest)
		if err != nil {
			return
		}
		// Whatever applies is sorted and holds only valid names (a
		// crasher in testdata had "" and "\x00"); the store then checks
		// it against the tree's ID.
		for _, e := range es {
			if err := ValidName(e.Name); err != nil {
				t.Fatalf("delta result with a bad name: %v", err)
			}
		}
		for i := 1; i < len(es); i++ {
			if !entryLessNames(es[i-1].Name, es[i-1].Mode.IsDir(), es[i].Name, es[i].Mode.IsDir()) && es[i-1].Name != es[i].Name {
				t.Fatalf("unsorted result %q", es)
			}
		}
	})
}
