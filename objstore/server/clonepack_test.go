package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/clonepack"
	"github.com/helios-vcs/helios/helper/gitobj"
)

// packNames lists the pack-*.idx names in dir.
func packNames(t *testing.T, dir string) []string {
	t.Helper()
	idx, _ := filepath.Glob(filepath.Join(dir, "pack-*.idx"))
	for i, p := range idx {
		idx[i] = filepath.Base(p)
	}
	return idx
}

// TestGitClonePack: after a push the server builds the clone pack of the
// branches in the background; a client streams it or links it from the
// cache, falling back to the stream where it cannot link; a peer that may
// not read a ref cannot ask for a pack of it; an untrusted (remote) client
// is never given one.
func TestGitClonePack(t *testing.T) {
	cacheDir := filepath.Join(t.TempDir(), "clonepacks")
	f := newFixture(t, Options{Authorizer: hideSecret{}, ClonePacks: clonepack.Open(cacheDir, 0)})
	ctx := context.Background()
	var objs memObjects
	c1 := objs.history(t, "one\n", "one", gitobj.OID{})
	c2 := objs.history(t, "two\n", "two", c1)
	sec := objs.history(t, "secret\n", "secret", gitobj.OID{})
	zero := gitobj.SHA1.ZeroOID()
	res, err := f.client(t).Git(true).Push(ctx, []helper.RefUpdate{
		{Name: "refs/heads/main", Old: zero, New: c2}, {Name: "refs/heads/secret", Old: zero, New: sec},
	}, helper.PushOptions{}, &objs)
	if err != nil || res[0] != nil || res[1] != nil {
		t.Fatalf("push: %v %v", res, err)
	}
	deadline := time.Now().Add(time.Minute)
	for len(packNames(t, cacheDir)) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	built := packNames(t, cacheDir)
	if len(built) != 1 {
		t.Fatalf("the server built clone packs %v after the push, want one", built)
	}

	// Streamed: this client cannot see the cache.
	g := f.client(t).Git(true)
	g.ClonePacks = filepath.Join(t.TempDir(), "elsewhere")
	repo := filepath.Join(t.TempDir(), "pack")
	p, err := g.InstallClonePack(ctx, []gitobj.OID{c2}, repo)
	if err != nil || p == nil {
		t.Fatalf("install: %v %v", p, err)
	}
	// The secret branch's value is a tip of the prebuilt pack, which main
	// does not reach: this peer gets a pack of main alone.
	if len(p.Tips) != 1 || p.Tips[0] != c2 || len(p.Wanted) != 1 || p.Wanted[0].OID != c2 {
		t.Fatalf("installed tips %v, wanted %v", p.Tips, p.Wanted)
	}
	got := packNames(t, repo)
	if len(got) != 1 || !slices.Contains(packNames(t, cacheDir), got[0]) {
		t.Fatalf("installed %v, cache has %v", got, packNames(t, cacheDir))
	}
	streamed, err := os.ReadFile(filepath.Join(repo, got[0][:len(got[0])-4]+".pack"))
	if err != nil {
		t.Fatal(err)
	}
	cached, err := os.ReadFile(filepath.Join(cacheDir, got[0][:len(got[0])-4]+".pack"))
	if err != nil || string(streamed) != string(cached) {
		t.Fatalf("the streamed pack differs from the cache's: %v", err)
	}

	// Linked: the same file.
	g.ClonePacks = cacheDir
	linked := filepath.Join(t.TempDir(), "pack")
	if p, err := g.InstallClonePack(ctx, []gitobj.OID{c2}, linked); err != nil || p == nil {
		t.Fatalf("install: %v %v", p, err)
	}
	a, _ := os.Stat(filepath.Join(linked, got[0][:len(got[0])-4]+".pack"))
	b, _ := os.Stat(filepath.Join(cacheDir, got[0][:len(got[0])-4]+".pack"))
	if a == nil || b == nil || !os.SameFile(a, b) {
		t.Fatal("a client that can reach the cache was not given a link")
	}
	// The connection is still in step.
	if _, err := g.List(ctx, false); err != nil {
		t.Fatal(err)
	}

	// A hidden ref's value: refused.
	if _, err := g.InstallClonePack(ctx, []gitobj.OID{sec}, t.TempDir()); !errors.Is(err, ErrDenied) {
		t.Fatalf("clone pack of a hidden ref: %v", err)
	}
	// An untrusted client is given none (its objects are checked one by
	// one instead).
	if p, err := f.client(t).Git(false).InstallClonePack(ctx, []gitobj.OID{c2}, t.TempDir()); p != nil || err != nil {
		t.Fatalf("untrusted client: %v %v", p, err)
	}
}
