package storeremote

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/objstore"
)

// Push implements helper.Remote.
//
// Every update is first checked against the ref's current git value (the
// store is open for writing, so this process is its only writer and the
// values cannot move under it); then the objects the store lacks are read
// while git still lists them (helper.PushObjectStreamer), blobs stored as
// they arrive, each tree as soon as all it names is stored, commits and
// tags once all is in (children before parents). Each object's mapping
// entry is queued after it (Writer.PutGitObject), so objects and mapping
// go out together in batches of 64 MiB, written in the background while
// the next batch is read (Writer.Background), which a RocksDB store
// ingests as synced table files: no log write, memory table or compaction
// during the push. Then one Writer.CommitGit applies the accepted updates
// and their git values by compare-and-swap on the states the refs held.
func (r *Remote) Push(ctx context.Context, updates []helper.RefUpdate, opts helper.PushOptions, objects helper.PushObjects) ([]error, error) {
	if err := r.ensure(true); err != nil {
		return nil, err
	}
	s := r.store
	results := make([]error, len(updates))
	cur := make([]objstore.ID, len(updates)) // the state each ref holds now
	for i, u := range updates {
		ref, err := s.Ref(u.Name)
		switch {
		case errors.Is(err, objstore.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("storeremote: %w", err)
		case ref.IsSymbolic():
			results[i] = fmt.Errorf("%s is a symbolic ref in the store", u.Name)
			continue
		default:
			cur[i] = ref.ID
		}
		var curOID objstore.GitOID
		if !cur[i].IsZero() {
			g, err := s.GitRef(u.Name)
			if err != nil && !errors.Is(err, objstore.ErrNotFound) {
				return nil, fmt.Errorf("storeremote: %w", err)
			}
			if curOID, err = r.gitValue(u.Name, cur[i], g); err != nil {
				return nil, err
			}
		}
		if curOID != fromGit(u.Old) {
			results[i] = helper.FetchFirst
			if u.Lease {
				results[i] = helper.StaleInfo
			}
		}
	}
	if failed(results) && opts.Atomic {
		return atomicFail(results), nil
	}
	if opts.DryRun {
		return results, nil
	}
	w := s.NewWriter()
	// A big push writes objects in big batches, which the store can bulk
	// load (objstore.Ingester) with few files and no compaction during it.
	// 16 MiB, not more: one batch is written while the next fills, and
	// each MiB of memory a process touches for the first time costs about
	// 3.4 ms on the machines measured (page faults); 64 MiB batches took
	// the server to 320 MiB for a 92 MiB history, 16 MiB to 210 MiB, in
	// the same time.
	w.FlushBytes = 16 << 20
	// ... written while the next batch is read and converted.
	w.Background = true
	// Pushed trees stay out of the store's cache (64 MiB of them after a
	// whole history, each MiB of which the server first had to fault in).
	w.Uncached = true
	// The objects come because the store has no git id for them: their
	// blobs are new but for the few a state made inside helios holds.
	w.Fresh = true
	c := &pushConv{r: r, s: s, w: w, known: newGitIndex(), pending: map[objstore.GitOID]gitobj.Object{}}
	defer c.w.Abort()
	if err := c.receive(ctx, objects); err != nil {
		return nil, err
	}
	// Resolve each new value to the state its ref will hold.
	var refUpdates []objstore.RefUpdate
	var idx []int
	for i, u := range updates {
		if results[i] != nil {
			continue
		}
		ru := objstore.RefUpdate{Name: u.Name, Old: cur[i]}
		if !u.New.IsZero() {
			state, err := c.refState(fromGit(u.New))
			if err != nil {
				results[i] = err
				continue
			}
			ru.New = state
		}
		refUpdates = append(refUpdates, ru)
		idx = append(idx, i)
	}
	if r.Judge != nil && len(refUpdates) > 0 {
		// The judge reads the new states (their parents tell a
		// fast-forward from a force): store them first, unreferenced.
		if err := c.w.Flush(); err != nil {
			return nil, fmt.Errorf("storeremote: push: %w", err)
		}
		verdicts := r.Judge(refUpdates)
		if len(verdicts) != len(refUpdates) {
			return nil, fmt.Errorf("storeremote: push: %d verdicts for %d updates", len(verdicts), len(refUpdates))
		}
		keep := 0
		for j, err := range verdicts {
			if err != nil {
				results[idx[j]] = err
				continue
			}
			refUpdates[keep], idx[keep] = refUpdates[j], idx[j]
			keep++
		}
		refUpdates, idx = refUpdates[:keep], idx[:keep]
	}
	if failed(results) && opts.Atomic {
		return atomicFail(results), nil
	}
	c.w.Actor = r.Actor
	r.pushed = true
	// What is still pending goes out in bulk before the commit's log write.
	if err := c.w.Flush(); err != nil {
		return nil, fmt.Errorf("storeremote: push: %w", err)
	}
	for {
		err := c.w.CommitGit(c.batch(updates, refUpdates, idx), refUpdates...)
		var conflict *objstore.RefConflictError
		if !errors.As(err, &conflict) {
			if err != nil {
				return nil, fmt.Errorf("storeremote: push: %w", err)
			}
			break
		}
		// Another writer in this process moved a ref after the check: that
		// update lost, the others may still land together.
		k := -1
		for j, ru := range refUpdates {
			if ru.Name == conflict.Name {
				k = j
			}
		}
		if k < 0 {
			return nil, fmt.Errorf("storeremote: push: %w", err)
		}
		i := idx[k]
		results[i] = helper.FetchFirst
		if updates[i].Lease {
			results[i] = helper.StaleInfo
		}
		if opts.Atomic {
			return atomicFail(results), nil
		}
		refUpdates = append(refUpdates[:k], refUpdates[k+1:]...)
		idx = append(idx[:k], idx[k+1:]...)
	}
	if err := r.fixHead(updates, results); err != nil {
		return nil, err
	}
	return results, nil
}

func failed(results []error) bool {
	for _, e := range results {
		if e != nil {
			return true
		}
	}
	return false
}

func atomicFail(results []error) []error {
	for i := range results {
		if results[i] == nil {
			results[i] = helper.AtomicFailed
		}
	}
	return results
}

// fixHead points HEAD at a branch when its target does not exist (a new
// store's HEAD names refs/heads/main): at the first branch pushed now,
// so that clones check out what was pushed.
func (r *Remote) fixHead(updates []helper.RefUpdate, results []error) error {
	head, err := r.store.Ref("HEAD")
	if err != nil || !head.IsSymbolic() {
		return nil // no HEAD, or a detached one: leave it
	}
	if _, err := r.store.Ref(head.Target); err == nil {
		return nil
	}
	for i, u := range updates {
		if results[i] == nil && !u.New.IsZero() && strings.HasPrefix(u.Name, "refs/heads/") {
			if err := r.store.SetSymbolicRef("HEAD", u.Name); err != nil {
				return fmt.Errorf("storeremote: set HEAD: %w", err)
			}
			return nil
		}
	}
	return nil
}

// pushConv stores pushed git objects as store objects.
type pushConv struct {
	r *Remote
	s *objstore.Store
	w *objstore.Writer
	// known holds objects mapped in the store or in this push.
	known *gitIndex
	// pending holds trees, commits and tags read but not converted yet.
	pending map[objstore.GitOID]gitobj.Object
	// states memoizes synthetic states of refs to trees and blobs.
	states map[objstore.GitOID]objstore.ID
}

// record notes a stored object and queues its mapping entry, which goes
// out with or after the object (Writer.PutGitObject). Only a tag's git
// bytes are looked at again (refState); a tree's or a commit's are not
// kept past their mapping entry's write (a whole history's trees are
// 10 MB and more).
func (c *pushConv) record(oid objstore.GitOID, o objstore.GitObject) {
	c.w.PutGitObject(oid, o)
	if o.Type != objstore.GitTag {
		o.Raw = nil
	}
	c.known.set(oid, o)
}

// gitIndex maps git ids to the objects they map to. Its map holds an index
// into a slice, not the object itself: 24-byte slots instead of 88. A push
// looks up every entry of every tree it receives (260k lookups for a
// history of 3,000 commits, twice), and the smaller map stays in the
// processor's caches.
type gitIndex struct {
	at   map[objstore.GitOID]int32
	objs []objstore.GitObject
}

func newGitIndex() *gitIndex { return &gitIndex{at: map[objstore.GitOID]int32{}} }

func (x *gitIndex) get(oid objstore.GitOID) (objstore.GitObject, bool) {
	i, ok := x.at[oid]
	if !ok {
		return objstore.GitObject{}, false
	}
	return x.objs[i], true
}

func (x *gitIndex) has(oid objstore.GitOID) bool {
	_, ok := x.at[oid]
	return ok
}

// set maps oid to o, replacing what it mapped to.
func (x *gitIndex) set(oid objstore.GitOID, o objstore.GitObject) {
	if i, ok := x.at[oid]; ok {
		x.objs[i] = o
		return
	}
	x.at[oid] = int32(len(x.objs))
	x.objs = append(x.objs, o)
}

// batch returns the mapping entries of a commit of refUpdates (updates[idx[k]]
// is refUpdates[k]): the objects this push stored, the objects List
// exported (states made inside helios, now given their git ids for good),
// and the refs' git values.
func (c *pushConv) batch(updates []helper.RefUpdate, refUpdates []objstore.RefUpdate, idx []int) *objstore.GitBatch {
	gb := &objstore.GitBatch{}
	for oid, o := range c.r.exp {
		gb.PutObject(oid, o)
	}
	for k, ru := range refUpdates {
		if ru.New.IsZero() {
			gb.DeleteRef(ru.Name)
			continue
		}
		gb.SetRef(ru.Name, fromGit(updates[idx[k]].New), ru.New)
	}
	return gb
}

// receive reads the objects the store lacks. Blobs are stored as they
// arrive, and so is every tree once all it names is known (git rev-list
// sends a tree before its entries, so a tree waits for its last entry);
// commits, tags and the trees that name objects from the store are
// converted once all is read.
func (c *pushConv) receive(ctx context.Context, objects helper.PushObjects) error {
	// want runs on the listing's side: it skips what was offered before
	// and what the store has, which it notes in found. It looks a run of
	// ids up in one read.
	found := map[objstore.GitOID]objstore.GitObject{}
	offered := map[objstore.GitOID]bool{}
	var look []objstore.GitOID
	var at []int
	// A store that maps no git object yet (a first push, a mirror) has
	// none of them: its lookups are skipped, and so are the writer's of
	// reverse entries (Writer.Unmapped). What another push stores
	// meanwhile is stored again, as content, which is harmless.
	mapped, err := c.s.HasGitObjects()
	if err != nil {
		return fmt.Errorf("storeremote: %w", err)
	}
	c.w.Unmapped = !mapped
	want := func(ids []gitobj.OID) ([]bool, error) {
		wanted := make([]bool, len(ids))
		look, at = look[:0], at[:0]
		for i, id := range ids {
			oid := fromGit(id)
			if offered[oid] {
				continue
			}
			offered[oid] = true
			if !mapped {
				wanted[i] = true
				continue
			}
			look, at = append(look, oid), append(at, i)
		}
		if len(look) == 0 {
			return wanted, nil
		}
		objs, ok, err := c.s.GitLookups(look)
		if err != nil {
			return nil, fmt.Errorf("storeremote: %w", err)
		}
		for j, i := range at {
			if ok[j] {
				found[look[j]] = objs[j]
				c.keep(objs[j])
			} else {
				wanted[i] = true
			}
		}
		return wanted, nil
	}
	// Reading (git rev-list and cat-file, id and fsck checks) and storing
	// (hashing, chunking, converting, the store's writes) overlap: a
	// second goroutine stores.
	// The objects go over in runs of objRun: a hand-over per object woke
	// the other goroutine per object whenever one of them waited (a
	// context switch, dear on a virtual machine).
	objs := make(chan []gitobj.Object, 4)
	var failed atomic.Pointer[error]
	stored := make(chan struct{})
	go func() {
		defer close(stored)
		t := treeWait{c: c, waiting: map[objstore.GitOID]int{}, waiters: map[objstore.GitOID][]objstore.GitOID{}}
		for run := range objs {
			for _, obj := range run {
				if failed.Load() != nil {
					break
				}
				c.store(&t, obj, &failed)
			}
		}
	}()
	var run []gitobj.Object
	runBytes := 0
	send := func(obj gitobj.Object) error {
		if e := failed.Load(); e != nil {
			return *e
		}
		run = append(run, obj)
		runBytes += len(obj.Data)
		if len(run) == objRun || runBytes >= objRunBytes {
			objs <- run
			run, runBytes = make([]gitobj.Object, 0, objRun), 0
		}
		return nil
	}
	if st, ok := objects.(helper.PushObjectStreamer); ok {
		err = st.Stream(ctx, want, send)
	} else {
		err = c.readAll(ctx, objects, want, send)
	}
	if len(run) > 0 {
		objs <- run
	}
	close(objs)
	<-stored
	// What is left (the commits' states, the last batches) is all there
	// is to do: its table files are built on all cores at once.
	c.w.Tables = min(runtime.GOMAXPROCS(0), 4)
	if err != nil {
		return err
	}
	if e := failed.Load(); e != nil {
		return *e
	}
	// The trees and blobs still pending are written while the commits
	// that refer to them are converted.
	if err := c.w.StartFlush(); err != nil {
		return err
	}
	for oid, o := range found {
		if !c.known.has(oid) {
			c.known.set(oid, o)
		}
	}
	todo := make([]objstore.GitOID, 0, len(c.pending))
	for oid := range c.pending {
		todo = append(todo, oid)
	}
	for _, oid := range todo {
		if _, err := c.resolve(oid); err != nil {
			return err
		}
	}
	return nil
}

// objRun and objRunBytes bound the runs of objects receive hands to its
// storing goroutine.
const (
	objRun      = 64
	objRunBytes = 1 << 20
)

// store converts and stores one pushed object (receive's storing
// goroutine); an error goes into failed.
func (c *pushConv) store(t *treeWait, obj gitobj.Object, failed *atomic.Pointer[error]) {
	oid := fromGit(obj.OID)
	switch obj.Type {
	case gitobj.Blob:
		id, err := c.w.PutBlobOwned(obj.Data) // a fresh buffer per object
		if err != nil {
			err = fmt.Errorf("storeremote: %w", err)
			failed.Store(&err)
			return
		}
		c.record(oid, objstore.GitObject{Type: objstore.GitBlob, ID: id})
		t.known(oid)
	case gitobj.Tree:
		c.pending[oid] = obj
		t.arrived(oid, obj.Data)
	default:
		c.pending[oid] = obj
	}
}

// readAll is receive's reading for PushObjects that cannot stream: the
// whole list first, then the objects wanted.
func (c *pushConv) readAll(ctx context.Context, objects helper.PushObjects, want func([]gitobj.OID) ([]bool, error), fn func(gitobj.Object) error) error {
	ids, err := objects.IDs(ctx)
	if err != nil {
		return err
	}
	var missing []gitobj.OID
	for run := range slices.Chunk(ids, helper.WantRun) {
		ok, err := want(run)
		if err != nil {
			return err
		}
		for i, id := range run {
			if ok[i] {
				missing = append(missing, id)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return objects.Read(ctx, missing, fn)
}

// treeWait converts pushed trees as soon as everything they name is
// known, while the rest of the push is still being read.
type treeWait struct {
	c       *pushConv
	waiting map[objstore.GitOID]int               // tree → entries not known yet
	waiters map[objstore.GitOID][]objstore.GitOID // object → trees waiting for it
}

// arrived notes a pushed tree and converts it if it can.
func (t *treeWait) arrived(oid objstore.GitOID, raw []byte) {
	n := 0
	err := eachTreeEntry(raw, func(e treeEntry) error {
		if entryKind(e.mode) == 0 {
			return nil
		}
		if t.c.known.has(e.oid) {
			return nil
		}
		n++
		t.waiters[e.oid] = append(t.waiters[e.oid], oid)
		return nil
	})
	if err != nil {
		return // left for receive's last pass, which reports it
	}
	if n > 0 {
		t.waiting[oid] = n
		return
	}
	if t.convert(oid) {
		t.known(oid)
	}
}

// known converts the trees that waited for oid only, and so on upwards.
func (t *treeWait) known(oid objstore.GitOID) {
	stack := []objstore.GitOID{oid}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		ws := t.waiters[x]
		delete(t.waiters, x)
		for _, w := range ws {
			if t.waiting[w]--; t.waiting[w] == 0 {
				delete(t.waiting, w)
				if t.convert(w) {
					stack = append(stack, w)
				}
			}
		}
	}
}

// convert converts a tree whose entries are all known. A tree that fails
// stays pending: receive's last pass converts it again and reports why.
func (t *treeWait) convert(oid objstore.GitOID) bool {
	obj, ok := t.c.pending[oid]
	if !ok {
		return false
	}
	_, err := t.c.convertTree(oid, obj.Data)
	return err == nil
}

// resolve returns the mapping of oid, converting it (and, first, what it
// names) if it was pushed, else looking it up in the store or among the
// exported objects. A missing object is an error.
func (c *pushConv) resolve(oid objstore.GitOID) (objstore.GitObject, error) {
	if o, ok := c.known.get(oid); ok {
		return o, nil
	}
	if obj, ok := c.pending[oid]; ok {
		return c.convert(oid, obj)
	}
	if o, ok := c.r.exp[oid]; ok {
		return o, nil
	}
	o, ok, err := c.s.GitLookup(oid)
	if err != nil {
		return o, fmt.Errorf("storeremote: %w", err)
	}
	if !ok {
		return o, fmt.Errorf("missing object %v", oid)
	}
	c.keep(o)
	c.known.set(oid, o)
	return o, nil
}

// keep tells the writer of a stored object the push links to without
// storing it (objstore.Writer.Keep): gc spares it, and a gc that collected
// it before fails the commit instead of leaving a hole.
func (c *pushConv) keep(o objstore.GitObject) {
	if k := o.Type.StoreKind(); k != 0 {
		c.w.Keep(k, o.ID)
	}
}

// convert stores one pushed tree, commit or tag. Commits are converted
// with an explicit stack: a history can be longer than a goroutine's
// recursion should go.
func (c *pushConv) convert(oid objstore.GitOID, obj gitobj.Object) (objstore.GitObject, error) {
	switch obj.Type {
	case gitobj.Tree:
		return c.convertTree(oid, obj.Data)
	case gitobj.Tag:
		target, typ, err := tagTarget(obj.Data)
		if err != nil {
			return objstore.GitObject{}, err
		}
		delete(c.pending, oid)
		t, err := c.resolve(target)
		if err != nil {
			return t, err
		}
		if t.Type != typ {
			return t, fmt.Errorf("tag %v names %v as a %v, it is a %v", oid, target, typ, t.Type)
		}
		o := objstore.GitObject{Type: objstore.GitTag, Raw: obj.Data}
		c.record(oid, o)
		return o, nil
	case gitobj.Commit:
		stack := []objstore.GitOID{oid}
		for len(stack) > 0 {
			top := stack[len(stack)-1]
			if c.known.has(top) {
				stack = stack[:len(stack)-1]
				continue
			}
			raw := c.pending[top].Data
			_, parents, err := commitLinks(raw)
			if err != nil {
				return objstore.GitObject{}, err
			}
			ready := true
			for _, p := range parents {
				if c.known.has(p) {
					continue
				}
				if po, ok := c.pending[p]; ok && po.Type == gitobj.Commit {
					stack = append(stack, p)
					ready = false
				}
			}
			if !ready {
				continue
			}
			stack = stack[:len(stack)-1]
			if _, err := c.convertCommit(top, raw); err != nil {
				return objstore.GitObject{}, err
			}
		}
		o, _ := c.known.get(oid)
		return o, nil
	}
	return objstore.GitObject{}, fmt.Errorf("object %v has unexpected type %v", oid, obj.Type)
}

// convertCommit stores a commit whose parents are all known or in the
// store.
func (c *pushConv) convertCommit(oid objstore.GitOID, raw []byte) (objstore.GitObject, error) {
	cm, err := gitobj.DecodeCommit(gitobj.SHA1, raw)
	if err != nil {
		return objstore.GitObject{}, fmt.Errorf("commit %v: %w", oid, err)
	}
	delete(c.pending, oid)
	tree, err := c.resolve(fromGit(cm.Tree))
	if err != nil {
		return tree, err
	}
	if tree.Type != objstore.GitTree {
		return tree, fmt.Errorf("commit %v names %v as its tree, it is a %v", oid, cm.Tree, tree.Type)
	}
	st := &objstore.State{
		Root:      tree.ID,
		Author:    parseIdent(cm.Author),
		Committer: parseIdent(cm.Committer),
		Message:   string(cm.Message),
	}
	for _, p := range cm.Parents {
		po, err := c.resolve(fromGit(p))
		if err != nil {
			return po, err
		}
		if po.Type != objstore.GitCommit {
			return po, fmt.Errorf("commit %v names %v as a parent, it is a %v", oid, p, po.Type)
		}
		st.Parents = append(st.Parents, po.ID)
	}
	id, err := c.w.PutState(st)
	if err != nil {
		return objstore.GitObject{}, fmt.Errorf("storeremote: %w", err)
	}
	o := objstore.GitObject{Type: objstore.GitCommit, ID: id, Raw: raw}
	c.record(oid, o)
	return o, nil
}

// convertTree stores a tree after the trees and blobs it names.
func (c *pushConv) convertTree(oid objstore.GitOID, raw []byte) (objstore.GitObject, error) {
	// An entry is at least 28 bytes ("1 x\0" and the id): room for all of
	// them, so appends never copy.
	t := objstore.Tree{Entries: make([]objstore.Entry, 0, len(raw)/28+1)}
	err := eachTreeEntry(raw, func(e treeEntry) error {
		mode, ok := storeMode(e.mode)
		if !ok {
			return fmt.Errorf("tree %v: entry %q has mode %o", oid, e.name, e.mode)
		}
		ent := objstore.Entry{Name: string(e.name), Mode: mode}
		if k := entryKind(e.mode); k == 0 {
			copy(ent.ID[:], e.oid[:])
		} else {
			child, err := c.resolve(e.oid)
			if err != nil {
				return err
			}
			if child.Type != k {
				return fmt.Errorf("tree %v names %v as a %v, it is a %v", oid, e.oid, k, child.Type)
			}
			ent.ID = child.ID
		}
		t.Entries = append(t.Entries, ent)
		return nil
	})
	if err != nil {
		return objstore.GitObject{}, err
	}
	id, err := c.w.PutTree(&t)
	if err != nil {
		return objstore.GitObject{}, fmt.Errorf("tree %v: %w", oid, err)
	}
	delete(c.pending, oid)
	o := objstore.GitObject{Type: objstore.GitTree, ID: id, Raw: raw}
	c.record(oid, o)
	return o, nil
}

// refState is the state a ref with git value oid holds: the commit's,
// through any tags; a synthetic state for a tree or a blob.
func (c *pushConv) refState(oid objstore.GitOID) (objstore.ID, error) {
	start := oid
	for range 32 {
		o, err := c.resolve(oid)
		if err != nil {
			return objstore.ZeroID, err
		}
		switch o.Type {
		case objstore.GitCommit:
			return o.ID, nil
		case objstore.GitTag:
			if oid, _, err = tagTarget(o.Raw); err != nil {
				return objstore.ZeroID, err
			}
			continue
		}
		return c.synthetic(start, o)
	}
	return objstore.ZeroID, errors.New("tag chain too long")
}

// synthetic makes the state that holds a ref to a tree or a blob: its
// root is the tree, or a tree with the blob as "blob". Its fields are
// fixed, so the same target always gives the same state.
func (c *pushConv) synthetic(oid objstore.GitOID, o objstore.GitObject) (objstore.ID, error) {
	if id, ok := c.states[oid]; ok {
		return id, nil
	}
	root := o.ID
	if o.Type == objstore.GitBlob {
		var err error
		root, err = c.w.PutTree(&objstore.Tree{Entries: []objstore.Entry{{Name: "blob", Mode: objstore.ModeFile, ID: o.ID}}})
		if err != nil {
			return root, fmt.Errorf("storeremote: %w", err)
		}
	}
	sig := objstore.Signature{Name: "helios", When: time.Unix(0, 0).UTC()}
	id, err := c.w.PutState(&objstore.State{Root: root, Author: sig, Committer: sig,
		Message: "helios: holds a git ref to " + o.Type.String() + " " + oid.String() + "\n"})
	if err != nil {
		return id, fmt.Errorf("storeremote: %w", err)
	}
	if c.states == nil {
		c.states = map[objstore.GitOID]objstore.ID{}
	}
	c.states[oid] = id
	return id, nil
}
