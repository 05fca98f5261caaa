package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// cachedPacks names the store's clone packs (their checksums).
func (e *e2e) cachedPacks() []string {
	e.t.Helper()
	tips, err := filepath.Glob(filepath.Join(e.store, "clonepacks", "pack-*.tips"))
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, p := range tips {
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "pack-"), ".tips"))
	}
	return names
}

// packsOf names the packs of a repository.
func (e *e2e) packsOf(dir string) []string {
	e.t.Helper()
	idx, err := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "pack-*.idx"))
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, p := range idx {
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "pack-"), ".idx"))
	}
	return names
}

func TestClonePacks(t *testing.T) { eachMode(t, testClonePacks) }

// testClonePacks: a clone leaves a clone pack in the store; the next clone
// of the same refs installs it; a clone after a fast-forward installs it
// and fetches only the new commits; once a ref it holds is deleted it is
// no longer handed out, so a clone never gets the deleted branch's objects.
func testClonePacks(t *testing.T, e *e2e) {
	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	e.commit(src, "one", map[string]string{"a.txt": "one\n", "dir/b.txt": "bee\n"})
	e.commit(src, "two", map[string]string{"a.txt": "two\n"})
	e.git(src, "checkout", "-q", "-b", "secret")
	secret := e.commit(src, "secret", map[string]string{"secret.txt": "the launch codes\n"})
	e.git(src, "checkout", "-q", "main")
	e.git(src, "remote", "add", "origin", "helios::"+e.store)
	if e.served {
		// The server makes the clone pack of the branches after the push,
		// in the background; the first clone installs it.
		e.git(src, "push", "-q", "origin", "main", "secret")
		deadline := time.Now().Add(time.Minute)
		for len(e.cachedPacks()) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if len(e.cachedPacks()) == 0 {
			t.Fatal("the server made no clone pack after the push")
		}
	} else {
		e.push(src, "origin", "main", "secret")
	}

	clone := func(name string) string {
		dir := filepath.Join(e.home, name)
		e.git(e.home, "clone", "-q", "helios::"+e.store, dir)
		return dir
	}
	first := clone("first")
	e.checkClone(first, src)
	cached := e.cachedPacks()
	if len(cached) != 1 {
		t.Fatalf("after the first clone the store has clone packs %v, want one", cached)
	}
	second := clone("second")
	e.checkClone(second, src)
	if got := e.packsOf(second); !slices.Contains(got, cached[0]) {
		t.Fatalf("second clone has packs %v, not the clone pack %s", got, cached[0])
	}
	// Same file system, same user: the pack is linked, not copied.
	a, err := os.Stat(filepath.Join(e.store, "clonepacks", "pack-"+cached[0]+".pack"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Stat(filepath.Join(second, ".git", "objects", "pack", "pack-"+cached[0]+".pack"))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(a, b) {
		t.Fatal("the clone pack was copied, not linked")
	}

	// A fast-forward: the pack's old main is the parent of the new one.
	e.commit(src, "three", map[string]string{"dir/c.txt": "sea\n"})
	e.push(src, "origin", "main")
	third := clone("third")
	e.checkClone(third, src)
	if got := e.packsOf(third); !slices.Contains(got, cached[0]) || len(got) != 2 {
		t.Fatalf("clone after a fast-forward has packs %v, want the clone pack %s and one more", got, cached[0])
	}
	if got := e.cachedPacks(); len(got) != 1 {
		t.Fatalf("a clone that could use the clone pack built another: %v", got)
	}

	// The secret branch goes: no clone may get its objects any more.
	e.push(src, "origin", ":secret")
	fourth := clone("fourth")
	e.git(fourth, "fsck", "--full", "--strict", "--no-dangling")
	if out, err := e.run(fourth, nil, "", "cat-file", "-e", secret); err == nil {
		t.Fatalf("a clone after the secret branch was deleted has its commit %s: %s", secret, out)
	}
	if got := e.packsOf(fourth); slices.Contains(got, cached[0]) {
		t.Fatalf("clone after the deletion installed the old clone pack %s", cached[0])
	}
	if got, want := e.git(fourth, "rev-list", "--objects", "--all"), e.git(src, "rev-list", "--objects", "main"); got != want {
		t.Fatalf("objects differ:\n%s\nvs\n%s", got, want)
	}
}
