package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/helios-vcs/helios/objstore"
)

func oidOf(b byte) objstore.GitOID {
	var o objstore.GitOID
	for i := range o {
		o[i] = b
	}
	return o
}

func TestGitMapRoundTrip(t *testing.T) {
	s := newStore(t, objstore.NewMemKV())
	w := s.NewWriter()
	blob, err := w.PutBlob([]byte("hello\n"))
	if err != nil {
		t.Fatal(err)
	}
	tree, err := w.PutTree(&objstore.Tree{Entries: []objstore.Entry{{Name: "a", Mode: objstore.ModeFile, ID: blob}}})
	if err != nil {
		t.Fatal(err)
	}
	state, err := w.PutState(&objstore.State{Root: tree, Message: "m"})
	if err != nil {
		t.Fatal(err)
	}
	var g objstore.GitBatch
	objs := map[objstore.GitOID]objstore.GitObject{
		oidOf(1): {Type: objstore.GitBlob, ID: blob},
		oidOf(2): {Type: objstore.GitTree, ID: tree, Raw: []byte("100644 a\x00...")},
		oidOf(3): {Type: objstore.GitCommit, ID: state, Raw: []byte("tree x\n\nm")},
		oidOf(4): {Type: objstore.GitTag, Raw: []byte("object y\ntype commit\n")},
		// A second commit for the same state (a signed variant): the
		// reverse map keeps the first.
		oidOf(5): {Type: objstore.GitCommit, ID: state, Raw: []byte("tree x\ngpgsig z\n\nm")},
	}
	for _, b := range []byte{1, 2, 3, 4, 5} {
		g.PutObject(oidOf(b), objs[oidOf(b)])
	}
	g.SetRef("refs/heads/main", oidOf(3), state)
	g.SetRef("refs/tags/v1", oidOf(4), state)
	if g.Len() == 0 {
		t.Fatal("empty batch")
	}
	// Before the commit nothing is visible.
	if _, err := s.GitObject(oidOf(1)); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("got %v before commit, want not found", err)
	}
	if err := w.CommitGit(&g, objstore.RefUpdate{Name: "refs/heads/main", New: state}, objstore.RefUpdate{Name: "refs/tags/v1", New: state}); err != nil {
		t.Fatal(err)
	}
	for oid, want := range objs {
		got, err := s.GitObject(oid)
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != want.Type || got.ID != want.ID || !bytes.Equal(got.Raw, want.Raw) {
			t.Errorf("%v: got %+v, want %+v", oid, got, want)
		}
		if _, ok, err := s.GitLookup(oid); err != nil || !ok {
			t.Errorf("%v: lookup %v %v", oid, ok, err)
		}
	}
	for _, c := range []struct {
		k    objstore.Kind
		id   objstore.ID
		want objstore.GitOID
	}{{objstore.KindBlob, blob, oidOf(1)}, {objstore.KindTree, tree, oidOf(2)}, {objstore.KindState, state, oidOf(3)}} {
		if got, err := s.GitOID(c.k, c.id); err != nil || got != c.want {
			t.Errorf("GitOID(%v) = %v, %v; want %v", c.k, got, err, c.want)
		}
	}
	refs, err := s.GitRefs("refs/")
	if err != nil || len(refs) != 2 || refs[0].Name != "refs/heads/main" || refs[0].OID != oidOf(3) || refs[1].OID != oidOf(4) || refs[1].State != state {
		t.Fatalf("got refs %+v, %v", refs, err)
	}
	if r, err := s.GitRef("refs/tags/v1"); err != nil || r.OID != oidOf(4) {
		t.Fatalf("got %+v, %v", r, err)
	}

	// Deleting a ref's git value goes with the ref.
	var del objstore.GitBatch
	del.DeleteRef("refs/tags/v1")
	if err := s.NewWriter().CommitGit(&del, objstore.RefUpdate{Name: "refs/tags/v1", Old: state}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GitRef("refs/tags/v1"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("got %v, want not found", err)
	}
	if got := oidOf(0xab).String(); got != "abababababababababababababababababababab" || !(objstore.GitOID{}).IsZero() {
		t.Fatalf("got %q", got)
	}
}

// A lost compare-and-swap writes none of the mapping entries.
func TestGitMapAtomicWithRefs(t *testing.T) {
	s := newStore(t, objstore.NewMemKV())
	w := s.NewWriter()
	blob, _ := w.PutBlob([]byte("x"))
	tree, _ := w.PutTree(&objstore.Tree{Entries: []objstore.Entry{{Name: "x", Mode: objstore.ModeFile, ID: blob}}})
	state, _ := w.PutState(&objstore.State{Root: tree})
	var g objstore.GitBatch
	g.PutObject(oidOf(7), objstore.GitObject{Type: objstore.GitBlob, ID: blob})
	g.SetRef("refs/heads/x", oidOf(9), state)
	err := w.CommitGit(&g, objstore.RefUpdate{Name: "refs/heads/x", Old: state, New: state})
	var conflict *objstore.RefConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("got %v, want a ref conflict", err)
	}
	for _, oid := range []objstore.GitOID{oidOf(7)} {
		if _, err := s.GitObject(oid); !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("mapping written by a failed commit: %v", err)
		}
	}
	if _, err := s.GitOID(objstore.KindBlob, blob); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("reverse entry written by a failed commit: %v", err)
	}
	// The same batch commits once the update is right.
	if err := w.CommitGit(&g, objstore.RefUpdate{Name: "refs/heads/x", New: state}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.GitRef("refs/heads/x"); err != nil || r.OID != oidOf(9) {
		t.Fatalf("got %+v %v", r, err)
	}
	// An entry can outlive its store object (gc does not know the map):
	// GitLookup says so.
	var g2 objstore.GitBatch
	var missing objstore.ID
	missing[0] = 1
	g2.PutObject(oidOf(8), objstore.GitObject{Type: objstore.GitTree, ID: missing, Raw: []byte{}})
	if err := s.NewWriter().CommitGit(&g2); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.GitLookup(oidOf(8)); err != nil || ok {
		t.Fatalf("lookup of a mapping whose tree is gone: %v %v", ok, err)
	}
	if _, ok, err := s.GitLookup(oidOf(6)); err != nil || ok {
		t.Fatalf("lookup of an unknown oid: %v %v", ok, err)
	}
}

func TestGitMapCorruptEntries(t *testing.T) {
	kv := objstore.NewMemKV()
	s := newStore(t, kv)
	var b objstore.Batch
	o := oidOf(1)
	b.Put(append([]byte{'g', 'o'}, o[:]...), []byte{9, 9})
	b.Put([]byte("grrefs/heads/bad"), []byte{1, 2})
	id := objstore.ID{}
	b.Put(append([]byte{'g', 'i', byte(objstore.KindBlob)}, id[:]...), []byte{1})
	if err := kv.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GitObject(o); !errors.Is(err, objstore.ErrBadGitMap) {
		t.Errorf("object: got %v", err)
	}
	if _, err := s.GitRef("refs/heads/bad"); !errors.Is(err, objstore.ErrBadGitMap) {
		t.Errorf("ref: got %v", err)
	}
	if _, err := s.GitRefs(""); !errors.Is(err, objstore.ErrBadGitMap) {
		t.Errorf("refs: got %v", err)
	}
	if _, err := s.GitOID(objstore.KindBlob, id); !errors.Is(err, objstore.ErrBadGitMap) {
		t.Errorf("reverse: got %v", err)
	}
	for typ, want := range map[objstore.GitType]string{objstore.GitCommit: "commit", objstore.GitTree: "tree", objstore.GitBlob: "blob", objstore.GitTag: "tag", 9: "gittype(9)"} {
		if typ.String() != want {
			t.Errorf("got %q, want %q", typ.String(), want)
		}
	}
}

// TestGCSweepsGitMap: when gc deletes a state, tree or blob, the git
// entries that map to it go too; tag entries and live entries stay.
func TestGCSweepsGitMap(t *testing.T) {
	s := newStore(t, objstore.NewMemKV())
	put := func(content string, oidBase byte, ref string) objstore.ID {
		w := s.NewWriter()
		blob, _ := w.PutBlob([]byte(content))
		tree, _ := w.PutTree(&objstore.Tree{Entries: []objstore.Entry{{Name: "f", Mode: objstore.ModeFile, ID: blob}}})
		state, _ := w.PutState(&objstore.State{Root: tree, Message: content})
		var g objstore.GitBatch
		g.PutObject(oidOf(oidBase), objstore.GitObject{Type: objstore.GitBlob, ID: blob})
		g.PutObject(oidOf(oidBase+1), objstore.GitObject{Type: objstore.GitTree, ID: tree, Raw: []byte("t")})
		g.PutObject(oidOf(oidBase+2), objstore.GitObject{Type: objstore.GitCommit, ID: state, Raw: []byte("c")})
		if err := w.CommitGit(&g, objstore.RefUpdate{Name: ref, New: state}); err != nil {
			t.Fatal(err)
		}
		return state
	}
	put("live", 10, "refs/heads/main")
	dead := put("dead", 20, "refs/heads/tmp")
	var g objstore.GitBatch
	g.PutObject(oidOf(30), objstore.GitObject{Type: objstore.GitTag, Raw: []byte("object x\n")})
	if err := s.NewWriter().CommitGit(&g); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRefs(objstore.RefUpdate{Name: "refs/heads/tmp", Old: dead}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.GC(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.GitEntries != 6 { // three objects and their three reverse entries
		t.Errorf("gc deleted %d git entries, want 6", rep.GitEntries)
	}
	for _, b := range []byte{20, 21, 22} {
		if _, err := s.GitObject(oidOf(b)); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("entry %d of a collected object survived: %v", b, err)
		}
	}
	for _, b := range []byte{10, 11, 12, 30} {
		if _, err := s.GitObject(oidOf(b)); err != nil {
			t.Errorf("live entry %d lost: %v", b, err)
		}
	}
	if _, err := s.GitOID(objstore.KindState, dead); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("reverse entry of a collected state survived: %v", err)
	}
}

// PutGitObject entries go out with the objects (ingested when big),
// ahead of the commit; a reverse entry already stored, or queued first in
// the same flush, is kept.
func TestPutGitObjectAhead(t *testing.T) {
	kv := objstore.NewMemKV()
	s := newStore(t, kv)
	w := s.NewWriter()
	blob, _ := w.PutBlob([]byte("x"))
	tree, _ := w.PutTree(&objstore.Tree{Entries: []objstore.Entry{{Name: "x", Mode: objstore.ModeFile, ID: blob}}})
	state, _ := w.PutState(&objstore.State{Root: tree})
	var first objstore.GitBatch
	first.PutObject(oidOf(6), objstore.GitObject{Type: objstore.GitTree, ID: tree, Raw: []byte("v")})
	if err := s.NewWriter().CommitGit(&first); err != nil {
		t.Fatal(err)
	}
	w.PutGitObject(oidOf(2), objstore.GitObject{Type: objstore.GitBlob, ID: blob})
	w.PutGitObject(oidOf(3), objstore.GitObject{Type: objstore.GitTree, ID: tree, Raw: bytes.Repeat([]byte("t"), objstore.IngestBytes)})
	w.PutGitObject(oidOf(5), objstore.GitObject{Type: objstore.GitTree, ID: tree, Raw: []byte("u")}) // same tree, third oid
	w.PutGitObject(oidOf(4), objstore.GitObject{Type: objstore.GitCommit, ID: state, Raw: []byte("c")})
	w.PutGitObject(oidOf(7), objstore.GitObject{Type: objstore.GitCommit, ID: state, Raw: []byte("d")}) // same state, second oid
	if _, err := s.GitObject(oidOf(4)); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("entry visible before a flush: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, b := range []byte{2, 3, 4, 5, 6, 7} {
		if _, ok, err := s.GitLookup(oidOf(b)); err != nil || !ok {
			t.Errorf("GitLookup(%v) = %v, %v after the flush, want its objects there", oidOf(b), ok, err)
		}
	}
	for _, c := range []struct {
		kind objstore.Kind
		id   objstore.ID
		want objstore.GitOID
	}{
		{objstore.KindBlob, blob, oidOf(2)},
		{objstore.KindTree, tree, oidOf(6)},   // stored before
		{objstore.KindState, state, oidOf(4)}, // queued first
	} {
		if oid, err := s.GitOID(c.kind, c.id); err != nil || oid != c.want {
			t.Errorf("reverse entry of the %v = %v, %v, want the first oid %v", c.kind, oid, err, c.want)
		}
	}
	if kv.Ingests != 1 {
		t.Errorf("%d ingests, want the big flush in 1", kv.Ingests)
	}
	var g objstore.GitBatch
	g.SetRef("refs/heads/x", oidOf(4), state)
	if err := w.CommitGit(&g, objstore.RefUpdate{Name: "refs/heads/x", New: state}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.GitRef("refs/heads/x"); err != nil || r.OID != oidOf(4) {
		t.Fatalf("GitRef = %+v, %v", r, err)
	}
	if rep, err := s.Fsck(context.Background(), true); err != nil || !rep.Clean() {
		t.Errorf("fsck: %+v, %v", rep, err)
	}
}

// multiGetKV is a MemKV that reads many keys in one call, as RocksDB does.
type multiGetKV struct {
	*objstore.MemKV
	calls int
}

func (m *multiGetKV) MultiGet(keys [][]byte) ([][]byte, error) {
	m.calls++
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := m.Get(k)
		if errors.Is(err, objstore.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i] = append([]byte{}, v...)
	}
	return out, nil
}

// GitObjects reads what GitObject reads, in one call where the KV can,
// and says which ids are not mapped.
func TestGitObjects(t *testing.T) {
	for _, multi := range []bool{false, true} {
		mem := objstore.NewMemKV()
		var kv objstore.KV = mem
		mg := &multiGetKV{MemKV: mem}
		if multi {
			kv = mg
		}
		s := newStore(t, kv)
		w := s.NewWriter()
		blob, err := w.PutBlob([]byte("x\n"))
		if err != nil {
			t.Fatal(err)
		}
		var a, b, missing objstore.GitOID
		a[0], b[0], missing[0] = 1, 2, 3
		var g objstore.GitBatch
		g.PutObject(a, objstore.GitObject{Type: objstore.GitBlob, ID: blob})
		g.PutObject(b, objstore.GitObject{Type: objstore.GitTag, Raw: []byte("object ...")})
		if err := w.CommitGit(&g); err != nil {
			t.Fatal(err)
		}
		objs, found, err := s.GitObjects([]objstore.GitOID{b, missing, a})
		if err != nil {
			t.Fatal(err)
		}
		if !found[0] || found[1] || !found[2] {
			t.Errorf("multi %v: found %v, want [true false true]", multi, found)
		}
		for i, oid := range []objstore.GitOID{b, a} {
			want, err := s.GitObject(oid)
			got := objs[2*i]
			if err != nil || got.Type != want.Type || got.ID != want.ID || string(got.Raw) != string(want.Raw) {
				t.Errorf("multi %v: GitObjects gave %+v, GitObject %+v, %v", multi, got, want, err)
			}
		}
		if multi && mg.calls != 1 {
			t.Errorf("%d MultiGet calls, want 1", mg.calls)
		}

		// GitLookups agrees with GitLookup, which also wants the store
		// object there: a mapping whose tree is gone is not found.
		var gone objstore.GitOID
		gone[0] = 4
		var g2 objstore.GitBatch
		g2.PutObject(gone, objstore.GitObject{Type: objstore.GitTree, ID: objstore.ID{1}, Raw: []byte{}})
		if err := s.NewWriter().CommitGit(&g2); err != nil {
			t.Fatal(err)
		}
		ids := []objstore.GitOID{a, gone, missing, b, a}
		objs, ok, err := s.GitLookups(ids)
		if err != nil {
			t.Fatal(err)
		}
		for i, oid := range ids {
			want, wantOK, err := s.GitLookup(oid)
			if err != nil || ok[i] != wantOK || ok[i] && (objs[i].Type != want.Type || objs[i].ID != want.ID) {
				t.Errorf("multi %v: GitLookups[%d] = %+v, %v; GitLookup %+v, %v, %v", multi, i, objs[i], ok[i], want, wantOK, err)
			}
		}
		if want := []bool{true, false, false, true, true}; !slices.Equal(ok, want) {
			t.Errorf("multi %v: GitLookups found %v, want %v", multi, ok, want)
		}
		if multi && mg.calls != 2 {
			t.Errorf("%d MultiGet calls, want 2", mg.calls)
		}
	}
}
