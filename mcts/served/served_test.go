package served_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/helios-vcs/helios/mcts"
	"github.com/helios-vcs/helios/mcts/eval"
	"github.com/helios-vcs/helios/mcts/propose"
	"github.com/helios-vcs/helios/mcts/served"
	"github.com/helios-vcs/helios/mcts/storetest"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
	"github.com/helios-vcs/helios/objstore/server"
)

// serve runs a server in this process for s, in a fresh directory, and
// returns k connections to it; the test stops it.
func serve(t testing.TB, s *objstore.Store, k int) []*server.Client {
	t.Helper()
	dir := t.TempDir()
	lock, err := server.LockServer(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := server.Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{Store: s, Watch: server.WatchOptions{Disabled: true}})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Shutdown()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		s.Close()
		lock.Release()
	})
	var cs []*server.Client
	for range k {
		c, err := server.Dial(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

func memStore(t testing.TB) *objstore.Store {
	s, err := objstore.Init(objstore.NewMemKV(), objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rocksStore(t testing.TB) *objstore.Store {
	kv, err := rocksdb.Open(filepath.Join(t.TempDir(), "db"), rocksdb.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := objstore.Init(kv, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBackendServedMem(t *testing.T) {
	storetest.Test(t, func(t *testing.T) mcts.Backend { return served.New(serve(t, memStore(t), 1)...) })
}

func TestBackendServedRocksDB(t *testing.T) {
	storetest.Test(t, func(t *testing.T) mcts.Backend { return served.New(serve(t, rocksStore(t), 2)...) })
}

// TestSearchSameServedAndDirect: one seed, one search, once on the store in
// process and once through a server: the same iterations, evaluations,
// node trees, best state and result refs.
func TestSearchSameServedAndDirect(t *testing.T) {
	when := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return when }
	search := func(b mcts.Backend, refs func() []objstore.Ref) (*mcts.Report, []objstore.Ref) {
		t.Helper()
		defer b.Close()
		files := map[string][]byte{}
		for p, c := range mcts.ExampleProject() {
			files[p] = []byte(c)
		}
		base, _, err := b.MakeState(objstore.ZeroID, files, "example")
		if err != nil {
			t.Fatal(err)
		}
		se, err := mcts.NewSearch(b, mcts.Config{Run: "same", Base: base, Workers: 1, Seed: 11, Iterations: 60, Top: 3,
			Proposer: &propose.Mutate{}, Test: eval.Config{Command: "sh test.sh", Dir: t.TempDir()}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := se.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return r, refs()
	}
	ds := memStore(t)
	direct, directRefs := search(mcts.Objstore{Store: ds, Now: now}, func() []objstore.Ref {
		rs, err := ds.Refs("refs/heads/mcts/")
		if err != nil {
			t.Fatal(err)
		}
		return rs
	})
	ss := memStore(t)
	b := served.New(serve(t, ss, 1)...)
	b.Now = now
	viaServer, servedRefs := search(b, func() []objstore.Ref {
		rs, err := ss.Refs("refs/heads/mcts/")
		if err != nil {
			t.Fatal(err)
		}
		return rs
	})
	if !direct.Solved || !viaServer.Solved {
		t.Fatalf("solved: direct %v, served %v; want both", direct.Solved, viaServer.Solved)
	}
	if direct.Iterations != viaServer.Iterations || direct.Evaluations != viaServer.Evaluations || direct.Merged != viaServer.Merged {
		t.Errorf("served search: %d iterations, %d evaluations, %d merged; direct %d, %d, %d",
			viaServer.Iterations, viaServer.Evaluations, viaServer.Merged, direct.Iterations, direct.Evaluations, direct.Merged)
	}
	if !slices.Equal(direct.Trees, viaServer.Trees) {
		t.Errorf("node trees differ:\n served %v\n direct %v", viaServer.Trees, direct.Trees)
	}
	if direct.BestState != viaServer.BestState {
		t.Errorf("best state: served %v, direct %v", viaServer.BestState, direct.BestState)
	}
	if !slices.Equal(directRefs, servedRefs) || len(servedRefs) < 2 {
		t.Errorf("result refs: served %v, direct %v", servedRefs, directRefs)
	}
}

// TestReadFileOnce: a file of a state is read from the server once; the
// next read of it costs no request (states never change).
func TestReadFileOnce(t *testing.T) {
	cs := serve(t, memStore(t), 2)
	b, status := served.New(cs[0]), cs[1]
	defer b.Close()
	id, _, err := b.MakeState(objstore.ZeroID, map[string][]byte{"a.txt": []byte("a\n")}, "one")
	if err != nil {
		t.Fatal(err)
	}
	before, err := status.Status()
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if e, c, err := b.ReadFile(id, "a.txt"); err != nil || string(c) != "a\n" || e.Mode != objstore.ModeFile {
			t.Fatalf("ReadFile: %v %q %v", e, c, err)
		}
	}
	after, err := status.Status()
	if err != nil {
		t.Fatal(err)
	}
	if n := after.Requests - before.Requests; n != 2 { // one read-file, one status
		t.Errorf("three reads of one file: got %d requests, want 2 (one read-file and the status)", n)
	}
}

// TestReadFileInherited: a file that the edit making a state did not touch
// is read from the parent (no request), and every read gives what the
// store gives, also where an edit turned a file into a directory or a
// directory into a file.
func TestReadFileInherited(t *testing.T) {
	s := memStore(t)
	cs := serve(t, s, 2)
	b, status := served.New(cs[0]), cs[1]
	defer b.Close()
	parent, _, err := b.MakeState(objstore.ZeroID, map[string][]byte{"a.txt": []byte("a\n"), "b.txt": []byte("b\n"),
		"d": []byte("file d\n"), "x/y": []byte("y\n")}, "parent")
	if err != nil {
		t.Fatal(err)
	}
	child, _, err := b.MakeState(parent, map[string][]byte{"a.txt": []byte("A\n"), "d/e": []byte("e\n")}, "child")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := b.PrepareState(child, map[string][]byte{"x": []byte("file x\n")})
	if err != nil {
		t.Fatal(err)
	}
	grandchild, err := ps.Commit("grandchild")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"b.txt", "x/y"} { // read once in the parent
		if _, _, err := b.ReadFile(parent, p); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := status.Status()
	for _, p := range []string{"b.txt", "x/y"} {
		if _, _, err := b.ReadFile(child, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.ReadFile(grandchild, "b.txt"); err != nil {
		t.Fatal(err)
	}
	after, _ := status.Status()
	if n := after.Requests - before.Requests; n != 1 { // the status
		t.Errorf("reads of untouched files of children: got %d requests, want 1 (the status)", n)
	}
	for _, st := range []objstore.ID{parent, child, grandchild} {
		for _, p := range []string{"a.txt", "b.txt", "d", "d/e", "x", "x/y", "none"} {
			ge, gc, gerr := b.ReadFile(st, p)
			we, wc, werr := s.ReadFile(st, p)
			if (gerr == nil) != (werr == nil) || gerr == nil && (ge != we || string(gc) != string(wc)) {
				t.Errorf("ReadFile(%v, %q): got %v %q %v, want %v %q %v", st, p, ge, gc, gerr, we, wc, werr)
			}
		}
	}
}
