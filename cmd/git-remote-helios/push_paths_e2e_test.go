//go:build !thin

package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPushShapes pushes what the helper's quick paths (a listing by tree
// diff, an ancestry walk and name resolution through cat-file, the object
// format read from the config file) must get right or hand to git: a
// rename, a new directory and a removal on top of the store's branch; a
// branch started from an older commit (its history does not reach a ref of
// the store's); a push from a linked worktree (its config is the common
// directory's); a push from a shallow clone (ancestry past the boundary is
// git's); and a non-fast-forward, still refused. Every clone afterwards has
// exactly the source's objects.
func TestPushShapes(t *testing.T) { eachMode(t, testPushShapes) }

func testPushShapes(t *testing.T, e *e2e) {
	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	e.commit(src, "one", map[string]string{"a.txt": "a\n", "d/b.txt": "b\n", "d/e/c.txt": "c\n"})
	old := e.commit(src, "two", map[string]string{"a.txt": "a2\n"})
	e.git(src, "remote", "add", "origin", "helios::"+e.store)
	e.push(src, "-q", "origin", "main")

	// On top of the store's branch: a rename, a new directory, a removal.
	e.git(src, "mv", "d/b.txt", "moved.txt")
	e.git(src, "rm", "-q", "d/e/c.txt")
	e.commit(src, "three", map[string]string{"n/deep/x.txt": "b\n"})
	e.push(src, "-q", "origin", "main")
	if got, want := e.storeRefs()["refs/heads/main"], e.git(src, "rev-parse", "main"); got != want {
		t.Fatalf("store main %s, want %s", got, want)
	}

	// A branch from an older commit, with an expression as the source.
	e.git(src, "checkout", "-q", "-b", "side", old+"~1")
	e.commit(src, "side", map[string]string{"s.txt": "side\n"})
	e.push(src, "-q", "origin", "HEAD:refs/heads/side")

	// From a linked worktree of a clone.
	clone := filepath.Join(e.home, "clone")
	e.git(e.home, "clone", "-q", "helios::"+e.store, clone)
	e.checkClone(clone, src)
	wt := filepath.Join(e.home, "wt")
	e.git(clone, "worktree", "add", "-q", "-b", "from-wt", wt, "origin/main")
	e.commit(wt, "from a worktree", map[string]string{"w.txt": "w\n"})
	e.push(wt, "-q", "origin", "from-wt")
	if got, want := e.storeRefs()["refs/heads/from-wt"], e.git(wt, "rev-parse", "HEAD"); got != want {
		t.Fatalf("store from-wt %s, want %s", got, want)
	}

	// From a shallow clone, one commit deep.
	shallow := filepath.Join(e.home, "shallow")
	e.git(e.home, "clone", "-q", "--depth", "1", "--no-local", "--branch", "main", "file://"+src, shallow)
	e.git(shallow, "remote", "add", "store", "helios::"+e.store)
	e.commit(shallow, "from a shallow clone", map[string]string{"sh.txt": "sh\n"})
	e.push(shallow, "-q", "store", "main")
	if got, want := e.storeRefs()["refs/heads/main"], e.git(shallow, "rev-parse", "HEAD"); got != want {
		t.Fatalf("store main after the shallow push %s, want %s", got, want)
	}

	// The source is now behind: a plain push is refused as git refuses it.
	e.commit(src, "diverged", map[string]string{"z.txt": "z\n"})
	out := e.gitFail(src, "push", "origin", "HEAD:refs/heads/from-wt")
	if !strings.Contains(out, "non-fast-forward") && !strings.Contains(out, "fetch first") {
		t.Fatalf("a non-fast-forward push said:\n%s", out)
	}

	// Everything the store holds comes back exactly.
	all := filepath.Join(e.home, "all")
	e.git(e.home, "clone", "-q", "--mirror", "helios::"+e.store, all)
	e.git(all, "fsck", "--full", "--strict", "--no-dangling")
	for _, ref := range []string{"main", "side", "from-wt"} {
		if got := e.git(all, "rev-parse", ref); got != e.storeRefs()["refs/heads/"+ref] {
			t.Errorf("mirror %s = %s, store says %s", ref, got, e.storeRefs()["refs/heads/"+ref])
		}
	}
	for _, f := range []string{"moved.txt", "n/deep/x.txt", "a.txt"} {
		if got := e.git(all, "show", "main:"+f); got == "" {
			t.Errorf("main:%s is empty", f)
		}
	}
}
