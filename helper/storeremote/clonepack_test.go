package storeremote

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/clonepack"
	"github.com/helios-vcs/helios/helper/gitobj"
)

// TestClonePackReaches: a pack is offered to a clone whose wants reach
// every tip (wanted, or the parent of a commit the clone adds), and to no
// other; a tag, a tree or an unrelated commit as a tip is not reached.
func TestClonePackReaches(t *testing.T) {
	r, s := newRemote(t)
	defer r.Close()
	defer s.Close()
	h := newHistory(t)
	push(t, r, h.g.all(), helper.PushOptions{},
		helper.RefUpdate{Name: "refs/heads/main", Old: zero, New: h.c2},
		helper.RefUpdate{Name: "refs/tags/v1", Old: zero, New: h.tag1})
	other := h.g.commit(h.tree1, "unrelated\n")
	push(t, r, h.g.all(), helper.PushOptions{}, helper.RefUpdate{Name: "refs/heads/other", Old: zero, New: other})
	ctx := context.Background()
	for _, c := range []struct {
		name        string
		wants, tips []gitobj.OID
		want        bool
	}{
		{"tips wanted", []gitobj.OID{h.c2, h.tag1}, []gitobj.OID{h.c2}, true},
		{"a branch moved forward", []gitobj.OID{h.c2}, []gitobj.OID{h.c1}, true},
		{"moved forward and a wanted tag", []gitobj.OID{h.c2, h.tag1}, []gitobj.OID{h.c1, h.tag1}, true},
		{"a tip the wants do not reach", []gitobj.OID{h.c2}, []gitobj.OID{other}, false},
		{"a newer tip than the wants", []gitobj.OID{h.c1}, []gitobj.OID{h.c2}, false},
		{"a tag not wanted", []gitobj.OID{h.c2}, []gitobj.OID{h.tag1}, false},
		{"a tree", []gitobj.OID{h.c2}, []gitobj.OID{h.tree1}, false},
	} {
		got, err := r.reaches(ctx, c.wants, c.tips)
		if err != nil || got != c.want {
			t.Errorf("%s: reaches = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

// TestInstallClonePack: a clone installs the pack the cache builds for its
// wants, a later one the same pack; a pack whose files went (evicted by
// another process after it was chosen) means no pack, not a failed clone.
func TestInstallClonePack(t *testing.T) {
	r, s := newRemote(t)
	defer r.Close()
	defer s.Close()
	h := newHistory(t)
	push(t, r, h.g.all(), helper.PushOptions{}, helper.RefUpdate{Name: "refs/heads/main", Old: zero, New: h.c2})
	ctx := context.Background()
	if p, err := r.InstallClonePack(ctx, []gitobj.OID{h.c2}, t.TempDir()); p != nil || err != nil {
		t.Fatalf("without a cache: %v %v", p, err)
	}
	cache := clonepack.Open(filepath.Join(t.TempDir(), "cache"), 0)
	r.ClonePacks = cache
	first := t.TempDir()
	p, err := r.InstallClonePack(ctx, []gitobj.OID{h.c2}, first)
	if err != nil || p == nil {
		t.Fatalf("install: %v %v", p, err)
	}
	if len(p.Tips) != 1 || p.Tips[0] != h.c2 || len(p.Wanted) != 1 || p.Wanted[0].OID != h.c2 || p.Wanted[0].Type != gitobj.Commit {
		t.Fatalf("installed %+v", p)
	}
	idx, _ := filepath.Glob(filepath.Join(first, "pack-*.idx"))
	if len(idx) != 1 {
		t.Fatalf("installed %v", idx)
	}
	packs, _ := filepath.Glob(filepath.Join(cache.Dir(), "pack-*.pack"))
	if len(packs) != 1 {
		t.Fatalf("cache holds %v", packs)
	}
	os.Remove(packs[0])
	if p, err := r.InstallClonePack(ctx, []gitobj.OID{h.c2}, t.TempDir()); p != nil || err != nil {
		t.Fatalf("a pack whose file went: %v %v, want no pack and no error", p, err)
	}
}
