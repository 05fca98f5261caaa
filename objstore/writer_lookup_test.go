package objstore

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// hasCountKV counts the lookups a writer makes, by key class.
type hasCountKV struct {
	*MemKV
	lookups map[string]int
}

func (k *hasCountKV) Has(key []byte) (bool, error) {
	k.count(key)
	return k.MemKV.Has(key)
}

func (k *hasCountKV) MultiHas(keys [][]byte) ([]bool, error) {
	for _, key := range keys {
		k.count(key)
	}
	return k.MemKV.MultiHas(keys)
}

func (k *hasCountKV) count(key []byte) {
	class := string(key[:1])
	if key[0] == prefixGit {
		class = string(key[:2])
		if key[1] == gitReverseKey {
			class = fmt.Sprintf("gi%v", Kind(key[2]))
		}
	}
	k.lookups[class]++
}

// A writer asks the store first only about what dedup or first-wins needs
// (Writer.lookUp): chunks always, small blobs unless it is Fresh, reverse
// entries of trees and states but not of blobs, and never trees, states
// or git object entries. What it skips is written again, same content.
func TestWriterLookups(t *testing.T) {
	for _, fresh := range []bool{false, true} {
		t.Run(fmt.Sprint("fresh=", fresh), func(t *testing.T) {
			kv := &hasCountKV{MemKV: NewMemKV(), lookups: map[string]int{}}
			s, err := Init(kv, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			stored, err := s.NewWriter().PutBlob([]byte("stored before"))
			if err != nil {
				t.Fatal(err)
			}
			kv.lookups = map[string]int{}

			w := s.NewWriter()
			w.Fresh = fresh
			again, _ := w.PutBlob([]byte("stored before"))
			small, _ := w.PutBlob([]byte("small"))
			large := make([]byte, 4*DefaultChunking.Threshold)
			rand.NewChaCha8([32]byte{1}).Read(large)
			big, err := w.PutBlob(large)
			if err != nil {
				t.Fatal(err)
			}
			bigChecks := kv.lookups["b"] // PutBlob asks before it chunks
			tree, _ := w.PutTree(&Tree{Entries: []Entry{
				{Name: "again", Mode: ModeFile, ID: again},
				{Name: "big", Mode: ModeFile, ID: big},
				{Name: "small", Mode: ModeFile, ID: small},
			}})
			state, _ := w.PutState(&State{Root: tree})
			w.PutGitObject(GitOID{1}, GitObject{Type: GitBlob, ID: small})
			w.PutGitObject(GitOID{2}, GitObject{Type: GitTree, ID: tree, Raw: []byte("t")})
			w.PutGitObject(GitOID{3}, GitObject{Type: GitCommit, ID: state, Raw: []byte("c")})
			if err := w.Commit(RefUpdate{Name: "refs/heads/main", New: state}); err != nil {
				t.Fatal(err)
			}

			if again != stored || bigChecks != 1 {
				t.Fatalf("again = %v (stored %v), %d lookups before chunking", again, stored, bigChecks)
			}
			chunks := kv.lookups["c"]
			if chunks < 2 {
				t.Errorf("%d chunk lookups, want one per chunk of the large blob", chunks)
			}
			wantBlobs := 1 + 3 // the large one before chunking, then all three
			if fresh {
				wantBlobs = 1
			}
			want := map[string]int{"b": wantBlobs, "c": chunks, "gitree": 1, "gistate": 1}
			for class, n := range kv.lookups {
				if want[class] != n {
					t.Errorf("%d lookups of %q keys, want %d (all: %v)", n, class, want[class], kv.lookups)
				}
			}
			for _, c := range []struct {
				id   ID
				want []byte
			}{{stored, []byte("stored before")}, {small, []byte("small")}, {big, large}} {
				if got, err := s.Blob(c.id); err != nil || !bytes.Equal(got, c.want) {
					t.Errorf("blob %v: %d bytes, %v", c.id, len(got), err)
				}
			}
			if oid, err := s.GitOID(KindBlob, small); err != nil || oid != (GitOID{1}) {
				t.Errorf("reverse entry of the blob: %v, %v", oid, err)
			}
		})
	}
}

// unmappedWriter opens a store on kv and an Unmapped writer that has put
// a tree and a state (and the tree's blob).
func unmappedWriter(t *testing.T, kv KV) (s *Store, w *Writer, tree, state ID) {
	t.Helper()
	s, err := Init(kv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w = s.NewWriter()
	w.Unmapped = true
	blob, _ := w.PutBlob([]byte("x"))
	tree, _ = w.PutTree(&Tree{Entries: []Entry{{Name: "x", Mode: ModeFile, ID: blob}}})
	state, _ = w.PutState(&State{Root: tree})
	return s, w, tree, state
}

// wantReverse checks the git ids the reverse entries of tree and state
// record.
func wantReverse(t *testing.T, s *Store, tree, state ID, treeOID, stateOID GitOID) {
	t.Helper()
	for _, c := range []struct {
		kind Kind
		id   ID
		want GitOID
	}{{KindTree, tree, treeOID}, {KindState, state, stateOID}} {
		if oid, err := s.GitOID(c.kind, c.id); err != nil || oid != c.want {
			t.Errorf("reverse entry of the %v = %v, %v, want %v", c.kind, oid, err, c.want)
		}
	}
}

// An Unmapped writer asks the store about no reverse entry, and still
// keeps the first git id it was given for a tree or a state: within a
// batch and across its flushes.
func TestWriterUnmapped(t *testing.T) {
	kv := &hasCountKV{MemKV: NewMemKV(), lookups: map[string]int{}}
	s, w, tree, state := unmappedWriter(t, kv)
	w.PutGitObject(GitOID{1}, GitObject{Type: GitTree, ID: tree, Raw: []byte("t1")})
	w.PutGitObject(GitOID{2}, GitObject{Type: GitTree, ID: tree, Raw: []byte("t2")}) // same batch
	w.PutGitObject(GitOID{3}, GitObject{Type: GitCommit, ID: state, Raw: []byte("c1")})
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	w.PutGitObject(GitOID{4}, GitObject{Type: GitTree, ID: tree, Raw: []byte("t4")}) // a later batch
	w.PutGitObject(GitOID{5}, GitObject{Type: GitCommit, ID: state, Raw: []byte("c5")})
	if err := w.Commit(RefUpdate{Name: "refs/heads/main", New: state}); err != nil {
		t.Fatal(err)
	}
	if n := kv.lookups["gitree"] + kv.lookups["gistate"]; n != 0 {
		t.Errorf("%d reverse entry lookups, want none (all: %v)", n, kv.lookups)
	}
	wantReverse(t, s, tree, state, GitOID{1}, GitOID{3})
	for _, oid := range []GitOID{{1}, {2}, {3}, {4}, {5}} {
		if _, ok, err := s.GitLookup(oid); err != nil || !ok {
			t.Errorf("GitLookup(%v) = %v, %v", oid, ok, err)
		}
	}
	if w.Unmapped {
		t.Error("still Unmapped after Commit")
	}
}

// A write that fails does not count as writing its reverse entries: the
// Unmapped writer's next write (the commit) writes them.
func TestWriterUnmappedFailedWrite(t *testing.T) {
	kv := NewMemKV()
	s, w, tree, state := unmappedWriter(t, kv)
	w.PutGitObject(GitOID{1}, GitObject{Type: GitTree, ID: tree, Raw: []byte("t1")})
	w.PutGitObject(GitOID{3}, GitObject{Type: GitCommit, ID: state, Raw: []byte("c1")})
	kv.FailWrites(errors.New("disk full"))
	if err := w.Flush(); err == nil {
		t.Fatal("flush with failing writes succeeded")
	}
	kv.FailWrites(nil)
	if err := w.Commit(RefUpdate{Name: "refs/heads/main", New: state}); err != nil {
		t.Fatal(err)
	}
	wantReverse(t, s, tree, state, GitOID{1}, GitOID{3})
}
