package storeremote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/objstore"
)

// repo is a small in-memory git repository for building objects.
type repo struct {
	t    *testing.T
	objs map[gitobj.OID]gitobj.Object
}

func newRepo(t *testing.T) *repo { return &repo{t: t, objs: map[gitobj.OID]gitobj.Object{}} }

func (g *repo) add(typ gitobj.Type, data string) gitobj.OID {
	g.t.Helper()
	id, err := gitobj.HashObject(gitobj.SHA1, typ, []byte(data))
	if err != nil {
		g.t.Fatal(err)
	}
	g.objs[id] = gitobj.Object{Type: typ, OID: id, Data: []byte(data)}
	return id
}

type ent struct {
	mode string
	name string
	id   gitobj.OID
}

func (g *repo) tree(es ...ent) gitobj.OID {
	var b strings.Builder
	for _, e := range es {
		b.WriteString(e.mode + " " + e.name + "\x00")
		b.Write(e.id.Bytes())
	}
	return g.add(gitobj.Tree, b.String())
}

func (g *repo) commit(tree gitobj.OID, msg string, parents ...gitobj.OID) gitobj.OID {
	s := "tree " + tree.String() + "\n"
	for _, p := range parents {
		s += "parent " + p.String() + "\n"
	}
	s += "author A <a@example.com> 1700000000 +0100\ncommitter C <c@example.com> 1700000001 -0230\n\n" + msg
	return g.add(gitobj.Commit, s)
}

func (g *repo) tag(target gitobj.OID, typ, name string) gitobj.OID {
	return g.add(gitobj.Tag, "object "+target.String()+"\ntype "+typ+"\ntag "+name+"\ntagger T <t@example.com> 1700000000 +0000\n\n"+name+"\n")
}

// pushObjects is helper.PushObjects over a repo: every object is offered,
// as for a push into an empty remote.
type pushObjects struct {
	g    *repo
	ids  []gitobj.OID
	read int
	fail error
}

func (p *pushObjects) IDs(context.Context) ([]gitobj.OID, error) { return p.ids, nil }

func (p *pushObjects) Read(ctx context.Context, ids []gitobj.OID, fn func(gitobj.Object) error) error {
	for _, id := range ids {
		if p.fail != nil {
			return p.fail
		}
		o, ok := p.g.objs[id]
		if !ok {
			return fmt.Errorf("no object %v", id)
		}
		p.read++
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

func (g *repo) all() *pushObjects {
	p := &pushObjects{g: g}
	for id := range g.objs {
		p.ids = append(p.ids, id)
	}
	return p
}

// sink collects fetched objects, checking their ids.
type sink struct {
	t    *testing.T
	objs map[gitobj.OID]gitobj.Object
}

func (s *sink) WriteObject(o gitobj.Object) error {
	if err := gitobj.Verify(gitobj.SHA1, o); err != nil {
		s.t.Fatal(err)
	}
	if _, dup := s.objs[o.OID]; dup {
		s.t.Fatalf("object %v sent twice", o.OID)
	}
	s.objs[o.OID] = gitobj.Object{Type: o.Type, OID: o.OID, Data: append([]byte(nil), o.Data...)}
	return nil
}

// keepOpen is a KV whose Close does nothing, so that a Remote can close
// and reopen stores on it.
type keepOpen struct{ *objstore.MemKV }

func (keepOpen) Close() error { return nil }

func newRemote(t *testing.T) (*Remote, *objstore.Store) {
	t.Helper()
	kv := keepOpen{objstore.NewMemKV()}
	s, err := objstore.Init(kv, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return New(func(bool) (*objstore.Store, error) { return objstore.Open(kv, objstore.Options{}) }), s
}

func listMap(t *testing.T, r *Remote, forPush bool) map[string]helper.Ref {
	t.Helper()
	refs, err := r.List(context.Background(), forPush)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]helper.Ref{}
	for _, ref := range refs {
		out[ref.Name] = ref
	}
	return out
}

func push(t *testing.T, r *Remote, objs helper.PushObjects, opts helper.PushOptions, us ...helper.RefUpdate) []error {
	t.Helper()
	res, err := r.Push(context.Background(), us, opts, objs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func fetch(t *testing.T, r *Remote, wants, haves []gitobj.OID) map[gitobj.OID]gitobj.Object {
	t.Helper()
	s := &sink{t: t, objs: map[gitobj.OID]gitobj.Object{}}
	if err := r.Fetch(context.Background(), wants, haves, s); err != nil {
		t.Fatal(err)
	}
	return s.objs
}

func fsck(t *testing.T, s *objstore.Store) {
	t.Helper()
	rep, err := s.Fsck(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() {
		t.Fatalf("fsck: %v", rep.Problems)
	}
}

// history builds: c1 (a.txt, dir/b.txt, exec, link, gitlink) <- c2
// (a.txt changed), an annotated tag of c1, a tag of a tree, a blob.
type history struct {
	g                                        *repo
	c1, c2, tag1, treeTag, blob, tree1, big1 gitobj.OID
}

func newHistory(t *testing.T) *history {
	g := newRepo(t)
	h := &history{g: g}
	a1 := g.add(gitobj.Blob, "a 1\n")
	a2 := g.add(gitobj.Blob, "a 2\n")
	b := g.add(gitobj.Blob, "b\n")
	h.blob = b
	big := strings.Repeat("0123456789abcdef", 20000) // chunked
	h.big1 = g.add(gitobj.Blob, big)
	sub := g.tree(ent{"100644", "b.txt", b}, ent{"100644", "big", h.big1})
	link := gitobj.MustParseOID("1111111111111111111111111111111111111111")
	h.tree1 = g.tree(ent{"100644", "a.txt", a1}, ent{"40000", "dir", sub}, ent{"100755", "run", b}, ent{"120000", "sym", a1}, ent{"160000", "vendor", link})
	tree2 := g.tree(ent{"100644", "a.txt", a2}, ent{"40000", "dir", sub}, ent{"100755", "run", b}, ent{"120000", "sym", a1}, ent{"160000", "vendor", link})
	h.c1 = g.commit(h.tree1, "one\n")
	h.c2 = g.commit(tree2, "two\n", h.c1)
	h.tag1 = g.tag(h.c1, "commit", "v1")
	h.treeTag = g.tag(sub, "tree", "tt")
	return h
}

var zero gitobj.OID

func TestPushListFetch(t *testing.T) {
	r, s := newRemote(t)
	if refs := listMap(t, r, false); len(refs) != 0 {
		t.Fatalf("empty store lists %v", refs)
	}
	h := newHistory(t)
	objs := h.g.all()
	res := push(t, r, objs, helper.PushOptions{},
		helper.RefUpdate{Name: "refs/heads/trunk", New: h.c2},
		helper.RefUpdate{Name: "refs/tags/v1", New: h.tag1},
		helper.RefUpdate{Name: "refs/tags/tt", New: h.treeTag},
		helper.RefUpdate{Name: "refs/tags/blob", New: h.blob},
	)
	for i, err := range res {
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	fsck(t, s)
	refs := listMap(t, r, false)
	if refs["HEAD"].Symref != "refs/heads/trunk" {
		t.Fatalf("HEAD: got %+v, want a symref to the first branch pushed", refs["HEAD"])
	}
	for name, want := range map[string]gitobj.OID{"refs/heads/trunk": h.c2, "refs/tags/v1": h.tag1, "refs/tags/tt": h.treeTag, "refs/tags/blob": h.blob} {
		if refs[name].OID != want {
			t.Errorf("%s = %v, want %v", name, refs[name].OID, want)
		}
	}
	if refs["refs/tags/v1"].Peeled != h.c1 || refs["refs/heads/trunk"].Peeled.Valid() {
		t.Errorf("peeled: %+v %+v", refs["refs/tags/v1"], refs["refs/heads/trunk"])
	}
	// A full fetch returns every object, byte for byte.
	got := fetch(t, r, []gitobj.OID{h.c2, h.tag1, h.treeTag, h.blob}, nil)
	if len(got) != len(h.g.objs) {
		t.Fatalf("fetched %d objects, want %d", len(got), len(h.g.objs))
	}
	for id, o := range h.g.objs {
		if string(got[id].Data) != string(o.Data) {
			t.Errorf("object %v differs", id)
		}
	}
	// An incremental fetch sends only what c2 added: commit, root tree, blob.
	got = fetch(t, r, []gitobj.OID{h.c2}, []gitobj.OID{h.c1, gitobj.MustParseOID("2222222222222222222222222222222222222222")})
	if len(got) != 3 {
		t.Fatalf("incremental fetch sent %d objects, want 3", len(got))
	}
	// A second push of the same objects stores nothing new.
	again := h.g.all()
	res = push(t, r, again, helper.PushOptions{}, helper.RefUpdate{Name: "refs/heads/copy", New: h.c2})
	if res[0] != nil || again.read != 0 {
		t.Fatalf("re-push: %v, read %d objects, want 0", res[0], again.read)
	}
}

func TestPushCompareAndSwap(t *testing.T) {
	r, s := newRemote(t)
	h := newHistory(t)
	push(t, r, h.g.all(), helper.PushOptions{}, helper.RefUpdate{Name: "refs/heads/main", New: h.c1})
	other := gitobj.MustParseOID("3333333333333333333333333333333333333333")

	// A stale old value: fetch first, or stale info for a lease.
	res := push(t, r, h.g.all(), helper.PushOptions{},
		helper.RefUpdate{Name: "refs/heads/main", Old: other, New: h.c2},
		helper.RefUpdate{Name: "refs/heads/x", Old: other, New: h.c2, Lease: true},
		helper.RefUpdate{Name: "refs/heads/y", New: h.c2},
	)
	if res[0] != helper.FetchFirst || res[1] != helper.StaleInfo || res[2] != nil {
		t.Fatalf("got %v", res)
	}
	// Atomic: nothing lands, the others say why.
	res = push(t, r, h.g.all(), helper.PushOptions{Atomic: true},
		helper.RefUpdate{Name: "refs/heads/main", Old: other, New: h.c2},
		helper.RefUpdate{Name: "refs/heads/z", New: h.c2},
	)
	if res[0] != helper.FetchFirst || res[1] != helper.AtomicFailed {
		t.Fatalf("got %v", res)
	}
	if refs := listMap(t, r, true); refs["refs/heads/z"].OID.Valid() {
		t.Fatal("atomic push landed")
	}
	// Dry run: the right answers, no change.
	res = push(t, r, h.g.all(), helper.PushOptions{DryRun: true}, helper.RefUpdate{Name: "refs/heads/main", Old: h.c1, New: h.c2})
	if res[0] != nil || listMap(t, r, true)["refs/heads/main"].OID != h.c1 {
		t.Fatalf("dry run: %v", res)
	}
	// Delete, and delete of a ref that does not exist.
	res = push(t, r, h.g.all(), helper.PushOptions{}, helper.RefUpdate{Name: "refs/heads/y", Old: h.c2}, helper.RefUpdate{Name: "refs/heads/none"})
	if res[0] != nil || res[1] != nil {
		t.Fatalf("delete: %v", res)
	}
	if _, err := s.GitRef("refs/heads/y"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("git value of a deleted ref: %v", err)
	}
	// A new value whose closure is not there is refused.
	g := newRepo(t)
	orphan := g.commit(h.tree1, "orphan\n", gitobj.MustParseOID("4444444444444444444444444444444444444444"))
	if _, err := r.Push(context.Background(), []helper.RefUpdate{{Name: "refs/heads/orphan", New: orphan}}, helper.PushOptions{}, g.all()); err == nil || !strings.Contains(err.Error(), "missing object") {
		t.Fatalf("orphan: %v", err)
	}
	res = push(t, r, &pushObjects{g: g}, helper.PushOptions{}, helper.RefUpdate{Name: "refs/heads/ghost", New: other})
	if res[0] == nil || !strings.Contains(res[0].Error(), "missing object") {
		t.Fatalf("ghost: %v", res)
	}
	// A failed read (git fsck rejected an object) fails the batch.
	bad := h.g.all()
	bad.fail = &gitobj.FsckError{ID: "hasDotgit", Detail: "x"}
	r2, _ := newRemote(t)
	if _, err := r2.Push(context.Background(), []helper.RefUpdate{{Name: "refs/heads/main", New: h.c1}}, helper.PushOptions{}, bad); !errors.As(err, new(*gitobj.FsckError)) {
		t.Fatalf("got %v", err)
	}
	fsck(t, s)
}

// States made inside helios are exported as git commits, served by
// Fetch, and recorded by the next push.
func TestExportHeliosStates(t *testing.T) {
	r, s := newRemote(t)
	h := newHistory(t)
	push(t, r, h.g.all(), helper.PushOptions{}, helper.RefUpdate{Name: "refs/heads/main", New: h.c2})
	base, _, err := s.Resolve("refs/heads/main")
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.NewDraft(base)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Put("dir/new.txt", objstore.ModeExec, []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	when := time.Unix(1700000500, 0).In(time.FixedZone("", 5*3600+1800))
	if _, err := d.Commit(objstore.CommitOptions{Ref: "refs/heads/mcts/1", CreateRef: true, Message: "try <1>\n",
		Author: objstore.Signature{Name: "mcts <bot>", Email: "m@x", When: when}}); err != nil {
		t.Fatal(err)
	}
	// An empty state too: no parents, no root.
	d2, _ := s.NewDraft(objstore.ZeroID)
	if _, err := d2.Commit(objstore.CommitOptions{Ref: "refs/heads/empty", CreateRef: true, AllowEmpty: true}); err != nil {
		t.Fatal(err)
	}
	fresh := New(func(bool) (*objstore.Store, error) { return s, nil })
	refs := listMap(t, fresh, false)
	tip := refs["refs/heads/mcts/1"].OID
	got := fetch(t, fresh, []gitobj.OID{tip, refs["refs/heads/empty"].OID}, []gitobj.OID{h.c2})
	c, ok := got[tip]
	if !ok {
		t.Fatalf("exported commit not fetched: %v", got)
	}
	want := "parent " + h.c2.String() + "\nauthor mcts bot <m@x> 1700000500 +0530\ncommitter mcts bot <m@x> 1700000500 +0530\n\ntry <1>\n"
	if !strings.Contains(string(c.Data), want) {
		t.Fatalf("exported commit:\n%s\nwant it to contain\n%s", c.Data, want)
	}
	if err := gitobj.CheckCommit(gitobj.SHA1, tip, c.Data); err != nil {
		t.Fatal(err)
	}
	// commit, root, dir, new blob; the empty commit and the empty tree.
	if len(got) != 6 {
		t.Fatalf("fetched %d objects, want 6", len(got))
	}
	// The same ids every time.
	if again := listMap(t, New(func(bool) (*objstore.Store, error) { return s, nil }), true); again["refs/heads/mcts/1"].OID != tip {
		t.Fatal("export is not stable")
	}
	// A push on top records the mapping.
	g := newRepo(t)
	for id, o := range got {
		g.objs[id] = o
	}
	top := g.commit(gitobj.MustParseOID(strings.Fields(string(c.Data))[1]), "on top\n", tip)
	res := push(t, fresh, &pushObjects{g: g, ids: []gitobj.OID{top}}, helper.PushOptions{}, helper.RefUpdate{Name: "refs/heads/mcts/1", Old: tip, New: top})
	if res[0] != nil {
		t.Fatal(res[0])
	}
	st, _, _ := s.Resolve("refs/heads/mcts/1")
	state, _ := s.State(st)
	if oid, err := s.GitOID(objstore.KindState, state.Parents[0]); err != nil || toGit(oid) != tip {
		t.Fatalf("export not recorded: %v %v", oid, err)
	}
	fsck(t, s)
	if err := fresh.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReopenForWrite(t *testing.T) {
	kv := keepOpen{objstore.NewMemKV()}
	s, err := objstore.Init(kv, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var modes []bool
	r := New(func(write bool) (*objstore.Store, error) {
		modes = append(modes, write)
		if len(modes) == 3 {
			return nil, errors.New("boom")
		}
		return objstore.Open(s.KV(), objstore.Options{})
	})
	listMap(t, r, false)
	listMap(t, r, false)
	h := newHistory(t)
	push(t, r, h.g.all(), helper.PushOptions{}, helper.RefUpdate{Name: "refs/heads/main", New: h.c1})
	if fmt.Sprint(modes) != "[false true]" {
		t.Fatalf("opened %v", modes)
	}
	if r.Store() == nil {
		t.Fatal("no store")
	}
	r.store = nil
	r.write = false
	if _, err := r.List(context.Background(), true); err == nil {
		t.Fatal("open error not reported")
	}
}

func TestGitBytes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
	}{
		{"A U Thor <a@x> 1700000000 +0100", "A U Thor <a@x> 1700000000 +0100"},
		{"A <a@x> 1700000000 -0230", "A <a@x> 1700000000 -0230"},
		{"A <a@x> 1700000000 -0000", "A <a@x> 1700000000 +0000"},
		{"A <a@x> 1700000000 +9999", "A <a@x> 1700000000 +0000"},
		{"A <a@x> x +0100", "A <a@x> 0 +0000"},
		{"A <a@x>", "A <a@x> 0 +0000"},
		{"no email", "no email <> 0 +0000"},
	} {
		if got := string(appendIdent(nil, parseIdent(c.in))); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
	if got := string(appendIdent(nil, objstore.Signature{Name: "x"})); got != "x <> 0 +0000" {
		t.Errorf("zero time: %q", got)
	}
	for _, bad := range []string{"", "tree zz\n", "parent x\n", "tree 0000000000000000000000000000000000000000\nparent zz\n"} {
		if _, _, err := commitLinks([]byte(bad)); err == nil {
			t.Errorf("commitLinks(%q): want an error", bad)
		}
	}
	for _, bad := range []string{"", "object zz\n", "object 0000000000000000000000000000000000000000\ntype bogus\n", "type commit\n"} {
		if _, _, err := tagTarget([]byte(bad)); err == nil {
			t.Errorf("tagTarget(%q): want an error", bad)
		}
	}
	for _, bad := range []string{"100644", "1x0644 a\x00", "100644 a", "100644 a\x00short"} {
		if err := eachTreeEntry([]byte(bad), func(treeEntry) error { return nil }); err == nil {
			t.Errorf("eachTreeEntry(%q): want an error", bad)
		}
	}
	if _, ok := storeMode(0o100664); ok {
		t.Error("100664 accepted")
	}
	if gitMode(objstore.ModeDir) != "40000" || gitMode(objstore.ModeExec) != "100755" {
		t.Error("gitMode")
	}
}

type failSink struct{ n int }

func (f *failSink) WriteObject(gitobj.Object) error {
	f.n++
	if f.n == 2 {
		return errors.New("disk full")
	}
	return nil
}

func TestEdgeCases(t *testing.T) {
	r, s := newRemote(t)
	h := newHistory(t)
	tagOfTag := h.g.tag(h.tag1, "tag", "v1-signed")
	res := push(t, r, h.g.all(), helper.PushOptions{},
		helper.RefUpdate{Name: "refs/heads/main", New: h.c2},
		helper.RefUpdate{Name: "refs/tags/chain", New: tagOfTag},
	)
	if res[0] != nil || res[1] != nil {
		t.Fatalf("got %v", res)
	}
	refs := listMap(t, r, false)
	if refs["refs/tags/chain"].Peeled != h.c1 {
		t.Fatalf("tag chain peeled to %v", refs["refs/tags/chain"].Peeled)
	}
	// The sink's error ends the fetch.
	if err := r.Fetch(context.Background(), []gitobj.OID{h.c2}, nil, &failSink{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("got %v", err)
	}
	// Wanting what the store does not have is an error.
	if err := r.Fetch(context.Background(), []gitobj.OID{gitobj.MustParseOID("5555555555555555555555555555555555555555")}, nil, &failSink{}); err == nil {
		t.Fatal("fetch of an unknown object succeeded")
	}
	// A ref moved inside helios: its recorded git value no longer holds,
	// the state's own git id does.
	c1state, err := s.GitObject(fromGit(h.c1))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRefs(objstore.RefUpdate{Name: "refs/heads/main", Old: mustResolve(t, s, "refs/heads/main"), New: c1state.ID}); err != nil {
		t.Fatal(err)
	}
	if got := listMap(t, New(r.open), true)["refs/heads/main"].OID; got != h.c1 {
		t.Fatalf("moved ref lists %v, want %v", got, h.c1)
	}
	// A push to a symbolic ref of the store is refused.
	if err := s.SetSymbolicRef("refs/heads/alias", "refs/heads/main"); err != nil {
		t.Fatal(err)
	}
	r2 := New(r.open)
	res = push(t, r2, h.g.all(), helper.PushOptions{}, helper.RefUpdate{Name: "refs/heads/alias", New: h.c2})
	if res[0] == nil || !strings.Contains(res[0].Error(), "symbolic") {
		t.Fatalf("got %v", res)
	}
	// A tag that lies about its target's type is refused.
	g := newRepo(t)
	liar := g.tag(h.c1, "tree", "liar")
	if _, err := r2.Push(context.Background(), []helper.RefUpdate{{Name: "refs/tags/liar", New: liar}}, helper.PushOptions{}, g.all()); err == nil {
		t.Fatal("lying tag accepted")
	}
	// A commit whose tree is a blob is refused.
	g = newRepo(t)
	wrong := g.commit(h.blob, "wrong\n")
	if _, err := r2.Push(context.Background(), []helper.RefUpdate{{Name: "refs/heads/wrong", New: wrong}}, helper.PushOptions{}, g.all()); err == nil {
		t.Fatal("commit with a blob as tree accepted")
	}
	fsck(t, s)
}

func mustResolve(t *testing.T, s *objstore.Store, name string) objstore.ID {
	t.Helper()
	id, _, err := s.Resolve(name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestPushCommitTypeMismatch: a commit that names a blob as its tree, or a
// tree as its parent, fails the push with the reason.
func TestPushCommitTypeMismatch(t *testing.T) {
	for _, c := range []struct {
		reason string
		make   func(h *history) gitobj.OID
	}{
		{"as its tree, it is a blob", func(h *history) gitobj.OID { return h.g.commit(h.blob, "bad\n") }},
		{"as a parent, it is a tree", func(h *history) gitobj.OID { return h.g.commit(h.tree1, "bad parent\n", h.tree1) }},
	} {
		h := newHistory(t)
		bad := c.make(h)
		r, _ := newRemote(t)
		_, err := r.Push(context.Background(), []helper.RefUpdate{{Name: "refs/heads/bad", New: bad}}, helper.PushOptions{}, h.g.all())
		if err == nil || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("push of a commit naming a wrong type: %v, want %q", err, c.reason)
		}
	}
}

// countingKV counts the reads of keys that end with one of watch's git
// ids (the store's mapping entries of those ids), and the keys asked
// about by Has and MultiHas (the writer's lookups before it writes), so
// that a test can see which lookups a push made.
type countingKV struct {
	keepOpen
	watch map[gitobj.OID]bool
	gets  int
	has   int
}

func (c *countingKV) Get(key []byte) ([]byte, error) {
	if len(key) >= 20 {
		if id, err := gitobj.OIDFromBytes(key[len(key)-20:]); err == nil && c.watch[id] {
			c.gets++
		}
	}
	return c.keepOpen.Get(key)
}

func (c *countingKV) Has(key []byte) (bool, error) {
	c.has++
	return c.keepOpen.Has(key)
}

func (c *countingKV) MultiHas(keys [][]byte) ([]bool, error) {
	c.has += len(keys)
	return c.keepOpen.MultiHas(keys)
}

// TestFirstPushSkipsLookups: a push into a store that maps no git object
// looks up neither the ids it lists (a mirror's 32k misses) nor the
// reverse entries of the trees and states it writes; a push of the same
// history into a store that maps one other object looks each of them up.
// Both store everything and fetch back byte for byte.
func TestFirstPushSkipsLookups(t *testing.T) {
	has := map[bool]int{}
	firstWins := 0 // the history's trees and commits
	for _, mapped := range []bool{false, true} {
		h := newHistory(t)
		kv := &countingKV{keepOpen: keepOpen{objstore.NewMemKV()}, watch: map[gitobj.OID]bool{}}
		firstWins = 0
		for id, o := range h.g.objs {
			kv.watch[id] = true
			if o.Type == gitobj.Tree || o.Type == gitobj.Commit {
				firstWins++
			}
		}
		s, err := objstore.Init(kv, objstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r := New(func(bool) (*objstore.Store, error) { return objstore.Open(kv, objstore.Options{}) })
		if mapped {
			g := newRepo(t)
			other := g.add(gitobj.Blob, "another repository's blob\n")
			if res := push(t, r, g.all(), helper.PushOptions{}, helper.RefUpdate{Name: "refs/tags/other", New: other}); res[0] != nil {
				t.Fatal(res[0])
			}
		}
		objs := h.g.all()
		hasBefore := kv.has
		if res := push(t, r, objs, helper.PushOptions{}, helper.RefUpdate{Name: "refs/heads/trunk", New: h.c2}); res[0] != nil {
			t.Fatal(res[0])
		}
		has[mapped] = kv.has - hasBefore
		if want := map[bool]int{false: 0, true: len(objs.ids)}[mapped]; kv.gets != want {
			t.Errorf("mapped %v: the push read %d mapping entries of the ids it listed, want %d", mapped, kv.gets, want)
		}
		if objs.read != len(objs.ids) {
			t.Errorf("mapped %v: read %d objects, want all %d", mapped, objs.read, len(objs.ids))
		}
		fsck(t, s)
		got := fetch(t, r, []gitobj.OID{h.c2}, nil)
		for id, o := range h.g.objs {
			if id != h.tag1 && id != h.treeTag && string(got[id].Data) != string(o.Data) {
				t.Errorf("mapped %v: object %v differs after the round trip", mapped, id)
			}
		}
	}
	if has[true]-has[false] < firstWins {
		t.Errorf("keys looked up before writing: %d into a store that maps nothing, %d into one that maps an object; want at least the %d reverse entries of trees and commits fewer",
			has[false], has[true], firstWins)
	}
}
