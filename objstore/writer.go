package objstore

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
)

type objRef struct {
	kind Kind
	id   ID
}

// pendingObj is an object (or git mapping entry) put through a Writer and
// not written yet; a write looks up at once, in one KV call, those whose
// presence matters (Writer.lookUp).
type pendingObj struct {
	key, value []byte
	head       []byte // written before value (Batch.PutParts): a blob's encoding
	kind       Kind   // the object's; for a reverse entry, the kind of the object it maps
	id         ID
	tree       *Tree // decoded, for the L1 cache once written
	// git marks a git mapping entry (PutGitObject), not an object: an
	// object entry (gitObjEntry), written as is, or a reverse entry
	// (gitRevEntry), written only where none is stored.
	git uint8
}

const (
	gitObjEntry = 1 + iota
	gitRevEntry
)

// Writer stores objects and then moves refs to them. Objects collect in
// memory and are written when they grow past FlushBytes (objects before
// anything that refers to them, so a partly written push leaves only
// unreferenced objects behind); Commit writes the rest and the ref updates
// in one atomic batch. Chunks already stored are not written again, nor
// are blobs unless the writer is Fresh: it asks the KV about all of them at
// once when it writes (lookUp says what it asks about). A Writer is for
// one goroutine.
type Writer struct {
	s       *Store
	pending []pendingObj
	inBatch map[ID]Kind // objects pending in this writer
	size    int
	// touched holds every object this writer put or found already stored,
	// from its first put until Commit or Abort; gc keeps them and all they
	// reach (see Store.GC). mu guards touched against gc reading it.
	mu         sync.Mutex
	touched    []objRef
	registered bool
	// kept holds the objects Keep was told of (guarded by mu), and epoch
	// the store's gc epoch when the writer was made or last committed.
	kept  []objRef
	epoch uint64
	// FlushBytes is the size at which pending objects are written early.
	FlushBytes int
	// Background makes those early writes run on a goroutine of their own,
	// one at a time and in order, while puts go on (a big push hashes and
	// converts the next batch while the store writes the last). Flush,
	// Commit and Abort wait for it; its error comes back from a later put,
	// Flush or Commit.
	Background bool
	flushing   chan struct{} // closed when the background flush is done
	bgErr      error         // a background flush's error, read after flushing
	spare      []pendingObj  // the list the last background flush is done with, read after flushing
	// Tables is how many table files each write may be built into at
	// once (Batch.Tables): for a bulk load's last writes, when the cores
	// have nothing else to do.
	Tables int
	// Uncached keeps the trees this writer puts out of the store's cache:
	// for a bulk load (a push of a whole history), whose trees nobody is
	// about to read, and whose memory would grow by the cache's size.
	Uncached bool
	// Fresh says the blobs put are new to the store but for a few: a
	// push's, whose git ids the store did not map. They are then written
	// without asking the store first; one it has gets the same content
	// again. Chunks are still looked up (see lookUp).
	Fresh bool
	// Unmapped says the store mapped no git object when this writer's
	// work began (HasGitObjects): no reverse entry of a tree or a state
	// is stored but those this writer writes. The first of those wins as
	// ever, decided in memory (wrote) instead of by asking the store about
	// each one. A reverse entry another writer puts meanwhile may then be
	// overwritten, as when two writers ask the store at the same moment:
	// the git id it records for an object is one of that object's git ids
	// either way. Commit and Abort end it: the writer asks again after.
	Unmapped bool
	// wrote holds the first-wins reverse entries an Unmapped writer's
	// writes stored (only those that succeeded).
	wrote map[string]bool

	splitter splitter // cuts large blobs

	// extra holds non-object operations (stat cache entries) that go into
	// the commit's batch.
	extra Batch
	// Actor is who the journal records for this writer's ref changes
	// (default: Options.Actor).
	Actor string
}

// NewWriter starts a write.
func (s *Store) NewWriter() *Writer {
	return &Writer{s: s, inBatch: map[ID]Kind{}, FlushBytes: 16 << 20, epoch: s.gcEpoch.Load()}
}

// has reports whether an object is stored or pending in this writer.
func (w *Writer) has(k Kind, id ID) (bool, error) {
	if pk, ok := w.inBatch[id]; ok && pk == k {
		return true, nil
	}
	return w.s.Has(k, id)
}

// touch records an object for gc and registers the writer with the store.
func (w *Writer) touch(k Kind, id ID) {
	w.mu.Lock()
	w.touched = append(w.touched, objRef{k, id})
	register := !w.registered
	w.registered = true
	w.mu.Unlock()
	if register {
		w.s.inflight.Store(w, struct{}{})
	}
}

// Keep tells the writer of an object it found stored and will link to
// without putting it (a push's object whose git id the store had mapped):
// gc keeps it and all it reaches until the writer commits or aborts, as it
// keeps what was put. An unreferenced object (an aborted push's) can still
// be collected between the lookup that found it and Keep, so when a gc
// has swept since the writer was made, its commit first checks that each
// kept object is still there, and fails if one is not. Keep may be called
// from another goroutine than the writer's.
func (w *Writer) Keep(k Kind, id ID) {
	w.mu.Lock()
	w.kept = append(w.kept, objRef{k, id})
	w.mu.Unlock()
	w.touch(k, id)
}

// checkKept runs under the store's write lock, before a commit's batch:
// see Keep.
func (w *Writer) checkKept() error {
	if w.s.gcEpoch.Load() == w.epoch {
		return nil
	}
	w.mu.Lock()
	kept := slices.Clone(w.kept)
	w.mu.Unlock()
	for _, r := range kept {
		if ok, err := w.has(r.kind, r.id); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%w: %v %v, which this write links to, was collected by a gc that ran meanwhile; write again", ErrNotFound, r.kind, r.id.Short())
		}
	}
	return nil
}

// done forgets the touched and kept objects once they are reachable from
// refs (or abandoned).
func (w *Writer) done() {
	w.mu.Lock()
	w.touched = w.touched[:0]
	w.kept = w.kept[:0]
	registered := w.registered
	w.registered = false
	w.mu.Unlock()
	w.epoch = w.s.gcEpoch.Load()
	if registered {
		w.s.inflight.Delete(w)
	}
	w.Unmapped, w.wrote = false, nil
}

// resetObjects forgets the pending objects (after they were written).
func (w *Writer) resetObjects() {
	clear(w.pending)
	w.pending = w.pending[:0]
	clear(w.inBatch)
	w.size = 0
}

// reset forgets everything, the commit's extra operations too.
func (w *Writer) reset() {
	w.resetObjects()
	w.extra.Reset()
}

// Abort drops what was not yet written and releases the objects already
// flushed to gc.
func (w *Writer) Abort() {
	_ = w.waitFlush()
	w.bgErr = nil
	w.reset()
	w.done()
}

// put queues an object; whether it is already stored is decided at write
// time, for all queued objects at once.
func (w *Writer) put(k Kind, id ID, value []byte) error {
	return w.putTree(k, id, value, nil)
}

func (w *Writer) putTree(k Kind, id ID, value []byte, t *Tree) error {
	return w.putObj(k, id, nil, value, t)
}

// putObj queues an object whose value is head followed by value (t: a
// tree's decoded form, for the cache).
func (w *Writer) putObj(k Kind, id ID, head, value []byte, t *Tree) error {
	w.touch(k, id)
	if _, ok := w.inBatch[id]; ok {
		return nil
	}
	if _, ok := w.s.cache.Get(k, id); ok {
		return nil // cached objects are stored
	}
	key := objectKey(k, id)
	if k == KindChunk && w.s.tiered(len(value)) {
		key = tierKey(id)
	}
	w.pending = append(w.pending, pendingObj{key: key, head: head, value: value, kind: k, id: id, tree: t})
	w.inBatch[id] = k
	w.size += 33 + len(head) + len(value)
	if w.size >= w.FlushBytes {
		if w.Background {
			return w.flushBackground()
		}
		return w.Flush()
	}
	return nil
}

// PutBlob stores content as a blob (chunked if large) and returns its ID.
// A large blob's chunks are slices of content, kept until they are
// written: the caller must not modify content before Flush or Commit.
func (w *Writer) PutBlob(content []byte) (ID, error) { return w.putBlob(content, false) }

// PutBlobOwned is PutBlob for content the caller hands over for good (a
// fresh buffer it never touches again): a small blob is then kept as it
// is, not copied behind its encoding byte. A push's blobs are most of its
// bytes, and a copy of each one cost more than a tenth of the server's
// time (fresh memory).
func (w *Writer) PutBlobOwned(content []byte) (ID, error) { return w.putBlob(content, true) }

func (w *Writer) putBlob(content []byte, owned bool) (ID, error) {
	id := w.s.hash.Sum(KindBlob, content)
	ch := w.s.settings.Chunking
	if len(content) < ch.Threshold {
		if owned {
			return id, w.putObj(KindBlob, id, inlineHead, content, nil)
		}
		v := make([]byte, 1+len(content))
		copy(v[1:], content)
		return id, w.put(KindBlob, id, v)
	}
	// A large blob that is already stored is not chunked again.
	if ok, err := w.has(KindBlob, id); err != nil || ok {
		w.Keep(KindBlob, id)
		return id, err
	}
	var chunks []ChunkRef
	err := ch.split(&w.splitter, content, func(c []byte) error {
		cid := w.s.hash.Sum(KindChunk, c)
		chunks = append(chunks, ChunkRef{ID: cid, Size: len(c)})
		return w.put(KindChunk, cid, c)
	})
	if err != nil {
		return id, err
	}
	return id, w.put(KindBlob, id, encodeChunkList(len(content), chunks))
}

// PutTree validates and stores a tree and returns its ID. The entries'
// objects must already be stored or put through this writer.
func (w *Writer) PutTree(t *Tree) (ID, error) {
	b, err := EncodeTree(t)
	if err != nil {
		return ZeroID, err
	}
	id := w.s.hash.Sum(KindTree, b)
	if err := w.putTree(KindTree, id, b, t); err != nil {
		return id, err
	}
	return id, nil
}

// PutState stores a state and returns its ID.
func (w *Writer) PutState(st *State) (ID, error) {
	b := EncodeState(st)
	id := w.s.hash.Sum(KindState, b)
	return id, w.put(KindState, id, b)
}

// batch turns the pending objects the store lacks into a KV batch: the
// commit's (which ends the writer's Unmapped, so it needs no wroteRevs).
func (w *Writer) batch(b *Batch) (objects int, err error) {
	objects, _, err = w.batchOf(w.pending, b)
	return objects, err
}

// batchOf is batch of a list of pending objects (a background flush's).
// revs are the first-wins reverse entries in b, for wroteRevs once b is
// written.
func (w *Writer) batchOf(pending []pendingObj, b *Batch) (objects int, revs map[string]bool, err error) {
	if len(pending) == 0 {
		return 0, nil, nil
	}
	var keys [][]byte
	var idx []int
	for i := range pending {
		if w.lookUp(&pending[i]) {
			keys = append(keys, pending[i].key)
			idx = append(idx, i)
		}
	}
	found := make([]bool, len(keys))
	switch mh, ok := w.s.kv.(MultiHaser); {
	case len(keys) == 0:
	case ok && len(keys) > 1:
		if found, err = mh.MultiHas(keys); err != nil {
			return 0, nil, err
		}
	default:
		for i, k := range keys {
			if found[i], err = w.s.kv.Has(k); err != nil {
				return 0, nil, err
			}
		}
	}
	present := make([]bool, len(pending))
	for j, i := range idx {
		present[i] = found[j]
	}
	var tiered []*pendingObj
	b.Grow(len(pending))
	for i := range pending {
		if present[i] {
			continue
		}
		// A first-wins reverse entry already in this batch, or written by
		// this Unmapped writer before: the first stays.
		if p := &pending[i]; firstWins(p) {
			if revs[string(p.key)] || w.Unmapped && w.wrote[string(p.key)] {
				continue
			}
			if revs == nil {
				revs = map[string]bool{}
			}
			revs[string(p.key)] = true
		}
		if pending[i].git == 0 {
			objects++
		}
		if p := &pending[i]; p.key[0] == prefixTierChunk {
			tiered = append(tiered, p)
		} else {
			b.PutParts(p.key, p.head, p.value)
		}
	}
	// Payloads go to the tier before the batch that records where they are.
	return objects, revs, w.s.appendTier(tiered, b)
}

// wroteRevs notes the first-wins reverse entries of a batch that was
// written, for an Unmapped writer's later batches.
func (w *Writer) wroteRevs(revs map[string]bool) {
	switch {
	case !w.Unmapped:
	case w.wrote == nil:
		w.wrote = revs
	default:
		maps.Copy(w.wrote, revs)
	}
}

// lookUp reports whether batchOf asks the KV for a pending entry before it
// writes it. Writing an entry again is harmless where it can only hold
// the same content (same key, same bytes), and a lookup (a miss through
// every table file level 0 holds in the middle of a push) costs more than
// the write; so only what dedup or first-wins needs is looked up:
//   - chunks: the point of chunking is that versions of a large blob
//     share them;
//   - blobs, unless the writer is Fresh (a large one was looked up before
//     it was chunked);
//   - reverse entries of trees and states, which keep the first git id
//     recorded where several git objects stand for one store object,
//     unless the writer is Unmapped (batchOf then knows the first).
//
// A new tree or state after an edit almost never exists already, and a
// blob's reverse entry can only ever hold its content's one SHA-1 id.
// (When SHA-256 ids live beside SHA-1 ones, a blob can have two, and its
// reverse entry is first-wins too.)
func (w *Writer) lookUp(p *pendingObj) bool {
	switch {
	case p.git == gitRevEntry:
		return firstWins(p) && !w.Unmapped
	case p.git != 0:
		return false
	case p.kind == KindChunk:
		return true
	case p.kind == KindBlob:
		return !w.Fresh
	}
	return false
}

// firstWins reports a reverse entry that keeps the first git id recorded
// (of a tree or a state, see lookUp).
func firstWins(p *pendingObj) bool { return p.git == gitRevEntry && p.kind != KindBlob }

// afterWrite puts freshly written trees into the L1 cache and updates the
// counters.
func (w *Writer) afterWrite(objects, bytes int) { w.afterWriteOf(w.pending, objects, bytes) }

func (w *Writer) afterWriteOf(pending []pendingObj, objects, bytes int) {
	w.s.stats.objectsWritten.Add(int64(objects))
	w.s.stats.bytesWritten.Add(int64(bytes))
	for i := range pending {
		if p := &pending[i]; p.tree != nil && !w.Uncached {
			w.s.cache.Add(KindTree, p.id, p.tree, treeCost(p.tree, len(p.value)))
		}
	}
}

// Flush writes the objects put so far. They are unreferenced until a ref
// reaches them.
func (w *Writer) Flush() error {
	if err := w.waitFlush(); err != nil {
		return err
	}
	if len(w.pending) == 0 {
		return nil
	}
	if err := w.write(w.pending, w.Tables); err != nil {
		return err
	}
	w.resetObjects()
	return nil
}

// write writes a list of pending objects, in up to tables table files
// (Batch.Tables).
func (w *Writer) write(pending []pendingObj, tables int) error {
	// Shared with other writers, exclusive of gc: gc sees all or none of it.
	w.s.gcMu.RLock()
	defer w.s.gcMu.RUnlock()
	b := Batch{Tables: tables}
	n, revs, err := w.batchOf(pending, &b)
	if err != nil {
		return err
	}
	if b.Len() > 0 {
		if err := w.writeObjects(&b); err != nil {
			return fmt.Errorf("objstore: write objects: %w", err)
		}
	}
	w.wroteRevs(revs)
	w.afterWriteOf(pending, n, b.Size())
	return nil
}

// StartFlush hands the pending objects to the background write now, when
// the writer is Background and they are a bulk load's worth (IngestBytes):
// for a caller that has just put the last objects others will refer to,
// and goes on working out those others (a push's commits, which come
// first but are stored last) while the table files are built. Smaller
// pending objects stay for the next Flush or Commit, which then writes
// them in one go instead of two.
func (w *Writer) StartFlush() error {
	if !w.Background || w.size < IngestBytes {
		return nil
	}
	return w.flushBackground()
}

// flushBackground hands the pending objects to a goroutine that writes
// them once the previous background flush is done, so that at most one
// batch is in flight and batches land in the order they were put.
func (w *Writer) flushBackground() error {
	if err := w.waitFlush(); err != nil {
		return err
	}
	pending := w.pending
	// The goroutine owns the old list now; the next one is the list the
	// last background flush is done with (a new one of a big push's
	// batches is a growing copy of tens of thousands of entries each
	// time).
	w.pending, w.spare = w.spare[:0], nil
	clear(w.inBatch)
	w.size = 0
	done := make(chan struct{})
	w.flushing = done
	tables := w.Tables
	go func() {
		defer close(done)
		w.bgErr = w.write(pending, tables)
		clear(pending) // let the values go
		w.spare = pending
	}()
	return nil
}

// waitFlush waits for the background flush in flight, if any, and returns
// the first error a background flush had (which stays: the objects it
// held are lost to this writer).
func (w *Writer) waitFlush() error {
	if w.flushing != nil {
		<-w.flushing
		w.flushing = nil
	}
	return w.bgErr
}

// IngestBytes is the batch size from which Flush hands objects to a KV that
// can ingest them (Ingester) instead of writing them through its log.
const IngestBytes = 4 << 20

// writeObjects writes a batch of objects: a big one by ingestion when the
// KV can, else as one Write.
func (w *Writer) writeObjects(b *Batch) error {
	if in, ok := w.s.kv.(Ingester); ok && b.Size() >= IngestBytes {
		return in.Ingest(b)
	}
	return w.s.kv.Write(b, w.s.opts.Durable)
}

// Commit writes the remaining objects and applies the ref updates in one
// atomic batch. Every ref's old value is checked under that ref's lock; a
// mismatch fails the whole batch with a *RefConflictError and moves no ref
// (objects already flushed stay, unreferenced, for gc). Commits that touch
// different refs run concurrently, so durable commits share fsyncs.
func (w *Writer) Commit(updates ...RefUpdate) error {
	return w.commit(updates, nil)
}

// commit is Commit with a hook that runs under the locks, after the refs
// are checked and before the batch is written (Draft uses it).
func (w *Writer) commit(updates []RefUpdate, locked func() error) error {
	if err := w.waitFlush(); err != nil {
		return err
	}
	s := w.s
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	// Resolve symbolic names first, then lock the refs' stripes in order.
	names := make([]string, len(updates))
	for i, u := range updates {
		name, err := s.resolveName(u.Name)
		if err != nil {
			return err
		}
		names[i] = name
	}
	unlock := s.lockRefs(names)
	defer unlock()
	if s.opts.Journal != nil {
		s.journal.mu.Lock()
		defer s.journal.mu.Unlock()
	}
	if err := w.checkKept(); err != nil {
		return err
	}
	if locked != nil {
		if err := locked(); err != nil {
			return err
		}
	}
	var b Batch
	seen := make(map[string]bool, len(updates))
	newVals := make([]ID, 0, len(updates))
	for i, u := range updates {
		name := names[i]
		if seen[name] {
			return fmt.Errorf("objstore: ref %q updated twice in one batch", name)
		}
		seen[name] = true
		cur, err := s.refValue(name)
		if err != nil {
			return err
		}
		if !u.IgnoreOld && cur != u.Old {
			return &RefConflictError{Name: name, Want: u.Old, Got: cur}
		}
		newVals = append(newVals, u.New)
		if u.New.IsZero() {
			b.Delete(refKey(name))
			continue
		}
		if ok, err := w.has(KindState, u.New); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%w: ref %q would point at missing state %v", ErrNotFound, name, u.New)
		}
		b.Put(refKey(name), encodeDirect(u.New))
	}
	var objs Batch
	n, err := w.batch(&objs)
	if err != nil {
		return err
	}
	journaled := false
	if j := s.opts.Journal; j != nil && len(updates) > 0 {
		changes := make([]RefChange, len(updates))
		for i, u := range updates {
			cur, _ := s.refValue(names[i])
			changes[i] = RefChange{Name: names[i], Old: cur, New: u.New}
		}
		actor := w.Actor
		if actor == "" {
			actor = s.opts.Actor
		}
		if err := j.Append(actor, changes, &b); err != nil {
			j.Done(err)
			return err
		}
		journaled = true
	}
	// Objects first in the batch: the order inside one atomic batch does not
	// matter for crashes, but it keeps the log readable.
	objs.ops = append(objs.ops, w.extra.ops...)
	objs.ops = append(objs.ops, b.ops...)
	objs.size += b.size + w.extra.size
	if objs.Len() > 0 {
		err := s.kv.Write(&objs, s.opts.Durable)
		if journaled {
			s.opts.Journal.Done(err)
		}
		if err != nil {
			// The refs' true values are unknown to the cache now.
			for _, name := range names {
				s.refCache.Delete(name)
			}
			return fmt.Errorf("objstore: commit: %w", err)
		}
	}
	for i, name := range names {
		s.refCache.Store(name, newVals[i])
	}
	s.stats.commits.Add(1)
	w.afterWrite(n, objs.Size())
	w.reset()
	w.done()
	return nil
}

// refStripes is the number of ref lock stripes.
const refStripes = 64

func stripeOf(name string) int {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * 16777619
	}
	return int(h % refStripes)
}

// lockRefs locks the stripes of names in ascending order (no deadlock
// between batches that share refs) and returns the unlock.
func (s *Store) lockRefs(names []string) func() {
	idx := make([]int, 0, len(names))
	for _, n := range names {
		idx = append(idx, stripeOf(n))
	}
	sort.Ints(idx)
	var held []int
	for i, x := range idx {
		if i > 0 && idx[i-1] == x {
			continue
		}
		s.refLocks[x].Lock()
		held = append(held, x)
	}
	return func() {
		for i := len(held) - 1; i >= 0; i-- {
			s.refLocks[held[i]].Unlock()
		}
	}
}

// refValue returns a direct ref's current value (zero if absent). The
// caller holds its stripe lock. This process is the store's only writer
// (the KV's lock sees to that), so values it read or wrote stay true.
func (s *Store) refValue(name string) (ID, error) {
	if v, ok := s.refCache.Load(name); ok {
		return v.(ID), nil
	}
	r, err := s.Ref(name)
	if errors.Is(err, ErrNotFound) {
		s.refCache.Store(name, ZeroID)
		return ZeroID, nil
	}
	if err != nil {
		return ZeroID, err
	}
	if r.IsSymbolic() {
		return ZeroID, fmt.Errorf("objstore: ref %q became symbolic", name)
	}
	s.refCache.Store(name, r.ID)
	return r.ID, nil
}

// resolveName follows symbolic refs to the direct ref an update moves.
func (s *Store) resolveName(name string) (string, error) {
	if err := ValidRefName(name); err != nil {
		return "", err
	}
	for i := 0; i < 5; i++ {
		r, err := s.Ref(name)
		if errors.Is(err, ErrNotFound) || err == nil && !r.IsSymbolic() {
			return name, nil
		}
		if err != nil {
			return "", err
		}
		name = r.Target
	}
	return "", fmt.Errorf("objstore: ref %q: symbolic refs nested too deep", name)
}
