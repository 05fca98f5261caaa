package mcts

import (
	"fmt"
	"sort"

	"github.com/helios-vcs/helios/mcts/eval"
	"github.com/helios-vcs/helios/objstore"
)

// StateMaker makes a child state: the parent's tree with some files
// replaced, as a new state whose parent is parent. It returns the state
// and its root tree (the node key: equal trees are one node). Files keep
// the mode they had in the parent (new files are ModeFile). Safe for
// concurrent use.
type StateMaker interface {
	MakeState(parent objstore.ID, files map[string][]byte, message string) (state, root objstore.ID, err error)
}

// FileReader reads one file of a state (objstore.Store.ReadFile). The
// returned slice is shared: callers do not modify it.
type FileReader interface {
	ReadFile(state objstore.ID, path string) (objstore.Entry, []byte, error)
}

// TreeWalker lists a tree (objstore.Store.Walk).
type TreeWalker interface {
	Walk(root objstore.ID, fn objstore.WalkFunc) error
}

// StateReader reads a state (objstore.Store.State).
type StateReader interface {
	State(id objstore.ID) (*objstore.State, error)
}

// RefMover reads and moves refs by compare-and-swap (objstore.Store.Ref,
// UpdateRefs): a lost race is a *objstore.RefConflictError, never a lost
// update.
type RefMover interface {
	Ref(name string) (objstore.Ref, error)
	UpdateRefs(updates ...objstore.RefUpdate) error
}

// Store is everything a search needs, composed of the role interfaces
// above and the evaluator's Switcher. Each part of the search asks for the
// smallest of them.
type Store interface {
	StateMaker
	FileReader
	TreeWalker
	StateReader
	RefMover
	eval.Switcher
}

// Backend is a Store a search can be given whole: the Helios store
// (Objstore) or the git baseline (Git), chosen with --backend. ImportDir
// makes a parentless state of a directory's files (an A/B task); Close
// frees what the backend holds.
type Backend interface {
	Store
	ImportDir(dir, message string) (objstore.ID, error)
	Close() error
}

// StateNamer is an optional ability of a Store whose states are not
// named by objstore.ID's text form (Git: 40 hex digits).
type StateNamer interface {
	StateName(objstore.ID) string
}

// stateName prints id as st names it.
func stateName(st any, id objstore.ID) string {
	if n, ok := st.(StateNamer); ok {
		return n.StateName(id)
	}
	return id.String()
}

// Objstore adapts *objstore.Store to Store: every method but MakeState is
// the store's own; MakeState is a Draft on the parent, Put for each file,
// Commit without a ref (the search's states are reachable from its result
// refs once it ends; until then a gc in another process could take them).
type Objstore struct {
	*objstore.Store
	// Author signs the states the search makes (default "helios mcts").
	Author objstore.Signature
}

var _ Backend = Objstore{}

// ImportDir implements Backend (the package's ImportDir).
func (o Objstore) ImportDir(dir, message string) (objstore.ID, error) {
	return ImportDir(o.Store, dir, message)
}

// MakeState implements StateMaker.
func (o Objstore) MakeState(parent objstore.ID, files map[string][]byte, message string) (objstore.ID, objstore.ID, error) {
	d, err := o.NewDraft(parent)
	if err != nil {
		return objstore.ZeroID, objstore.ZeroID, fmt.Errorf("mcts: make state: %w", err)
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		mode := objstore.ModeFile
		if e, err := d.Get(p); err == nil && e.Mode.IsBlob() {
			mode = e.Mode
		}
		if err := d.Put(p, mode, files[p]); err != nil {
			return objstore.ZeroID, objstore.ZeroID, fmt.Errorf("mcts: make state: %w", err)
		}
	}
	author := o.Author
	if author.Name == "" {
		author.Name = "helios mcts"
	}
	id, err := d.Commit(objstore.CommitOptions{Message: message, Author: author, AllowEmpty: true})
	if err != nil {
		return objstore.ZeroID, objstore.ZeroID, fmt.Errorf("mcts: make state: %w", err)
	}
	st, err := o.State(id)
	if err != nil {
		return objstore.ZeroID, objstore.ZeroID, fmt.Errorf("mcts: make state: %w", err)
	}
	return id, st.Root, nil
}
