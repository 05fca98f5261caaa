// Package storeremote is the helper.Remote of git-remote-helios on a real
// Helios store (*objstore.Store): what `git clone helios::/path`, `git
// fetch` and `git push` talk to.
//
// # Mapping
//
// Git objects live in the store as its own objects plus the git mapping
// (objstore/gitmap.go): a blob is a store blob (chunked and deduplicated
// like any file), a tree a store tree, a commit a state (root tree,
// parent states, author, committer, message); the mapping keeps each git
// object's id and, for commits, trees and tags, its exact bytes, so a
// clone returns identical ids and signatures, encodings and mergetags
// survive. Annotated tags exist only in the mapping. A store ref points
// at a state, so a ref whose git value is a tag points at the state of
// the commit the tag finally names, and the ref's git value (the tag id)
// is a mapping entry written in the same atomic batch as the ref. A ref to
// a tree or a blob (git.git has one) points at a synthetic state holding
// that tree (or a tree with that blob) so that gc and fsck see its
// objects.
//
// States made inside helios (a Draft, an MCTS run) have no git id until
// they are exported: List computes their commits, trees and blobs the way
// git would write them (author, committer and message from the state),
// Fetch serves them, and the next push records them in the mapping.
//
// # Store access
//
// The store is opened lazily, by the first call: `list` (fetch, clone,
// ls-remote) opens a read-only instance, a frozen view of the database
// that runs beside a writer, which also pins the snapshot Fetch serves
// from; `list for-push` opens the writable instance, waiting for another
// writer's lock, and keeps it (so the listed values stay the store's values
// until the push commits). Push moves all refs of the batch in one
// Writer.CommitGit by compare-and-swap against the listed values.
package storeremote

import (
	"context"
	"errors"
	"fmt"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/clonepack"
	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/objstore"
)

var _ helper.Remote = (*Remote)(nil)

// Opener opens the store, writable or read-only. The Remote closes the
// store it was given.
type Opener func(write bool) (*objstore.Store, error)

// Remote is a helper.Remote on a Helios store. Like every Remote it serves
// one helper process: its methods are called one at a time.
type Remote struct {
	open   Opener
	store  *objstore.Store
	write  bool
	pushed bool // a push wrote to the store
	shared bool // the store belongs to the caller (NewShared): never closed

	// Judge, if set, is asked about a push's ref updates, as the states
	// they move between, just before they commit; a non-nil error rejects
	// that update with its text (helios serve decides there whether the
	// pusher may write, force or delete each ref). It returns one error per
	// update.
	Judge func(ups []objstore.RefUpdate) []error
	// Actor is who the audit journal records for pushed ref changes
	// (default: the store's actor).
	Actor string
	// ClonePacks, if set, keeps the packs clones install (see clonepack.go).
	ClonePacks *clonepack.Cache

	// exp holds the git objects computed for store objects that have no
	// git id yet (states made inside helios), by id; expIDs memoizes the
	// git id of each store object exported or looked up.
	exp    map[objstore.GitOID]objstore.GitObject
	expIDs map[objRef]objstore.GitOID
}

type objRef struct {
	kind objstore.Kind
	id   objstore.ID
}

// New returns a Remote that opens its store with open on first use.
func New(open Opener) *Remote {
	return &Remote{open: open, exp: map[objstore.GitOID]objstore.GitObject{}, expIDs: map[objRef]objstore.GitOID{}}
}

// NewShared returns a Remote on a store that stays open, shared with other
// users of the same process: helios serve runs one per connection on the
// store it holds. Close leaves that store open. Listed values then do not
// pin a frozen view: a fetch after a concurrent push still finds every
// object the listed values reach, since only gc deletes objects and gc
// keeps what refs reached when it started and what writers have in flight.
func NewShared(s *objstore.Store) *Remote {
	r := New(nil)
	r.store, r.write, r.shared = s, true, true
	return r
}

// Close closes the store if it was opened. After a push it first flushes
// the engine's memory tables (objstore.Compactor), so that the read-only
// instances of later fetches read table files instead of replaying the
// write-ahead log at every open (0.5 s after a 100 MB push).
func (r *Remote) Close() error {
	if r.store == nil {
		return nil
	}
	if r.shared {
		r.store = nil
		return nil
	}
	var err error
	if c, ok := r.store.KV().(objstore.Compactor); ok && r.pushed {
		err = c.Flush()
	}
	if cerr := r.store.Close(); err == nil {
		err = cerr
	}
	r.store = nil
	return err
}

// ensure opens the store (writable if write), reopening a read-only one
// for writing.
func (r *Remote) ensure(write bool) error {
	if r.store != nil && (r.write || !write) {
		return nil
	}
	if r.shared {
		return objstore.ErrClosed
	}
	if err := r.Close(); err != nil {
		return err
	}
	s, err := r.open(write)
	if err != nil {
		return err
	}
	r.store, r.write, r.pushed = s, write, false
	return nil
}

// Store returns the open store (nil before the first call); for tests.
func (r *Remote) Store() *objstore.Store { return r.store }

// listed is a ref's value: its git id and the state it holds.
type listed struct {
	oid   objstore.GitOID
	state objstore.ID
}

// refValues returns the git value of every direct ref and HEAD's target.
func (r *Remote) refValues() (map[string]listed, []string, string, error) {
	refs, err := r.store.Refs("")
	if err != nil {
		return nil, nil, "", fmt.Errorf("storeremote: %w", err)
	}
	grefs, err := r.store.GitRefs("")
	if err != nil {
		return nil, nil, "", fmt.Errorf("storeremote: %w", err)
	}
	gmap := make(map[string]objstore.GitRef, len(grefs))
	for _, g := range grefs {
		gmap[g.Name] = g
	}
	vals := make(map[string]listed, len(refs))
	var names []string
	head := ""
	for _, ref := range refs {
		if ref.IsSymbolic() {
			if ref.Name == "HEAD" {
				head = ref.Target
			}
			continue // other symbolic refs are not shown to git
		}
		oid, err := r.gitValue(ref.Name, ref.ID, gmap[ref.Name])
		if err != nil {
			return nil, nil, "", err
		}
		vals[ref.Name] = listed{oid, ref.ID}
		names = append(names, ref.Name)
	}
	return vals, names, head, nil
}

// gitValue is the git id of a ref that holds state: the recorded git
// value while it is current, else the state's own git id (exported if
// it has none).
func (r *Remote) gitValue(name string, state objstore.ID, g objstore.GitRef) (objstore.GitOID, error) {
	if g.Name == name && g.State == state {
		return g.OID, nil
	}
	return r.exportState(state)
}

// List implements helper.Remote. HEAD is listed as a symbolic ref when its
// target exists; annotated tags carry their peeled value (list only).
func (r *Remote) List(ctx context.Context, forPush bool) ([]helper.Ref, error) {
	if err := r.ensure(forPush); err != nil {
		return nil, err
	}
	vals, names, head, err := r.refValues()
	if err != nil {
		return nil, err
	}
	out := make([]helper.Ref, 0, len(names)+1)
	if _, ok := vals[head]; ok {
		out = append(out, helper.Ref{Name: "HEAD", Symref: head})
	}
	for _, name := range names {
		v := vals[name]
		ref := helper.Ref{Name: name, OID: toGit(v.oid)}
		if !forPush {
			peeled, err := r.peel(v.oid)
			if err != nil {
				return nil, err
			}
			if peeled != v.oid {
				ref.Peeled = toGit(peeled)
			}
		}
		out = append(out, ref)
	}
	return out, ctx.Err()
}

// object returns a git object that the store maps or that this Remote
// exported; ok is false when neither knows it.
func (r *Remote) object(oid objstore.GitOID) (objstore.GitObject, bool, error) {
	if o, ok := r.exp[oid]; ok {
		return o, true, nil
	}
	o, err := r.store.GitObject(oid)
	if errors.Is(err, objstore.ErrNotFound) {
		return o, false, nil
	}
	if err != nil {
		return o, false, fmt.Errorf("storeremote: %w", err)
	}
	return o, true, nil
}

// peel follows annotated tags to the object they finally name.
func (r *Remote) peel(oid objstore.GitOID) (objstore.GitOID, error) {
	for range 32 {
		o, ok, err := r.object(oid)
		if err != nil || !ok || o.Type != objstore.GitTag {
			return oid, err
		}
		if oid, _, err = tagTarget(o.Raw); err != nil {
			return oid, err
		}
	}
	return oid, errors.New("storeremote: tag chain too long")
}

// exportState returns the git id of a state, computing the commit (and
// what it needs) when the state never went through git.
func (r *Remote) exportState(state objstore.ID) (objstore.GitOID, error) {
	key := objRef{objstore.KindState, state}
	if oid, ok := r.expIDs[key]; ok {
		return oid, nil
	}
	oid, err := r.store.GitOID(objstore.KindState, state)
	if err == nil {
		r.expIDs[key] = oid
		return oid, nil
	}
	if !errors.Is(err, objstore.ErrNotFound) {
		return oid, fmt.Errorf("storeremote: %w", err)
	}
	st, err := r.store.State(state)
	if err != nil {
		return oid, fmt.Errorf("storeremote: export: %w", err)
	}
	tree, err := r.exportTree(st.Root)
	if err != nil {
		return oid, err
	}
	raw := make([]byte, 0, 256+len(st.Message))
	raw = append(raw, "tree "...)
	raw = append(raw, tree.String()...)
	raw = append(raw, '\n')
	for _, p := range st.Parents {
		poid, err := r.exportState(p)
		if err != nil {
			return oid, err
		}
		raw = append(raw, "parent "...)
		raw = append(raw, poid.String()...)
		raw = append(raw, '\n')
	}
	raw = appendIdent(append(raw, "author "...), st.Author)
	raw = appendIdent(append(raw, "\ncommitter "...), st.Committer)
	raw = append(raw, "\n\n"...)
	raw = append(raw, st.Message...)
	return r.exported(key, objstore.GitCommit, raw)
}

// exported hashes and remembers a computed git object.
func (r *Remote) exported(key objRef, t objstore.GitType, raw []byte) (objstore.GitOID, error) {
	id, err := gitobj.HashObject(gitobj.SHA1, gitobj.Type(t), raw)
	if err != nil {
		return objstore.GitOID{}, fmt.Errorf("storeremote: export: %w", err)
	}
	oid := fromGit(id)
	o := objstore.GitObject{Type: t, ID: key.id}
	if t != objstore.GitBlob {
		o.Raw = raw
	}
	r.exp[oid] = o
	r.expIDs[key] = oid
	return oid, nil
}

// exportTree returns the git id of a store tree (ZeroID: the empty tree).
func (r *Remote) exportTree(id objstore.ID) (objstore.GitOID, error) {
	key := objRef{objstore.KindTree, id}
	if oid, ok := r.expIDs[key]; ok {
		return oid, nil
	}
	var entries []objstore.Entry
	if !id.IsZero() {
		oid, err := r.store.GitOID(objstore.KindTree, id)
		if err == nil {
			r.expIDs[key] = oid
			return oid, nil
		}
		if !errors.Is(err, objstore.ErrNotFound) {
			return oid, fmt.Errorf("storeremote: %w", err)
		}
		t, err := r.store.Tree(id)
		if err != nil {
			return oid, fmt.Errorf("storeremote: export: %w", err)
		}
		entries = t.Entries
	}
	var raw []byte
	for _, e := range entries {
		var child objstore.GitOID
		var err error
		switch {
		case e.Mode.IsDir():
			child, err = r.exportTree(e.ID)
		case e.Mode == objstore.ModeGitlink:
			copy(child[:], e.ID[:])
		default:
			child, err = r.exportBlob(e.ID)
		}
		if err != nil {
			return child, err
		}
		raw = append(raw, gitMode(e.Mode)...)
		raw = append(raw, ' ')
		raw = append(raw, e.Name...)
		raw = append(raw, 0)
		raw = append(raw, child[:]...)
	}
	if raw == nil {
		raw = []byte{}
	}
	return r.exported(key, objstore.GitTree, raw)
}

// exportBlob returns the git id of a store blob.
func (r *Remote) exportBlob(id objstore.ID) (objstore.GitOID, error) {
	key := objRef{objstore.KindBlob, id}
	if oid, ok := r.expIDs[key]; ok {
		return oid, nil
	}
	oid, err := r.store.GitOID(objstore.KindBlob, id)
	if err == nil {
		r.expIDs[key] = oid
		return oid, nil
	}
	if !errors.Is(err, objstore.ErrNotFound) {
		return oid, fmt.Errorf("storeremote: %w", err)
	}
	content, err := r.store.Blob(id)
	if err != nil {
		return oid, fmt.Errorf("storeremote: export: %w", err)
	}
	return r.exported(key, objstore.GitBlob, content)
}

// VerifiesObjects says every object Fetch hands out was checked against
// its BLAKE3 ID on the way out of the store (helper.VerifyingRemote).
func (r *Remote) VerifiesObjects() bool { return true }
