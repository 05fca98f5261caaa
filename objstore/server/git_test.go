package server

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/audit/storeaudit"
	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/objstore"
)

// memObjects is helper.PushObjects over objects held in memory, without
// the checks a real helper makes: what a hostile client could send.
type memObjects struct {
	ids  []gitobj.OID
	objs map[gitobj.OID]gitobj.Object
	// send, if set, replaces the objects sent for the ids asked for.
	send func(ids []gitobj.OID) []gitobj.Object
	// fail, if set, is returned after the objects were sent.
	fail  error
	asked []gitobj.OID
}

func (m *memObjects) IDs(context.Context) ([]gitobj.OID, error) { return m.ids, nil }

func (m *memObjects) Read(ctx context.Context, ids []gitobj.OID, fn func(gitobj.Object) error) error {
	m.asked = append(m.asked, ids...)
	objs := make([]gitobj.Object, 0, len(ids))
	if m.send != nil {
		objs = m.send(ids)
	} else {
		for _, id := range ids {
			objs = append(objs, m.objs[id])
		}
	}
	for _, o := range objs {
		if err := fn(o); err != nil {
			return err
		}
	}
	return m.fail
}

func (m *memObjects) add(t *testing.T, typ gitobj.Type, data string) gitobj.OID {
	t.Helper()
	id, err := gitobj.HashObject(gitobj.SHA1, typ, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if m.objs == nil {
		m.objs = map[gitobj.OID]gitobj.Object{}
	}
	m.objs[id] = gitobj.Object{Type: typ, OID: id, Data: []byte(data)}
	m.ids = append(m.ids, id)
	return id
}

// history builds blob → tree → commit and returns the commit's id.
func (m *memObjects) history(t *testing.T, content, msg string, parent gitobj.OID) gitobj.OID {
	t.Helper()
	blob := m.add(t, gitobj.Blob, content)
	tree := m.add(t, gitobj.Tree, "100644 f\x00"+string(blob.Bytes()))
	c := "tree " + tree.String() + "\n"
	if parent.Valid() {
		c += "parent " + parent.String() + "\n"
	}
	c += "author A <a@example.com> 1700000000 +0000\ncommitter A <a@example.com> 1700000000 +0000\n\n" + msg + "\n"
	return m.add(t, gitobj.Commit, c)
}

// commitOf adds a root commit of tree.
func (m *memObjects) commitOf(t *testing.T, tree gitobj.OID) gitobj.OID {
	t.Helper()
	return m.add(t, gitobj.Commit, "tree "+tree.String()+"\nauthor A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n\nx\n")
}

type collect []gitobj.Object

func (c *collect) WriteObject(o gitobj.Object) error {
	o.Data = append([]byte(nil), o.Data...)
	*c = append(*c, o)
	return nil
}

func TestGitPushFetchThroughServer(t *testing.T) {
	f := newFixture(t, Options{})
	g := f.client(t).Git(true)
	ctx := context.Background()
	if refs, err := g.List(ctx, false); err != nil || len(refs) != 0 {
		t.Fatalf("empty store lists %v, %v", refs, err)
	}
	var objs memObjects
	c1 := objs.history(t, "one\n", "one", gitobj.OID{})
	res, err := g.Push(ctx, []helper.RefUpdate{{Name: "refs/heads/main", Old: gitobj.SHA1.ZeroOID(), New: c1}}, helper.PushOptions{}, &objs)
	if err != nil || res[0] != nil {
		t.Fatalf("push: %v %v", res, err)
	}
	if len(objs.asked) != 3 {
		t.Errorf("server asked for %d objects, want the 3 it lacks", len(objs.asked))
	}
	// A second push of the same objects asks for nothing; a stale old
	// value is rejected in git's words.
	objs.asked = nil
	c2 := objs.history(t, "two\n", "two", c1)
	res, err = g.Push(ctx, []helper.RefUpdate{
		{Name: "refs/heads/main", Old: c1, New: c2},
		{Name: "refs/heads/other", Old: c1, New: c2},
	}, helper.PushOptions{}, &objs)
	if err != nil || res[0] != nil || !errors.Is(res[1], helper.FetchFirst) {
		t.Fatalf("push: %v %v", res, err)
	}
	if len(objs.asked) != 3 {
		t.Errorf("second push asked for %d objects, want 3 new ones", len(objs.asked))
	}
	// A fresh connection lists and fetches what was pushed, exactly.
	g2 := f.client(t).Git(true)
	refs, err := g2.List(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range refs {
		names = append(names, r.Name+"="+r.OID.String()+r.Symref)
	}
	if want := []string{"HEAD=refs/heads/main", "refs/heads/main=" + c2.String()}; fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("list = %v, want %v", names, want)
	}
	var got collect
	if err := g2.Fetch(ctx, []gitobj.OID{c2}, []gitobj.OID{c1}, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("fetch with c1 as have sent %d objects, want 3", len(got))
	}
	for _, o := range got {
		want := objs.objs[o.OID]
		if o.Type != want.Type || string(o.Data) != string(want.Data) {
			t.Errorf("object %s came back as %v %q", o.OID, o.Type, o.Data)
		}
	}
	// The connection is still in step after all that.
	if _, err := g2.List(ctx, true); err != nil {
		t.Fatal(err)
	}
}

// listedObjects is memObjects listed as helper.PushObjectLister: the ids
// go out one by one, and the listing can fail part way.
type listedObjects struct {
	*memObjects
	failAt int // List fails before the failAt-th id (0: never)
}

var errListing = errors.New("rev-list died")

func (l listedObjects) IDs(context.Context) ([]gitobj.OID, error) {
	return nil, errors.New("IDs called, where List should be")
}

func (l listedObjects) List(ctx context.Context, fn func(gitobj.OID) error) error {
	return listFailing(l.ids, l.failAt, nil, fn)
}

// listFailing calls fn with each id, after hold (if set) said the i-th
// may go, and fails with errListing before the failAt-th (0: never).
func listFailing(ids []gitobj.OID, failAt int, hold func(i int) error, fn func(gitobj.OID) error) error {
	for i, id := range ids {
		if hold != nil {
			if err := hold(i); err != nil {
				return err
			}
		}
		if failAt > 0 && i == failAt {
			return errListing
		}
		if err := fn(id); err != nil {
			return err
		}
	}
	return nil
}

// TestGitPushListed: the ids go to the server as the client lists them.
// A listing that fails part way ends the push with the client's error
// and stores nothing; a push refused before the server reads the ids
// (atomic, one stale ref) leaves them read all the same: either way the
// connection stays in step.
func TestGitPushListed(t *testing.T) {
	f := newFixture(t, Options{})
	g := f.client(t).Git(true)
	ctx := context.Background()
	var objs memObjects
	c1 := objs.history(t, "one\n", "one", gitobj.OID{})
	main := func(old, new gitobj.OID) []helper.RefUpdate {
		return []helper.RefUpdate{{Name: "refs/heads/main", Old: old, New: new}}
	}
	res, err := g.Push(ctx, main(gitobj.SHA1.ZeroOID(), c1), helper.PushOptions{}, listedObjects{memObjects: &objs})
	if err != nil || res[0] != nil || len(objs.asked) != 3 {
		t.Fatalf("push: %v %v, asked for %d objects, want 3", res, err, len(objs.asked))
	}
	// Many ids (more than a connection's buffers hold), then the
	// listing fails.
	objs.asked = nil
	for i := range 20000 {
		objs.add(t, gitobj.Blob, fmt.Sprintf("filler %d\n", i))
	}
	c2 := objs.history(t, "two\n", "two", c1)
	_, err = g.Push(ctx, main(c1, c2), helper.PushOptions{}, listedObjects{memObjects: &objs, failAt: 15000})
	if !errors.Is(err, errListing) {
		t.Errorf("push with a failing listing: %v, want %v", err, errListing)
	}
	if len(objs.asked) != 0 {
		t.Errorf("the server asked for %d objects of a failed listing", len(objs.asked))
	}
	// Refused up front: the server reads the ids without asking for any.
	res, err = g.Push(ctx, append(main(c1, c2), helper.RefUpdate{Name: "refs/heads/x", Old: c1, New: c2}), helper.PushOptions{Atomic: true}, listedObjects{memObjects: &objs})
	if err != nil || res[0] == nil || !errors.Is(res[1], helper.FetchFirst) {
		t.Errorf("atomic push with a stale ref: %v %v", res, err)
	}
	if len(objs.asked) != 0 {
		t.Errorf("the server asked for %d objects of a refused push", len(objs.asked))
	}
	refs, err := g.List(ctx, true)
	if err != nil || len(refs) != 2 || refs[1].Name != "refs/heads/main" || refs[1].OID != c1 {
		t.Fatalf("after the failed pushes, refs %v, %v; want HEAD and main at %v", refs, err, c1)
	}
	// The same connection still pushes.
	res, err = g.Push(ctx, main(c1, c2), helper.PushOptions{}, listedObjects{memObjects: &objs})
	if err != nil || res[0] != nil || len(objs.asked) != 20003 {
		t.Fatalf("push: %v %v, asked for %d objects, want 20003", res, err, len(objs.asked))
	}
}

// TestGitPushHostileClient: the server checks what a client sends, as
// git fsck --strict would, and refuses objects it did not ask for; the
// store is unchanged and the connection stays usable.
func TestGitPushHostileClient(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	push := func(objs *memObjects, tip gitobj.OID) error {
		t.Helper()
		// A fresh connection each time: a protocol violation closes one.
		_, err := f.client(t).Git(true).Push(ctx, []helper.RefUpdate{{Name: "refs/heads/main", Old: gitobj.SHA1.ZeroOID(), New: tip}}, helper.PushOptions{}, objs)
		return err
	}
	cases := map[string]func() (*memObjects, gitobj.OID){
		"wrong id": func() (*memObjects, gitobj.OID) {
			var m memObjects
			tip := m.history(t, "x\n", "x", gitobj.OID{})
			m.send = func(ids []gitobj.OID) []gitobj.Object {
				var out []gitobj.Object
				for _, id := range ids {
					o := m.objs[id]
					if o.Type == gitobj.Blob {
						o.Data = []byte("not what the id says\n")
					}
					out = append(out, o)
				}
				return out
			}
			return &m, tip
		},
		"dotgit tree": func() (*memObjects, gitobj.OID) {
			var m memObjects
			blob := m.add(t, gitobj.Blob, "[core]\n")
			tree := m.add(t, gitobj.Tree, "100644 .GIT\x00"+string(blob.Bytes()))
			tip := m.commitOf(t, tree)
			return &m, tip
		},
		"unasked object": func() (*memObjects, gitobj.OID) {
			var m memObjects
			tip := m.history(t, "y\n", "y", gitobj.OID{})
			extra := m.add(t, gitobj.Blob, "smuggled\n")
			m.ids = m.ids[:len(m.ids)-1]
			m.send = func(ids []gitobj.OID) []gitobj.Object {
				out := []gitobj.Object{m.objs[extra]}
				for _, id := range ids {
					out = append(out, m.objs[id])
				}
				return out
			}
			return &m, tip
		},
		"missing object": func() (*memObjects, gitobj.OID) {
			var m memObjects
			tip := m.history(t, "z\n", "z", gitobj.OID{})
			m.send = func(ids []gitobj.OID) []gitobj.Object {
				var out []gitobj.Object
				for _, id := range ids {
					if m.objs[id].Type != gitobj.Blob {
						out = append(out, m.objs[id])
					}
				}
				return out
			}
			return &m, tip
		},
		// The blob comes before the tree that names it .gitmodules: its
		// check runs once the tree is seen, on the bytes kept for it.
		"late gitmodules": func() (*memObjects, gitobj.OID) {
			var m memObjects
			blob := m.add(t, gitobj.Blob, "[submodule \"x\"]\n\tpath = x\n\turl = -upload-pack=evil\n")
			tree := m.add(t, gitobj.Tree, "100644 .gitmodules\x00"+string(blob.Bytes()))
			tip := m.commitOf(t, tree)
			return &m, tip
		},
		"client gives up": func() (*memObjects, gitobj.OID) {
			var m memObjects
			tip := m.history(t, "w\n", "w", gitobj.OID{})
			m.fail = errors.New("local repository is corrupt")
			return &m, tip
		},
	}
	want := map[string]string{
		"wrong id":        "hashes to",
		"dotgit tree":     ".git",
		"unasked object":  "not asked for",
		"missing object":  "did not send 1 of the 3",
		"client gives up": "local repository is corrupt",
		"late gitmodules": "disallowed submodule url",
	}
	for name, mk := range cases {
		objs, tip := mk()
		err := push(objs, tip)
		if err == nil || !strings.Contains(err.Error(), want[name]) {
			t.Errorf("%s: push error %v, want one saying %q", name, err, want[name])
		}
		if refs, err := f.client(t).Refs("refs/"); err != nil || len(refs) != 0 {
			t.Errorf("%s: store refs %v, %v after a refused push", name, refs, err)
		}
	}
}

// TestGitPushLateNamedBlobs: blobs that arrive before the tree naming them
// .gitmodules and .gitattributes, with contents that pass those checks
// (most of a history's files, which the server no longer keeps in memory
// for the case): the push lands.
func TestGitPushLateNamedBlobs(t *testing.T) {
	f := newFixture(t, Options{})
	var m memObjects
	mod := m.add(t, gitobj.Blob, "[submodule \"lib\"]\n\tpath = lib\n\turl = https://example.com/lib.git\n")
	attr := m.add(t, gitobj.Blob, "*.bin binary\n")
	tree := m.add(t, gitobj.Tree, "100644 .gitattributes\x00"+string(attr.Bytes())+"100644 .gitmodules\x00"+string(mod.Bytes()))
	tip := m.commitOf(t, tree)
	res, err := f.client(t).Git(true).Push(context.Background(), []helper.RefUpdate{{Name: "refs/heads/main", Old: gitobj.SHA1.ZeroOID(), New: tip}}, helper.PushOptions{}, &m)
	if err != nil || len(res) != 1 || res[0] != nil {
		t.Fatalf("push: %v %v", res, err)
	}
}

// TestGitPushPolicy: each ref update asks the Authorizer for write, force
// or delete on its ref; a refused one is rejected with the reason and the
// others land (with --atomic, none does).
func TestGitPushPolicy(t *testing.T) {
	f := newFixture(t, Options{Authorizer: denyTags{}})
	g := f.client(t).Git(true)
	ctx := context.Background()
	var objs memObjects
	tip := objs.history(t, "p\n", "p", gitobj.OID{})
	zero := gitobj.SHA1.ZeroOID()
	ups := []helper.RefUpdate{{Name: "refs/heads/main", Old: zero, New: tip}, {Name: "refs/tags/v1", Old: zero, New: tip}}
	res, err := g.Push(ctx, ups, helper.PushOptions{Atomic: true}, &objs)
	if err != nil || !errors.Is(res[0], helper.AtomicFailed) || res[1] == nil || !strings.Contains(res[1].Error(), "may not touch tags") {
		t.Fatalf("atomic push: %v %v", res, err)
	}
	res, err = g.Push(ctx, ups, helper.PushOptions{}, &objs)
	if err != nil || res[0] != nil || res[1] == nil {
		t.Fatalf("push: %v %v", res, err)
	}
	refs, err := g.List(ctx, true)
	if err != nil || len(refs) != 2 || refs[1].Name != "refs/heads/main" {
		t.Fatalf("list after push: %v %v", refs, err)
	}
}

type hideSecret struct{}

func (hideSecret) Authorize(p Peer, op, target string) error {
	if op == RefRead && strings.HasPrefix(target, "refs/heads/secret") {
		return errors.New("secret")
	}
	return nil
}

// TestGitFetchOnlyReadable: refs the peer may not read are not listed, and
// a fetch that asks for their values anyway is refused.
func TestGitFetchOnlyReadable(t *testing.T) {
	f := newFixture(t, Options{Authorizer: hideSecret{}})
	ctx := context.Background()
	var objs memObjects
	pub := objs.history(t, "public\n", "public", gitobj.OID{})
	sec := objs.history(t, "secret\n", "secret", gitobj.OID{})
	zero := gitobj.SHA1.ZeroOID()
	res, err := f.client(t).Git(true).Push(ctx, []helper.RefUpdate{
		{Name: "refs/heads/main", Old: zero, New: pub}, {Name: "refs/heads/secret", Old: zero, New: sec},
	}, helper.PushOptions{}, &objs)
	if err != nil || res[0] != nil || res[1] != nil {
		t.Fatalf("push: %v %v", res, err)
	}
	for _, listFirst := range []bool{true, false} {
		g := f.client(t).Git(true)
		if listFirst {
			refs, err := g.List(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range refs {
				if r.Name == "refs/heads/secret" {
					t.Errorf("a hidden ref was listed")
				}
			}
		}
		var got collect
		if err := g.Fetch(ctx, []gitobj.OID{sec}, nil, &got); !errors.Is(err, ErrDenied) || len(got) != 0 {
			t.Errorf("fetch of a hidden ref's value (listed first: %v): %v, %d objects", listFirst, err, len(got))
		}
		if err := g.Fetch(ctx, []gitobj.OID{pub}, nil, &got); err != nil || len(got) != 3 {
			t.Errorf("fetch of a readable ref's value: %v, %d objects", err, len(got))
		}
	}
}

// TestGitAuditThroughServer: a client gets the store's signed checkpoint
// and consistency proofs that check against it, so a helper can verify
// that the log only grew since it last looked.
func TestGitAuditThroughServer(t *testing.T) {
	kd := t.TempDir()
	_, vkey, err := audit.GenerateKeys(kd, "test-store")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.LoadSigner(filepath.Join(kd, audit.SignerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	kv := objstore.NewMemKV()
	j, err := storeaudit.Open(kv, signer)
	if err != nil {
		t.Fatal(err)
	}
	s, err := objstore.Init(kv, objstore.Options{Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	f := serveStore(t, t.TempDir(), s, Options{VerifierKey: vkey})
	g := f.client(t).Git(true)
	ctx := context.Background()
	var objs memObjects
	c1 := objs.history(t, "a\n", "a", gitobj.OID{})
	zero := gitobj.SHA1.ZeroOID()
	if _, err := g.Push(ctx, []helper.RefUpdate{{Name: "refs/heads/main", Old: zero, New: c1}}, helper.PushOptions{}, &objs); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(t.TempDir(), "kept")
	cp1, key, err := g.AuditCheckpoint()
	if err != nil || key != vkey || cp1 == nil {
		t.Fatalf("checkpoint: %q key %q, %v", cp1, key, err)
	}
	if _, err := audit.CheckConsistency(kept, key, cp1, g); err != nil {
		t.Fatal(err)
	}
	c2 := objs.history(t, "b\n", "b", c1)
	if _, err := g.Push(ctx, []helper.RefUpdate{{Name: "refs/heads/main", Old: c1, New: c2}}, helper.PushOptions{}, &objs); err != nil {
		t.Fatal(err)
	}
	cp2, _, err := g.AuditCheckpoint()
	if err != nil || string(cp2) == string(cp1) {
		t.Fatalf("second checkpoint: %v (unchanged: %v)", err, string(cp2) == string(cp1))
	}
	// The log grew: the proof through the server checks against both
	// signed roots.
	if _, err := audit.CheckConsistency(kept, key, cp2, g); err != nil {
		t.Fatalf("consistency through the server: %v", err)
	}
	// Going back is a rollback, whatever the server says.
	if _, err := audit.CheckConsistency(kept, key, cp1, g); err == nil {
		t.Fatal("an older checkpoint was accepted")
	}
	if _, err := g.ProveTree(100, 1); err == nil {
		t.Error("a proof for a tree the log does not have")
	}
}
