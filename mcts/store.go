package mcts

import (
	"fmt"
	"time"

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

// PendingState is a child state whose root tree is known and whose
// state is not yet written.
type PendingState interface {
	Root() objstore.ID
	// Commit writes the state with message and returns its ID.
	Commit(message string) (objstore.ID, error)
	// Abort drops what was not written.
	Abort()
}

// TreeFirst is an optional ability of a StateMaker: PrepareState computes
// a child's root tree before its state is written, so a candidate whose
// tree is already a node costs no state (the search merges such
// candidates; a child that undoes its parent's edit is one). Safe for
// concurrent use; each PendingState is for one goroutine.
type TreeFirst interface {
	PrepareState(parent objstore.ID, files map[string][]byte) (PendingState, error)
}

// MessageFirst is an optional ability of a TreeFirst store whose requests
// cost more than a state (a store reached through its server):
// PrepareStateMessage is PrepareState given the state's message up front,
// so that the store may write the state in the same step when it expects
// the tree to be new. Commit must then be called with the same message
// (and writes nothing more); Abort of a state written that way leaves it
// unreferenced, for gc.
type MessageFirst interface {
	PrepareStateMessage(parent objstore.ID, files map[string][]byte, message string) (PendingState, error)
}

// Objstore adapts *objstore.Store to Backend: every method but the
// state makers is the store's own. A child state is made with a Writer
// (objstore.Writer.EditTree): the changed blobs and the trees above them
// are computed in memory (other trees are reused by ID), and written with
// the state in one batch when the tree is new; nothing is written for a
// tree the search already has. States are written without a ref: the search's states are
// reachable from its result refs once it ends; until then a gc in another
// process could take them.
type Objstore struct {
	*objstore.Store
	// Author signs the states the search makes (default "helios mcts").
	Author objstore.Signature
	// Now is the time of the states (default time.Now).
	Now func() time.Time
}

var (
	_ Backend   = Objstore{}
	_ TreeFirst = Objstore{}
)

// ImportDir implements Backend (the package's ImportDir).
func (o Objstore) ImportDir(dir, message string) (objstore.ID, error) {
	return ImportDir(o.Store, dir, message)
}

// MakeState implements StateMaker.
func (o Objstore) MakeState(parent objstore.ID, files map[string][]byte, message string) (objstore.ID, objstore.ID, error) {
	ps, err := o.PrepareState(parent, files)
	if err != nil {
		return objstore.ZeroID, objstore.ZeroID, err
	}
	id, err := ps.Commit(message)
	return id, ps.Root(), err
}

// PrepareState implements TreeFirst.
func (o Objstore) PrepareState(parent objstore.ID, files map[string][]byte) (PendingState, error) {
	var base objstore.ID
	if !parent.IsZero() {
		st, err := o.State(parent)
		if err != nil {
			return nil, fmt.Errorf("mcts: make state: %w", err)
		}
		base = st.Root
	}
	w := o.NewWriter()
	root, err := w.EditTree(base, files)
	if err != nil {
		w.Abort()
		return nil, fmt.Errorf("mcts: make state: %w", err)
	}
	return &objstoreChild{o: o, w: w, parent: parent, root: root}, nil
}

// objstoreChild is a PendingState: its blobs and trees wait in w.
type objstoreChild struct {
	o            Objstore
	w            *objstore.Writer
	parent, root objstore.ID
}

func (c *objstoreChild) Root() objstore.ID { return c.root }

func (c *objstoreChild) Abort() { c.w.Abort() }

func (c *objstoreChild) Commit(message string) (objstore.ID, error) {
	author := c.o.Author
	if author.Name == "" {
		author.Name = "helios mcts"
	}
	if author.When.IsZero() {
		now := time.Now
		if c.o.Now != nil {
			now = c.o.Now
		}
		author.When = now()
	}
	st := &objstore.State{Root: c.root, Message: message, Author: author, Committer: author}
	if !c.parent.IsZero() {
		st.Parents = []objstore.ID{c.parent}
	}
	id, err := c.w.PutState(st)
	if err == nil {
		err = c.w.Commit()
	}
	if err != nil {
		c.w.Abort()
		return objstore.ZeroID, fmt.Errorf("mcts: make state: %w", err)
	}
	return id, nil
}
