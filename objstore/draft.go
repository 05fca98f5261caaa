package objstore

import (
	"errors"
	"fmt"
	"slices"
	"sort"
)

// Draft is a mutable view of a state: put and delete files, then Commit a
// new state. Only what changed is touched: Put hashes and stores the new
// content, and Commit re-encodes just the trees on the changed paths (the
// IDs of everything else are reused from the base, never re-read or
// re-hashed). After Commit the draft continues from the new state, so a
// search can commit many children cheaply. A Draft is for one goroutine.
type Draft struct {
	s     *Store
	base  ID // state the draft started from (zero: empty)
	root  *dirNode
	w     *Writer
	epoch uint64
	dirty bool
	bases []ID // trees that new trees were stored as deltas of, since the last commit
}

// dirNode is a directory in a draft: the stored tree it came from, loaded
// lazily, copied on first change.
type dirNode struct {
	id       ID      // stored tree (zero for a new directory)
	entries  []Entry // nil until loaded
	loaded   bool
	owned    bool // entries is this node's own copy, not the cache's
	children map[string]*dirNode
	dirty    bool
}

// NewDraft opens a draft on state base (ZeroID for an empty tree).
func (s *Store) NewDraft(base ID) (*Draft, error) {
	d := &Draft{s: s, base: base, w: s.NewWriter(), epoch: s.gcEpoch.Load(), root: &dirNode{loaded: true}}
	if !base.IsZero() {
		st, err := s.State(base)
		if err != nil {
			return nil, err
		}
		d.root = &dirNode{id: st.Root}
	}
	return d, nil
}

// Base is the state the draft now stands on.
func (d *Draft) Base() ID { return d.base }

// Dirty reports whether anything changed since the base.
func (d *Draft) Dirty() bool { return d.dirty }

func (d *Draft) load(n *dirNode) error {
	if n.loaded {
		return nil
	}
	if !n.id.IsZero() {
		t, err := d.s.Tree(n.id)
		if err != nil {
			return err
		}
		n.entries = t.Entries
	}
	n.loaded = true
	return nil
}

func (n *dirNode) own() {
	if !n.owned {
		n.entries = slices.Clone(n.entries)
		n.owned = true
	}
}

func (n *dirNode) find(name string) (int, bool) {
	t := Tree{Entries: n.entries}
	return t.search(name)
}

// child returns the loaded dirNode for subdirectory entry e.
func (d *Draft) child(n *dirNode, e Entry) (*dirNode, error) {
	if c, ok := n.children[e.Name]; ok {
		return c, nil
	}
	c := &dirNode{id: e.ID}
	if err := d.load(c); err != nil {
		return nil, err
	}
	if n.children == nil {
		n.children = map[string]*dirNode{}
	}
	n.children[e.Name] = c
	return c, nil
}

// walk returns the directory node holding the last component of parts,
// creating directories (and replacing files in the way) when create is set.
func (d *Draft) walk(parts []string, create bool) (*dirNode, error) {
	n := d.root
	if err := d.load(n); err != nil {
		return nil, err
	}
	for _, name := range parts[:len(parts)-1] {
		i, ok := n.find(name)
		switch {
		case ok && n.entries[i].Mode.IsDir():
			c, err := d.child(n, n.entries[i])
			if err != nil {
				return nil, err
			}
			n = c
		case !create:
			return nil, nil
		default:
			if ok { // a file where a directory must go: replace it
				n.own()
				n.entries = slices.Delete(n.entries, i, i+1)
			}
			n.insert(Entry{Name: name, Mode: ModeDir})
			c := &dirNode{loaded: true, owned: true, dirty: true}
			if n.children == nil {
				n.children = map[string]*dirNode{}
			}
			n.children[name] = c
			n = c
		}
	}
	return n, nil
}

func (n *dirNode) insert(e Entry) {
	n.own()
	i := sort.Search(len(n.entries), func(i int) bool {
		x := n.entries[i]
		return !entryLessNames(x.Name, x.Mode.IsDir(), e.Name, e.Mode.IsDir())
	})
	n.entries = slices.Insert(n.entries, i, e)
}

// markPath marks every directory on parts' path dirty.
func (d *Draft) markPath(parts []string) {
	d.dirty = true
	n := d.root
	n.dirty = true
	for _, name := range parts[:len(parts)-1] {
		n = n.children[name]
		n.dirty = true
	}
}

// Put writes a file: content with mode ModeFile, ModeExec or ModeSymlink
// (content is then the link target). A file or directory already at path is
// replaced, and so is a file where a parent directory must be.
func (d *Draft) Put(path string, mode Mode, content []byte) error {
	if !mode.IsBlob() {
		return fmt.Errorf("objstore: put %q: mode %v is not a file mode", path, mode)
	}
	parts, err := CleanPath(path)
	if err != nil {
		return err
	}
	id, err := d.w.PutBlob(content)
	if err != nil {
		return err
	}
	return d.set(parts, Entry{Name: parts[len(parts)-1], Mode: mode, ID: id})
}

// PutEntry links path to an object that is already stored: a blob (file
// modes) or a submodule commit (ModeGitlink, see Entry).
func (d *Draft) PutEntry(path string, mode Mode, id ID) error {
	if !mode.IsBlob() && mode != ModeGitlink {
		return fmt.Errorf("objstore: put %q: mode %v cannot be linked", path, mode)
	}
	parts, err := CleanPath(path)
	if err != nil {
		return err
	}
	if mode.IsBlob() {
		if ok, err := d.w.has(KindBlob, id); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%w: put %q: blob %v", ErrNotFound, path, id)
		}
	}
	return d.set(parts, Entry{Name: parts[len(parts)-1], Mode: mode, ID: id})
}

func (d *Draft) set(parts []string, e Entry) error {
	n, err := d.walk(parts, true)
	if err != nil {
		return err
	}
	if i, ok := n.find(e.Name); ok {
		old := n.entries[i]
		if old == e {
			return nil // unchanged: the tree keeps its ID
		}
		n.own()
		if old.Mode.IsDir() == e.Mode.IsDir() {
			n.entries[i] = e
		} else {
			n.entries = slices.Delete(n.entries, i, i+1)
			delete(n.children, e.Name)
			n.insert(e)
		}
	} else {
		n.insert(e)
	}
	d.markPath(parts)
	return nil
}

// Delete removes a file or a whole directory. Directories it leaves empty
// go too (trees, like git's, hold no empty directories).
func (d *Draft) Delete(path string) error {
	parts, err := CleanPath(path)
	if err != nil {
		return err
	}
	n, err := d.walk(parts, false)
	if err != nil {
		return err
	}
	name := parts[len(parts)-1]
	i, ok := -1, false
	if n != nil {
		i, ok = n.find(name)
	}
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, path)
	}
	d.markPath(parts)
	n.own()
	n.entries = slices.Delete(n.entries, i, i+1)
	delete(n.children, name)
	// Prune parents that are now empty, deepest first.
	for depth := len(parts) - 1; depth > 0; depth-- {
		parent := d.root
		for _, c := range parts[:depth-1] {
			parent = parent.children[c]
		}
		child := parent.children[parts[depth-1]]
		if len(child.entries) > 0 {
			break
		}
		j, _ := parent.find(parts[depth-1])
		parent.own()
		parent.entries = slices.Delete(parent.entries, j, j+1)
		delete(parent.children, parts[depth-1])
	}
	return nil
}

// Get returns the entry at path in the draft.
func (d *Draft) Get(path string) (Entry, error) {
	parts, err := CleanPath(path)
	if err != nil {
		return Entry{}, err
	}
	n, err := d.walk(parts, false)
	if err != nil {
		return Entry{}, err
	}
	if n != nil {
		if i, ok := n.find(parts[len(parts)-1]); ok {
			return n.entries[i], nil
		}
	}
	return Entry{}, fmt.Errorf("%w: %q", ErrNotFound, path)
}

// CommitOptions describe the state Commit makes.
type CommitOptions struct {
	// Ref, if set, is moved from the draft's base to the new state by
	// compare-and-swap (a *RefConflictError if someone moved it meanwhile).
	Ref string
	// CreateRef says Ref must not exist yet (a new branch off the base).
	CreateRef bool
	// Parents default to the draft's base (none for an empty base).
	Parents []ID
	Message string
	// Author defaults to "helios", Committer to Author; a zero When is now.
	Author, Committer Signature
	// AllowEmpty commits even when nothing changed.
	AllowEmpty bool
	// Actor is who the journal records for the ref move (default: the
	// Store's Options.Actor).
	Actor string
}

// ErrNothingToCommit is returned by Commit when the draft has no changes.
var ErrNothingToCommit = errors.New("objstore: nothing to commit")

// Commit writes the changed trees and a new state in one atomic batch with
// the ref update, and moves the draft onto the new state.
func (d *Draft) Commit(o CommitOptions) (ID, error) {
	return d.commitWith(o, nil)
}

// commitWith is Commit with a hook that may add to the batch once the new
// state's ID is known.
func (d *Draft) commitWith(o CommitOptions, hook func(ID)) (ID, error) {
	if !d.dirty && !o.AllowEmpty && !d.base.IsZero() {
		return ZeroID, ErrNothingToCommit
	}
	root, err := d.flush(d.root)
	if err != nil {
		return ZeroID, err
	}
	if root.IsZero() { // an empty tree still has an ID
		if root, err = d.w.PutTree(&Tree{}); err != nil {
			return ZeroID, err
		}
	}
	st := &State{Root: root, Parents: o.Parents, Message: o.Message, Author: o.Author, Committer: o.Committer}
	if st.Parents == nil && !d.base.IsZero() {
		st.Parents = []ID{d.base}
	}
	if st.Author.Name == "" {
		st.Author.Name = "helios"
	}
	if st.Author.When.IsZero() {
		st.Author.When = d.s.opts.Now()
	}
	if st.Committer.Name == "" {
		st.Committer = st.Author
	}
	id, err := d.w.PutState(st)
	if err != nil {
		return ZeroID, err
	}
	if hook != nil {
		hook(id)
	}
	var ups []RefUpdate
	if o.Ref != "" {
		old := d.base
		if o.CreateRef {
			old = ZeroID
		}
		ups = []RefUpdate{{Name: o.Ref, Old: old, New: id}}
	}
	d.w.Actor = o.Actor
	err = d.w.commit(ups, func() error { return d.checkLinks() })
	if err != nil {
		return ZeroID, err
	}
	d.base = id
	d.dirty = false
	d.bases = d.bases[:0]
	d.epoch = d.s.gcEpoch.Load()
	return id, nil
}

// flush stores the dirty trees under n and returns n's tree ID (zero when n
// is empty and so vanishes).
func (d *Draft) flush(n *dirNode) (ID, error) {
	if !n.dirty {
		return n.id, nil
	}
	for name, c := range n.children {
		if !c.dirty {
			continue
		}
		cid, err := d.flush(c)
		if err != nil {
			return ZeroID, err
		}
		i, ok := n.find(name)
		if !ok {
			return ZeroID, fmt.Errorf("objstore: draft lost directory %q", name)
		}
		n.own()
		if cid.IsZero() {
			n.entries = slices.Delete(n.entries, i, i+1)
			delete(n.children, name)
		} else {
			n.entries[i].ID = cid
		}
	}
	n.dirty = false
	if len(n.entries) == 0 {
		n.id = ZeroID
		return ZeroID, nil
	}
	// A directory read from the store is stored as a delta against what
	// it was, when that is much smaller (treedelta.go).
	id, base, err := d.w.PutTreeFrom(&Tree{Entries: n.entries}, n.id)
	if err != nil {
		return ZeroID, err
	}
	if !base.IsZero() {
		d.bases = append(d.bases, base)
	}
	n.id = id
	n.owned = false // the cache now shares n.entries
	return id, nil
}

// checkLinks runs under the store's write lock. If gc swept since the draft
// read its base, objects the new trees link to without rewriting them may be
// gone; check every one, so a ref never points at a state with holes.
func (d *Draft) checkLinks() error {
	if d.s.gcEpoch.Load() == d.epoch {
		return nil
	}
	var check func(n *dirNode) error
	check = func(n *dirNode) error {
		for _, e := range n.entries {
			if c, ok := n.children[e.Name]; ok {
				if err := check(c); err != nil {
					return err
				}
			}
			var k Kind
			switch {
			case e.Mode.IsDir():
				k = KindTree
			case e.Mode.IsBlob():
				k = KindBlob
			default:
				continue
			}
			if ok, err := d.w.has(k, e.ID); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("%w: %v %v was collected while the draft was open; reopen the draft", ErrNotFound, k, e.ID.Short())
			}
		}
		return nil
	}
	if err := check(d.root); err != nil {
		return err
	}
	for _, b := range d.bases {
		if ok, err := d.w.has(KindTree, b); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%w: tree %v, the base of a delta, was collected while the draft was open; reopen the draft", ErrNotFound, b.Short())
		}
	}
	return nil
}
