package fakeremote

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/gitobj"
)

// objects is a PushObjects over a map.
type objects struct {
	ids  []gitobj.OID
	data map[gitobj.OID]gitobj.Object
	read int
}

func (o *objects) IDs(context.Context) ([]gitobj.OID, error) { return o.ids, nil }
func (o *objects) Read(_ context.Context, ids []gitobj.OID, fn func(gitobj.Object) error) error {
	for _, id := range ids {
		o.read++
		if err := fn(o.data[id]); err != nil {
			return err
		}
	}
	return nil
}

type sink []gitobj.Object

func (s *sink) WriteObject(o gitobj.Object) error { *s = append(*s, o); return nil }

func obj(t *testing.T, ty gitobj.Type, data string) gitobj.Object {
	id, err := gitobj.HashObject(gitobj.SHA1, ty, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return gitobj.Object{Type: ty, OID: id, Data: []byte(data)}
}

// history builds blob <- tree <- commit c1 <- commit c2, and a tag on c1.
func history(t *testing.T) (all map[gitobj.OID]gitobj.Object, c1, c2, tag gitobj.Object) {
	blob := obj(t, gitobj.Blob, "hi\n")
	tree := obj(t, gitobj.Tree, "100644 a\x00"+string(blob.OID.Bytes()))
	c1 = obj(t, gitobj.Commit, "tree "+tree.OID.String()+"\nauthor A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n\none\n")
	c2 = obj(t, gitobj.Commit, "tree "+tree.OID.String()+"\nparent "+c1.OID.String()+"\nauthor A <a@b> 2 +0000\ncommitter A <a@b> 2 +0000\n\ntwo\n")
	tag = obj(t, gitobj.Tag, "object "+c1.OID.String()+"\ntype commit\ntag v1\ntagger A <a@b> 1 +0000\n\nv1\n")
	all = map[gitobj.OID]gitobj.Object{}
	for _, o := range []gitobj.Object{blob, tree, c1, c2, tag} {
		all[o.OID] = o
	}
	return all, c1, c2, tag
}

func testRemote(t *testing.T, r *Remote, reopen func() *Remote) {
	ctx := context.Background()
	all, c1, c2, tag := history(t)
	var ids []gitobj.OID
	for id := range all {
		if id != c2.OID {
			ids = append(ids, id)
		}
	}
	src := &objects{ids: ids, data: all}
	zero := gitobj.SHA1.ZeroOID()
	res, err := r.Push(ctx, []helper.RefUpdate{
		{Name: "refs/heads/main", Old: zero, New: c1.OID},
		{Name: "refs/tags/v1", New: tag.OID},
	}, helper.PushOptions{}, src)
	if err != nil || res[0] != nil || res[1] != nil {
		t.Fatalf("first push: %v %v", res, err)
	}
	r = reopen()
	refs, err := r.List(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 3 || refs[0].Symref != "refs/heads/main" || refs[2].Peeled != c1.OID {
		t.Fatalf("got %+v", refs)
	}
	if refs, _ := r.List(ctx, true); refs[2].Peeled.Valid() {
		t.Fatal("for-push list peeled a tag")
	}
	// Stale expectations: fetch first, or stale info for a lease.
	res, err = r.Push(ctx, []helper.RefUpdate{
		{Name: "refs/heads/main", Old: c2.OID, New: c2.OID},
		{Name: "refs/heads/lease", Old: c1.OID, New: c2.OID, Lease: true},
		{Name: "refs/heads/other", New: c2.OID},
	}, helper.PushOptions{Atomic: true}, src)
	if err != nil || !errors.Is(res[0], helper.FetchFirst) || !errors.Is(res[1], helper.StaleInfo) || !errors.Is(res[2], helper.AtomicFailed) {
		t.Fatalf("atomic stale push: %v %v", res, err)
	}
	// Dry run reads nothing and changes nothing.
	src.ids = append(src.ids, c2.OID)
	before := src.read
	res, err = r.Push(ctx, []helper.RefUpdate{{Name: "refs/heads/main", Old: c1.OID, New: c2.OID}}, helper.PushOptions{DryRun: true}, src)
	if err != nil || res[0] != nil || src.read != before {
		t.Fatalf("dry run: %v %v read %d", res, err, src.read-before)
	}
	res, err = r.Push(ctx, []helper.RefUpdate{{Name: "refs/heads/main", Old: c1.OID, New: c2.OID}}, helper.PushOptions{}, src)
	if err != nil || res[0] != nil {
		t.Fatalf("ff push: %v %v", res, err)
	}
	if src.read != before+1 {
		t.Fatalf("read %d objects, want only the missing commit", src.read-before)
	}
	// A ref to an object whose closure is missing is rejected.
	orphan := obj(t, gitobj.Commit, "tree "+gitobj.MustParseOID("1111111111111111111111111111111111111111").String()+"\nauthor A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n\nx\n")
	src.data[orphan.OID] = orphan
	res, err = r.Push(ctx, []helper.RefUpdate{{Name: "refs/heads/orphan", New: orphan.OID}}, helper.PushOptions{}, &objects{ids: []gitobj.OID{orphan.OID}, data: src.data})
	if err != nil || res[0] == nil {
		t.Fatalf("orphan push: %v %v", res, err)
	}
	// Fetch sends only what the haves lack.
	var got sink
	if err := reopen().Fetch(ctx, []gitobj.OID{c2.OID}, []gitobj.OID{c1.OID, orphan.OID}, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].OID != c2.OID {
		t.Fatalf("fetch sent %d objects, want the new commit", len(got))
	}
	got = nil
	if err := r.Fetch(ctx, []gitobj.OID{tag.OID}, nil, &got); err != nil || len(got) != 4 {
		t.Fatalf("fetch tag: %d objects, %v", len(got), err)
	}
	// Delete.
	res, err = r.Push(ctx, []helper.RefUpdate{{Name: "refs/tags/v1", Old: tag.OID}}, helper.PushOptions{}, &objects{})
	if err != nil || res[0] != nil {
		t.Fatalf("delete: %v %v", res, err)
	}
	if refs, _ := reopen().Refs(); len(refs) != 1 {
		t.Fatalf("got refs %v", refs)
	}
}

func TestMemory(t *testing.T) {
	r := New(gitobj.SHA1)
	testRemote(t, r, func() *Remote { return r })
}

func TestDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	testRemote(t, r, func() *Remote {
		r, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
	if err := r.SetHead("refs/heads/x"); err != nil {
		t.Fatal(err)
	}
	// A corrupted object is detected on read.
	all, c1, _, _ := history(t)
	_ = all
	os.WriteFile(filepath.Join(dir, "objects", c1.OID.String()), []byte("commit 3\x00abc"), 0o644)
	var s sink
	if err := r.Fetch(context.Background(), []gitobj.OID{c1.OID}, nil, &s); err == nil {
		t.Fatal("corrupt object served")
	}
	for _, bad := range []string{"", "-x"} {
		if _, err := Open(bad); err == nil {
			t.Errorf("Open(%q): want error", bad)
		}
	}
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	if _, err := Open(file); err == nil {
		t.Error("Open(file): want error")
	}
}
