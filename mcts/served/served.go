// Package served runs a search through a store's server (objstore/server):
// Backend is an mcts.Backend, and an mcts.TreeFirst, over connections to
// "helios serve", so that helios mcts run neither opens the database nor
// stops the server that other commands, the git helper and other searches
// are using.
//
// It is a package of its own so that mcts does not depend on the server:
// mcts knows its Backend interface, objstore/server knows the store's
// protocol, and this adapter is the only place where they meet.
//
// How each part of a search goes over the wire:
//
//   - a child state: make-state (one request: the files an edit changed go
//     to the server, which builds the tree on the parent's and writes it
//     with the state in one batch), or under TreeFirst prepare-state, which
//     returns the root tree before anything is written; commit-state writes
//     it, and Abort costs no request (the handle rides on the next one).
//     Prepared states live on the connection that made them. A search
//     gives the message up front (mcts.MessageFirst), and the server writes
//     a state whose root the connection has not given before at once: a new
//     node costs one request. A candidate whose tree the connection gave
//     before writes nothing; one whose tree the search has by another way
//     (the base's, or another worker's connection) is written and left
//     unreferenced for gc, where the direct path writes nothing.
//   - a read: state, read-file (content streamed), a whole tree listing in
//     one walk request. States never change, so a file read once is kept
//     (up to 32 MiB), and a file that the edit making a state did not touch
//     is read from its parent: a search proposing from a new node asks the
//     server only for the files its edits changed.
//   - a checkout: checkout (the server materializes the scratch directory:
//     same host, same user; see serveauth for who may).
//   - the result refs: refs, then one update-refs, which the server commits
//     as the peer with the audit journal's record in the same batch, as
//     the direct path does.
//
// A search with several workers gets one connection per worker (a
// connection carries one request at a time); requests are spread over them
// in turn.
package served

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helios-vcs/helios/mcts"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/server"
)

var (
	_ mcts.Backend      = (*Backend)(nil)
	_ mcts.TreeFirst    = (*Backend)(nil)
	_ mcts.MessageFirst = (*Backend)(nil)
)

// Backend is mcts.Backend through a store's server. It is safe for
// concurrent use; each PendingState is for one goroutine.
type Backend struct {
	conns []*server.Client
	next  atomic.Uint64

	// files caches what ReadFile read: a state never changes, and a search
	// reads the same node's files again for each round of proposals. It is
	// emptied when it grows past maxCached bytes or maxCachedFiles files.
	// made remembers the states made here (a parent and a few paths each,
	// for the search's life): a file an edit did not touch is its parent's,
	// read (or cached) there.
	mu     sync.Mutex
	files  map[fileKey]cachedFile
	cached int
	made   map[objstore.ID]madeState

	// Author signs the states the search makes (default "helios mcts").
	Author objstore.Signature
	// Now is the time of the states (default time.Now, on this side).
	Now func() time.Time
}

// New makes a Backend of one or more connections to the same server; the
// Backend owns them (Close closes them).
func New(conns ...*server.Client) *Backend {
	if len(conns) == 0 {
		panic("served: no connections")
	}
	return &Backend{conns: conns}
}

// conn picks the next connection in turn.
func (b *Backend) conn() *server.Client {
	return b.conns[(b.next.Add(1)-1)%uint64(len(b.conns))]
}

// author signs a state made now, as mcts.Objstore does.
func (b *Backend) author() objstore.Signature {
	a := b.Author
	if a.Name == "" {
		a.Name = "helios mcts"
	}
	if a.When.IsZero() {
		now := time.Now
		if b.Now != nil {
			now = b.Now
		}
		a.When = now()
	}
	return a
}

// madeState is how a state was made here: its parent and the paths its
// edit put.
type madeState struct {
	parent objstore.ID
	paths  []string
}

// remember notes that state id is parent with files put in.
func (b *Backend) remember(id, parent objstore.ID, files map[string][]byte) {
	if parent.IsZero() {
		return
	}
	m := madeState{parent: parent, paths: make([]string, 0, len(files))}
	for p := range files {
		m.paths = append(m.paths, p)
	}
	b.mu.Lock()
	if b.made == nil {
		b.made = map[objstore.ID]madeState{}
	}
	b.made[id] = m
	b.mu.Unlock()
}

// touches reports whether putting paths can change what is at p: p is
// one of them, a directory above one, or under one (a file that replaced
// a directory).
func touches(paths []string, p string) bool {
	for _, e := range paths {
		if e == p || strings.HasPrefix(e, p+"/") || strings.HasPrefix(p, e+"/") {
			return true
		}
	}
	return false
}

// MakeState implements mcts.StateMaker: one request.
func (b *Backend) MakeState(parent objstore.ID, files map[string][]byte, message string) (objstore.ID, objstore.ID, error) {
	id, root, err := b.conn().MakeState(parent, files, message, b.author())
	if err != nil {
		return objstore.ZeroID, objstore.ZeroID, fmt.Errorf("mcts: make state: %w", err)
	}
	b.remember(id, parent, files)
	return id, root, nil
}

// PrepareState implements mcts.TreeFirst: the server computes the tree and
// holds the objects on this connection until Commit or Abort.
func (b *Backend) PrepareState(parent objstore.ID, files map[string][]byte) (mcts.PendingState, error) {
	p, err := b.conn().PrepareState(parent, files)
	if err != nil {
		return nil, fmt.Errorf("mcts: make state: %w", err)
	}
	return &pending{p: p, b: b, parent: parent, files: files}, nil
}

// PrepareStateMessage implements mcts.MessageFirst: the server writes the
// state in the same request when the root is new to the connection (most
// new nodes of a search), so Commit costs no request.
func (b *Backend) PrepareStateMessage(parent objstore.ID, files map[string][]byte, message string) (mcts.PendingState, error) {
	p, err := b.conn().PrepareNewState(parent, files, message, b.author())
	if err != nil {
		return nil, fmt.Errorf("mcts: make state: %w", err)
	}
	return &pending{p: p, b: b, parent: parent, files: files}, nil
}

type pending struct {
	p      *server.PendingState
	b      *Backend
	parent objstore.ID
	files  map[string][]byte
}

func (p *pending) Root() objstore.ID { return p.p.Root() }
func (p *pending) Abort()            { p.p.Abort() }

func (p *pending) Commit(message string) (objstore.ID, error) {
	id, err := p.p.Commit(message, p.b.author())
	if err != nil {
		return objstore.ZeroID, fmt.Errorf("mcts: make state: %w", err)
	}
	p.b.remember(id, p.parent, p.files)
	return id, nil
}

// maxCached and maxCachedFiles bound the file content a Backend keeps.
const (
	maxCached      = 32 << 20
	maxCachedFiles = 1 << 16
)

type fileKey struct {
	state objstore.ID
	path  string
}

type cachedFile struct {
	e       objstore.Entry
	content []byte
}

// ReadFile implements mcts.FileReader: one read-file request, or none for
// a file read before, here or in the parent of a state made here whose
// edit did not touch it (its entry and content are the parent's). The
// slice is shared (callers do not modify it).
func (b *Backend) ReadFile(state objstore.ID, path string) (objstore.Entry, []byte, error) {
	k := fileKey{state, path}
	b.mu.Lock()
	f, ok := b.files[k]
	m, made := b.made[state]
	b.mu.Unlock()
	if ok {
		return f.e, f.content, nil
	}
	var e objstore.Entry
	var content []byte
	size := 0
	if made && !touches(m.paths, path) {
		var err error
		if e, content, err = b.ReadFile(m.parent, path); err != nil {
			return objstore.Entry{}, nil, err
		}
	} else {
		var buf bytes.Buffer
		var err error
		if e, err = b.conn().ReadFile(state, path, &buf); err != nil {
			return objstore.Entry{}, nil, err
		}
		content, size = buf.Bytes(), buf.Len()
	}
	b.mu.Lock()
	if b.files == nil || b.cached+size > maxCached || len(b.files) >= maxCachedFiles {
		b.files, b.cached = map[fileKey]cachedFile{}, 0
	}
	if size <= maxCached {
		b.files[k] = cachedFile{e, content}
		b.cached += size
	}
	b.mu.Unlock()
	return e, content, nil
}

// Walk implements mcts.TreeWalker: the whole listing in one request.
func (b *Backend) Walk(root objstore.ID, fn objstore.WalkFunc) error {
	return b.conn().Walk(root, fn)
}

// State implements mcts.StateReader.
func (b *Backend) State(id objstore.ID) (*objstore.State, error) { return b.conn().State(id) }

// Ref implements mcts.RefMover: a ref the peer may not read is as good as
// absent (the server leaves it out of listings).
func (b *Backend) Ref(name string) (objstore.Ref, error) {
	rs, err := b.conn().Refs(name)
	if err != nil {
		return objstore.Ref{}, err
	}
	for _, r := range rs {
		if r.Name == name {
			return r, nil
		}
	}
	return objstore.Ref{}, fmt.Errorf("%w: ref %q", objstore.ErrNotFound, name)
}

// UpdateRefs implements mcts.RefMover: one update-refs request, all or
// none, committed by the server as this peer (and so recorded in the audit
// log, in the same batch).
func (b *Backend) UpdateRefs(updates ...objstore.RefUpdate) error {
	return b.conn().UpdateRefs(false, updates...)
}

// Checkout implements eval.Switcher: the server moves dir to state.
func (b *Backend) Checkout(dir string, to objstore.ID, o objstore.CheckoutOptions) (objstore.MaterializeStats, error) {
	return b.conn().Checkout(dir, to, o)
}

// ImportDir implements mcts.Backend: the files are read here
// (mcts.WalkImport) and sent in one import-state request, so an import is
// bounded by the protocol's frame (16 MiB; server.ErrTooLarge beyond).
func (b *Backend) ImportDir(dir, message string) (objstore.ID, error) {
	var files []server.ImportFile
	err := mcts.WalkImport(dir, func(rel string, mode objstore.Mode, content []byte) error {
		files = append(files, server.ImportFile{Path: rel, Mode: mode, Content: content})
		return nil
	})
	if err != nil {
		return objstore.ZeroID, fmt.Errorf("mcts: import %q: %w", dir, err)
	}
	id, err := b.conns[0].ImportState(files, message, objstore.Signature{Name: "helios mcts"})
	if err != nil {
		return objstore.ZeroID, fmt.Errorf("mcts: import %q: %w", dir, err)
	}
	return id, nil
}

// Close closes the connections; the server drops the states they held
// prepared.
func (b *Backend) Close() error {
	var first error
	for _, c := range b.conns {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
