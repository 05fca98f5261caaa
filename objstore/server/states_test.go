package server

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helios-vcs/helios/objstore"
)

// pendingStates asks the server how many prepared states it holds.
func pendingStates(t *testing.T, c *Client) int64 {
	t.Helper()
	m, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return m["pending_states"]
}

// TestStatesSameAsLocal: make-state gives the state and tree a Writer with
// EditTree gives in process, and prepare-state the same root before
// anything is written; commit-state writes it, Abort drops it, and what a
// connection held prepared is dropped when it closes.
func TestStatesSameAsLocal(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.client(t)
	when := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	author := objstore.Signature{Name: "t", Email: "t@example.com", When: when}
	base, baseRoot, err := c.MakeState(objstore.ZeroID, map[string][]byte{"a.txt": []byte("a\n"), "d/b.txt": []byte("b\n")}, "base", author)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.store.State(base)
	if err != nil || st.Root != baseRoot || len(st.Parents) != 0 || st.Message != "base" || st.Author.Name != "t" || !st.Author.When.Equal(when) {
		t.Fatalf("base state: got %+v, %v", st, err)
	}
	// The same edit in process.
	w := f.store.NewWriter()
	wantRoot, err := w.EditTree(baseRoot, map[string][]byte{"d/b.txt": []byte("B\n"), "d/e/new.txt": []byte("new\n")})
	w.Abort()
	if err != nil {
		t.Fatal(err)
	}

	p, err := c.PrepareState(base, map[string][]byte{"d/b.txt": []byte("B\n"), "d/e/new.txt": []byte("new\n")})
	if err != nil {
		t.Fatal(err)
	}
	if p.Root() != wantRoot {
		t.Errorf("prepared root: got %v, want %v", p.Root(), wantRoot)
	}
	if _, err := f.store.Tree(p.Root()); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("a prepared tree is stored before its commit: %v", err)
	}
	other := f.client(t)
	if n := pendingStates(t, other); n != 1 {
		t.Errorf("pending states: got %d, want 1", n)
	}
	child, err := p.Commit("child", author)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := f.store.State(child); err != nil || st.Root != wantRoot || !slices.Equal(st.Parents, []objstore.ID{base}) {
		t.Errorf("committed state: %+v %v", st, err)
	}
	if _, b, err := f.store.ReadFile(child, "d/e/new.txt"); err != nil || string(b) != "new\n" {
		t.Errorf("new file: %q %v", b, err)
	}
	if _, err := p.Commit("again", author); err == nil {
		t.Error("a prepared state committed twice")
	}
	if n := pendingStates(t, other); n != 0 {
		t.Errorf("pending states after commit: got %d, want 0", n)
	}

	// Abort is sent with the next state request.
	p1, err := c.PrepareState(base, map[string][]byte{"a.txt": []byte("1\n")})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := c.PrepareState(base, map[string][]byte{"a.txt": []byte("2\n")})
	if err != nil {
		t.Fatal(err)
	}
	p1.Abort()
	if n := pendingStates(t, other); n != 2 {
		t.Errorf("pending states before the next request: got %d, want 2", n)
	}
	if _, _, err := c.MakeState(base, map[string][]byte{"a.txt": []byte("3\n")}, "three", author); err != nil {
		t.Fatal(err)
	}
	if n := pendingStates(t, other); n != 1 {
		t.Errorf("pending states after an abort: got %d, want 1", n)
	}
	if _, err := f.store.Tree(p1.Root()); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("an aborted state's tree was stored: %v", err)
	}
	// A commit of a handle the connection does not hold fails cleanly.
	bogus := &PendingState{c: other, h: p2.h}
	if _, err := bogus.Commit("x", author); err == nil || !strings.Contains(err.Error(), "no prepared state") {
		t.Errorf("commit of another connection's state: got %v", err)
	}
	// The connection ends: its prepared states go.
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for pendingStates(t, other) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("prepared states outlived their connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := f.store.Tree(p2.Root()); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("a dropped state's tree was stored: %v", err)
	}
}

// TestWalkStreams: a listing bigger than a data frame arrives whole and in
// the store's order, SkipDir skips a directory here as it does in process,
// and a callback's error stops the walk.
func TestWalkStreams(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.client(t)
	files := map[string][]byte{}
	for i := range 1500 {
		files[fmt.Sprintf("dir%02d/%s-%04d.txt", i%7, strings.Repeat("long-name-", 5), i)] = []byte{byte(i)}
	}
	files["top.txt"] = []byte("top")
	_, root, err := c.MakeState(objstore.ZeroID, files, "many", objstore.Signature{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	collect := func(walk func(objstore.ID, objstore.WalkFunc) error, skip string) []string {
		var out []string
		err := walk(root, func(p string, e objstore.Entry) error {
			out = append(out, p+" "+e.Mode.String()+" "+e.ID.String())
			if p == skip {
				return objstore.SkipDir
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, skip := range []string{"", "dir03", "top.txt"} {
		got, want := collect(c.Walk, skip), collect(f.store.Walk, skip)
		if !slices.Equal(got, want) {
			t.Errorf("skip %q: got %d entries, want %d", skip, len(got), len(want))
		}
	}
	var size enc // what the listing weighs on the wire
	f.store.Walk(root, func(p string, e objstore.Entry) error { size.str(p); size.entry(e); return nil })
	if len(size.b) < 2*dataChunk {
		t.Errorf("the listing (%d bytes) should span several data frames", len(size.b))
	}
	stop := errors.New("stop")
	seen := 0
	err = c.Walk(root, func(string, objstore.Entry) error {
		seen++
		if seen == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || seen != 3 {
		t.Errorf("walk with an error: got %v after %d entries, want stop after 3", err, seen)
	}
	if err := c.Walk(objstore.ID{1}, func(string, objstore.Entry) error { return nil }); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("walk of a missing tree: got %v, want ErrNotFound", err)
	}
}

// TestImportState: files with their modes become a parentless state.
func TestImportState(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.client(t)
	id, err := c.ImportState([]ImportFile{{Path: "run.sh", Mode: objstore.ModeExec, Content: []byte("echo\n")},
		{Path: "pkg/a.go", Mode: objstore.ModeFile, Content: []byte("package a\n")}}, "import", objstore.Signature{Name: "helios mcts"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.store.State(id)
	if err != nil || len(st.Parents) != 0 || st.Message != "import" || st.Author.Name != "helios mcts" {
		t.Fatalf("imported state: %+v %v", st, err)
	}
	if e, b, err := f.store.ReadFile(id, "run.sh"); err != nil || e.Mode != objstore.ModeExec || string(b) != "echo\n" {
		t.Errorf("run.sh: %v %q %v", e, b, err)
	}
}

// TestStateRequestLimits: a request bigger than a frame is refused before
// it is sent (the connection stays usable), and the Authorizer is asked
// about state requests by their names.
func TestStateRequestLimits(t *testing.T) {
	f := newFixture(t, Options{Authorizer: denyOp("prepare-state")})
	c := f.client(t)
	big := bytes.Repeat([]byte("x"), maxFrame+1)
	if _, _, err := c.MakeState(objstore.ZeroID, map[string][]byte{"big": big}, "big", objstore.Signature{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("make-state of %d bytes: got %v, want ErrTooLarge", len(big), err)
	}
	if _, _, err := c.MakeState(objstore.ZeroID, map[string][]byte{"a": []byte("a")}, "small", objstore.Signature{}); err != nil {
		t.Errorf("the connection after a refused big request: %v", err)
	}
	if _, err := c.PrepareState(objstore.ZeroID, map[string][]byte{"a": []byte("a")}); !errors.Is(err, ErrDenied) {
		t.Errorf("refused prepare-state: got %v, want ErrDenied", err)
	}
	// Paths are checked as a push's are: nothing lands outside a checkout.
	for _, p := range []string{"../x", "/etc/passwd", ".git/config", "a//b", "a/.GIT/x", ""} {
		if _, _, err := c.MakeState(objstore.ZeroID, map[string][]byte{p: []byte("x")}, "bad", objstore.Signature{}); !errors.Is(err, objstore.ErrBadPath) {
			t.Errorf("make-state of %q: got %v, want ErrBadPath", p, err)
		}
	}
	if _, err := c.ImportState([]ImportFile{{Path: "../x", Mode: objstore.ModeFile}}, "bad", objstore.Signature{}); !errors.Is(err, objstore.ErrBadPath) {
		t.Errorf("import-state of ../x: got %v, want ErrBadPath", err)
	}
}

type denyOp string

func (d denyOp) Authorize(p Peer, op, target string) error {
	if op == string(d) {
		return fmt.Errorf("no %s here", op)
	}
	return nil
}

// TestPrepareNewState: a root new to the connection is written at once
// (Commit costs nothing and gives that state); a root the connection gave
// before is held prepared as with PrepareState.
func TestPrepareNewState(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.client(t)
	other := f.client(t)
	author := objstore.Signature{Name: "t", When: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	base, _, err := c.MakeState(objstore.ZeroID, map[string][]byte{"a": []byte("a")}, "base", author)
	if err != nil {
		t.Fatal(err)
	}
	edit := map[string][]byte{"a": []byte("b")}
	p, err := c.PrepareNewState(base, edit, "new", author)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Written() || pendingStates(t, other) != 0 {
		t.Fatalf("a new root: written %v, %d pending; want written, none pending", p.Written(), pendingStates(t, other))
	}
	before, _ := other.Status()
	id, err := p.Commit("new", author)
	after, _ := other.Status()
	if err != nil || after.Requests-before.Requests != 1 {
		t.Errorf("commit of a written state: %v, %d requests; want none but the status", err, after.Requests-before.Requests)
	}
	if st, err := f.store.State(id); err != nil || st.Message != "new" || st.Root != p.Root() || !slices.Equal(st.Parents, []objstore.ID{base}) {
		t.Errorf("written state: %+v %v", st, err)
	}
	again, err := c.PrepareNewState(base, edit, "again", author)
	if err != nil {
		t.Fatal(err)
	}
	if again.Written() || again.Root() != p.Root() || pendingStates(t, other) != 1 {
		t.Fatalf("a root seen before: written %v, root %v; want held prepared, root %v", again.Written(), again.Root(), p.Root())
	}
	id2, err := again.Commit("again", author)
	if st, serr := f.store.State(id2); err != nil || serr != nil || st.Message != "again" || id2 == id {
		t.Errorf("commit of a held state: %v %+v %v", err, st, serr)
	}
}
