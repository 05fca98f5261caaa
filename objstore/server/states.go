package server

import (
	"bufio"
	"errors"
	"fmt"
	"time"

	"github.com/helios-vcs/helios/objstore"
)

// The state-making operations: what a tree search (helios mcts run) needs
// beyond reads, checkouts and ref moves, so that it can run through the
// server instead of opening the database itself.
//
//	25 walk           root tree → 'd' frames of (path, entry) records, each
//	                  frame whole records, then the count
//	26 make-state     drops, parent, files, message, author → state, root
//	27 prepare-state  drops, parent, files, commit-if-new [, message,
//	                  author] → handle, root, state
//	28 commit-state   drops, handle, message, author → state
//	29 import-state   n × (path, mode, content), message, author → state
//
// files is n × (path, content): the parent's tree with those files put in
// (objstore.Writer.EditTree: a replaced file keeps its mode, a new one is a
// regular file). make-state writes the blobs, trees and the state in one
// batch; prepare-state computes them in memory and holds them under a
// handle of the connection until commit-state writes them (or they are
// dropped), so that the client knows the new root tree before anything is
// written and drops a child whose tree it already has. With commit-if-new
// the request carries the state's message and author, and the server writes
// the state at once when its root is not one that this connection's state
// requests gave before (a search's new node, most likely): the answer then
// has the state (handle 0), and commit-state is not needed; a guess that
// was wrong leaves an unreferenced state for gc. This saves a search a
// round trip per new node. drops lists handles
// the client gave up (PendingState.Abort costs no round trip: it rides on
// the next state request). Prepared states are the connection's: they die
// with it, at most maxPending at a time. import-state makes a parentless
// state of whole files with their modes (a directory the client read); it
// is one request, so an import is bounded by the frame size (16 MiB).
//
// None of them moves a ref: the states are unreferenced until the client
// moves a ref to them with update-refs, which the Authorizer judges and the
// audit journal records as usual (a search's result refs: one record, in
// the batch that moves them).

// maxPending bounds the prepared states one connection holds; maxRoots
// the roots it remembers (forgotten all at once beyond).
const (
	maxPending = 1024
	maxRoots   = 1 << 20
)

// sawRoot records that a state request of sc gave root, and reports
// whether one had before.
func (sc *serverConn) sawRoot(root objstore.ID) bool {
	if _, ok := sc.roots[root]; ok {
		return true
	}
	if sc.roots == nil || len(sc.roots) >= maxRoots {
		sc.roots = map[objstore.ID]struct{}{}
	}
	sc.roots[root] = struct{}{}
	return false
}

// pendingState is a prepared state: its objects wait in w.
type pendingState struct {
	w            *objstore.Writer
	parent, root objstore.ID
}

// dropPending drops the connection's prepared states (it ended).
func (s *Server) dropPending(sc *serverConn) {
	for h, p := range sc.pending {
		p.w.Abort()
		delete(sc.pending, h)
		s.pendingStates.Add(-1)
	}
}

// drop drops the prepared states the client gave up; unknown handles are
// ignored (they may have been committed).
func (s *Server) drop(sc *serverConn, hs []uint64) {
	for _, h := range hs {
		if p, ok := sc.pending[h]; ok {
			p.w.Abort()
			delete(sc.pending, h)
			s.pendingStates.Add(-1)
		}
	}
}

func (d *dec) handles() []uint64 {
	n := d.n()
	if n > maxPending {
		// More than a connection can hold: malformed.
		d.fail("handles")
		return nil
	}
	var out []uint64
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.u())
	}
	return out
}

func (e *enc) handles(hs []uint64) {
	e.u(uint64(len(hs)))
	for _, h := range hs {
		e.u(h)
	}
}

func (d *dec) files() map[string][]byte {
	n := d.n()
	m := make(map[string][]byte, hint(n))
	for i := 0; i < n && d.err == nil; i++ {
		p := d.str()
		m[p] = d.bytes()
	}
	return m
}

func (e *enc) files(m map[string][]byte) {
	e.u(uint64(len(m)))
	for p, b := range m {
		e.str(p)
		e.bytes(b)
	}
}

// prepare computes the child of parent with files put in.
func (s *Server) prepare(parent objstore.ID, files map[string][]byte) (*pendingState, error) {
	var base objstore.ID
	if !parent.IsZero() {
		st, err := s.o.Store.State(parent)
		if err != nil {
			return nil, err
		}
		base = st.Root
	}
	w := s.o.Store.NewWriter()
	root, err := w.EditTree(base, files)
	if err != nil {
		w.Abort()
		return nil, err
	}
	return &pendingState{w: w, parent: parent, root: root}, nil
}

// commit writes p's objects and its state, signed by author (a zero time
// is now), with message; on failure p's objects are dropped.
func (s *Server) commit(sc *serverConn, p *pendingState, message string, author objstore.Signature) (objstore.ID, error) {
	if author.Name == "" {
		author.Name = "helios"
	}
	if author.When.IsZero() {
		author.When = time.Now()
	}
	st := &objstore.State{Root: p.root, Message: message, Author: author, Committer: author}
	if !p.parent.IsZero() {
		st.Parents = []objstore.ID{p.parent}
	}
	p.w.Actor = sc.peer.Name()
	id, err := p.w.PutState(st)
	if err == nil {
		err = p.w.Commit()
	}
	if err != nil {
		p.w.Abort()
		return objstore.ZeroID, err
	}
	return id, nil
}

// runStates decodes, authorizes and runs a state-making request (or walk).
func (s *Server) runStates(sc *serverConn, w *bufio.Writer, e *enc, op byte, d *dec) error {
	switch op {
	case opWalk:
		root := d.id()
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorize(sc, op, ""); err != nil {
			return err
		}
		return s.walk(w, e, root)
	case opMakeState, opPrepareState:
		drops, parent, files := d.handles(), d.id(), d.files()
		var message string
		var author objstore.Signature
		commitIfNew := op == opMakeState || d.flag()
		if commitIfNew {
			message, author = d.str(), d.sig()
		}
		if err := d.done(); err != nil {
			return err
		}
		s.drop(sc, drops)
		if err := s.authorize(sc, op, ""); err != nil {
			return err
		}
		if op == opPrepareState && len(sc.pending) >= maxPending {
			return fmt.Errorf("server: %d prepared states on this connection: commit or drop some", len(sc.pending))
		}
		p, err := s.prepare(parent, files)
		if err != nil {
			return err
		}
		seen := sc.sawRoot(p.root)
		if op == opMakeState {
			id, err := s.commit(sc, p, message, author)
			if err != nil {
				return err
			}
			e.id(id)
			e.id(p.root)
			return nil
		}
		if commitIfNew && !seen {
			id, err := s.commit(sc, p, message, author)
			if err != nil {
				return err
			}
			e.u(0)
			e.id(p.root)
			e.id(id)
			return nil
		}
		if sc.pending == nil {
			sc.pending = map[uint64]*pendingState{}
		}
		sc.nextPending++
		sc.pending[sc.nextPending] = p
		s.pendingStates.Add(1)
		e.u(sc.nextPending)
		e.id(p.root)
		e.id(objstore.ZeroID)
		return nil
	case opCommitState:
		drops, h, message, author := d.handles(), d.u(), d.str(), d.sig()
		if err := d.done(); err != nil {
			return err
		}
		s.drop(sc, drops)
		if err := s.authorize(sc, op, ""); err != nil {
			return err
		}
		p, ok := sc.pending[h]
		if !ok {
			return fmt.Errorf("server: commit-state: no prepared state %d on this connection", h)
		}
		delete(sc.pending, h)
		s.pendingStates.Add(-1)
		id, err := s.commit(sc, p, message, author)
		if err != nil {
			return err
		}
		e.id(id)
		return nil
	case opImportState:
		n := d.count(1 + 1 + 1) // path, mode, data
		type file struct {
			path string
			mode objstore.Mode
			data []byte
		}
		fs := make([]file, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			fs = append(fs, file{path: d.str(), mode: objstore.Mode(d.u()), data: d.bytes()})
		}
		message, author := d.str(), d.sig()
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorize(sc, op, ""); err != nil {
			return err
		}
		dr, err := s.o.Store.NewDraft(objstore.ZeroID)
		if err != nil {
			return err
		}
		for _, f := range fs {
			if err := dr.Put(f.path, f.mode, f.data); err != nil {
				return err
			}
		}
		id, err := dr.Commit(objstore.CommitOptions{Message: message, Author: author, Actor: sc.peer.Name()})
		if err != nil {
			return err
		}
		e.id(id)
		return nil
	}
	return fmt.Errorf("%w: unknown operation %d", ErrProtocol, op)
}

// walk streams every entry under root as data frames of whole (path,
// entry) records, and the count as the result.
func (s *Server) walk(w *bufio.Writer, e *enc, root objstore.ID) error {
	var out enc
	n := 0
	flush := func() error {
		if len(out.b) == 0 {
			return nil
		}
		if err := writeFrame(w, frameData, out.b); err != nil {
			return fmt.Errorf("%w: %w", errBroken, err)
		}
		out.b = out.b[:0]
		return nil
	}
	err := s.o.Store.Walk(root, func(p string, x objstore.Entry) error {
		out.str(p)
		out.entry(x)
		n++
		if len(out.b) >= dataChunk {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	e.u(uint64(n))
	return nil
}

// The client side.

// Walk calls fn for every entry under tree root, as objstore.Store.Walk
// does (parents before children, git's order; SkipDir skips a directory's
// entries; another error stops the walk and is returned). The server sends
// the whole listing in one request; fn runs after it has arrived, so it
// may use c.
func (c *Client) Walk(root objstore.ID, fn objstore.WalkFunc) error {
	type item struct {
		path string
		e    objstore.Entry
	}
	var items []item
	var derr error
	sink := writerFunc(func(p []byte) (int, error) {
		d := dec{b: p}
		for len(d.b) > 0 && d.err == nil {
			items = append(items, item{d.str(), d.entry()})
		}
		if d.err != nil {
			derr = d.err
			return 0, d.err
		}
		return len(p), nil
	})
	var count int
	err := c.call(opWalk, func(e *enc) { e.id(root) }, sink, func(d *dec) { count = int(d.u()) })
	if err == nil && derr == nil && count != len(items) {
		err = fmt.Errorf("%w: walk: %d entries, count %d", ErrProtocol, len(items), count)
	}
	if err != nil {
		return err
	}
	skip := ""
	for _, it := range items {
		if skip != "" && len(it.path) > len(skip) && it.path[:len(skip)] == skip {
			continue
		}
		skip = ""
		err := fn(it.path, it.e)
		if errors.Is(err, objstore.SkipDir) {
			if it.e.Mode.IsDir() {
				skip = it.path + "/"
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// takeDrops returns the handles given up since the last state request.
func (c *Client) takeDrops() []uint64 {
	c.dropMu.Lock()
	defer c.dropMu.Unlock()
	hs := c.drops
	c.drops = nil
	return hs
}

// MakeState writes a child of parent (zero: none) with files put in,
// signed by author with message, and returns it and its root tree.
func (c *Client) MakeState(parent objstore.ID, files map[string][]byte, message string, author objstore.Signature) (state, root objstore.ID, err error) {
	err = c.call(opMakeState, func(e *enc) {
		e.handles(c.takeDrops())
		e.id(parent)
		e.files(files)
		e.str(message)
		e.sig(author)
	}, nil, func(d *dec) { state, root = d.id(), d.id() })
	return state, root, err
}

// PendingState is a state the server prepared and holds for this
// connection (see PrepareState), or one it wrote at once (see
// PrepareNewState). It is for one goroutine.
type PendingState struct {
	c     *Client
	h     uint64
	root  objstore.ID
	state objstore.ID // written already (h is 0)
	done  bool
}

// PrepareState computes the child of parent with files put in and returns
// it unwritten: its root is known, Commit writes it, Abort drops it. The
// server holds it until then or until this connection closes.
func (c *Client) PrepareState(parent objstore.ID, files map[string][]byte) (*PendingState, error) {
	return c.prepare(parent, files, false, "", objstore.Signature{})
}

// PrepareNewState is PrepareState that writes the state at once, with
// message and author, when its root is new to this connection (no state
// request on it gave that root before): Commit then costs nothing and must
// be given the same message; Abort leaves such a state unreferenced.
func (c *Client) PrepareNewState(parent objstore.ID, files map[string][]byte, message string, author objstore.Signature) (*PendingState, error) {
	return c.prepare(parent, files, true, message, author)
}

func (c *Client) prepare(parent objstore.ID, files map[string][]byte, commitIfNew bool, message string, author objstore.Signature) (*PendingState, error) {
	p := &PendingState{c: c}
	err := c.call(opPrepareState, func(e *enc) {
		e.handles(c.takeDrops())
		e.id(parent)
		e.files(files)
		e.flag(commitIfNew)
		if commitIfNew {
			e.str(message)
			e.sig(author)
		}
	}, nil, func(d *dec) { p.h, p.root, p.state = d.u(), d.id(), d.id() })
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Written reports whether the server wrote the state already.
func (p *PendingState) Written() bool { return !p.state.IsZero() }

// Root is the prepared state's root tree.
func (p *PendingState) Root() objstore.ID { return p.root }

// Commit writes the state, signed by author (a zero time: the server's
// now) with message. A failed commit drops the state.
func (p *PendingState) Commit(message string, author objstore.Signature) (objstore.ID, error) {
	if p.done {
		return objstore.ZeroID, errors.New("server: prepared state already committed or dropped")
	}
	p.done = true
	if !p.state.IsZero() {
		return p.state, nil
	}
	var id objstore.ID
	err := p.c.call(opCommitState, func(e *enc) {
		e.handles(p.c.takeDrops())
		e.u(p.h)
		e.str(message)
		e.sig(author)
	}, nil, func(d *dec) { id = d.id() })
	return id, err
}

// Abort drops the state without a round trip: the handle goes with the
// connection's next state request (or the connection's end).
func (p *PendingState) Abort() {
	if p.done {
		return
	}
	p.done = true
	if !p.state.IsZero() {
		return // written: gc takes it
	}
	p.c.dropMu.Lock()
	p.c.drops = append(p.c.drops, p.h)
	p.c.dropMu.Unlock()
}

// ImportFile is a file of ImportState.
type ImportFile struct {
	Path    string
	Mode    objstore.Mode
	Content []byte
}

// ImportState writes a parentless state of files (paths slash-separated,
// modes as given) with message, signed by author, as one request.
func (c *Client) ImportState(files []ImportFile, message string, author objstore.Signature) (objstore.ID, error) {
	var id objstore.ID
	err := c.call(opImportState, func(e *enc) {
		e.u(uint64(len(files)))
		for _, f := range files {
			e.str(f.Path)
			e.u(uint64(f.Mode))
			e.bytes(f.Content)
		}
		e.str(message)
		e.sig(author)
	}, nil, func(d *dec) { id = d.id() })
	return id, err
}
