package objstore

import (
	"errors"
	"fmt"
	"sync"
)

type objRef struct {
	kind Kind
	id   ID
}

// Writer stores objects and then moves refs to them. Objects go into a KV
// batch that is written when it grows past a size (objects before anything
// that refers to them, so a partly written push leaves only unreferenced
// objects behind); Commit writes the rest and the ref updates in one atomic
// batch. A Writer is for one goroutine.
type Writer struct {
	s *Store
	// touched holds every object this writer put or found already stored,
	// from its first put until Commit or Abort; gc keeps them and all they
	// reach (see Store.GC). mu guards touched against gc reading it.
	mu         sync.Mutex
	touched    []objRef
	registered bool
	b          Batch
	pending    map[ID]Kind // objects in b, not yet written
	objects    int
	// FlushBytes is the batch size at which objects are written early.
	FlushBytes int
}

// NewWriter starts a write.
func (s *Store) NewWriter() *Writer {
	return &Writer{s: s, pending: map[ID]Kind{}, FlushBytes: 16 << 20}
}

// has reports whether an object is stored or pending in this writer.
func (w *Writer) has(k Kind, id ID) (bool, error) {
	if pk, ok := w.pending[id]; ok && pk == k {
		return true, nil
	}
	return w.s.Has(k, id)
}

// touch records an object for gc and registers the writer with the store.
func (w *Writer) touch(k Kind, id ID) {
	w.mu.Lock()
	w.touched = append(w.touched, objRef{k, id})
	w.mu.Unlock()
	if !w.registered {
		w.registered = true
		w.s.inflight.Store(w, struct{}{})
	}
}

// done forgets the touched objects once they are reachable from refs (or
// abandoned).
func (w *Writer) done() {
	w.mu.Lock()
	w.touched = w.touched[:0]
	w.mu.Unlock()
	if w.registered {
		w.registered = false
		w.s.inflight.Delete(w)
	}
}

// Abort drops what was not yet written and releases the objects already
// flushed to gc.
func (w *Writer) Abort() {
	w.b.Reset()
	clear(w.pending)
	w.objects = 0
	w.done()
}

// put adds an object unless it is already stored.
func (w *Writer) put(k Kind, id ID, value []byte) error {
	w.touch(k, id)
	ok, err := w.has(k, id)
	if err != nil || ok {
		return err
	}
	w.b.Put(objectKey(k, id), value)
	w.pending[id] = k
	w.objects++
	if w.b.Size() >= w.FlushBytes {
		return w.Flush()
	}
	return nil
}

// PutBlob stores content as a blob (chunked if large) and returns its ID.
func (w *Writer) PutBlob(content []byte) (ID, error) {
	id := w.s.hash.Sum(KindBlob, content)
	ok, err := w.has(KindBlob, id)
	if err != nil || ok {
		w.touch(KindBlob, id)
		return id, err
	}
	ch := w.s.settings.Chunking
	if len(content) < ch.Threshold {
		v := make([]byte, 1+len(content))
		copy(v[1:], content)
		return id, w.put(KindBlob, id, v)
	}
	var chunks []ChunkRef
	err = ch.split(content, func(c []byte) error {
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
	if err := w.put(KindTree, id, b); err != nil {
		return id, err
	}
	w.s.cache.Add(KindTree, id, t, treeCost(t, len(b)))
	return id, nil
}

// PutState stores a state and returns its ID.
func (w *Writer) PutState(st *State) (ID, error) {
	b := EncodeState(st)
	id := w.s.hash.Sum(KindState, b)
	return id, w.put(KindState, id, b)
}

// Flush writes the objects put so far. They are unreferenced until a ref
// reaches them.
func (w *Writer) Flush() error {
	if w.b.Len() == 0 {
		return nil
	}
	// Under the write lock, so that gc sees either none or all of it.
	w.s.writeMu.Lock()
	defer w.s.writeMu.Unlock()
	if err := w.s.kv.Write(&w.b, w.s.opts.Durable); err != nil {
		return fmt.Errorf("objstore: write objects: %w", err)
	}
	w.s.stats.objectsWritten.Add(int64(w.objects))
	w.s.stats.bytesWritten.Add(int64(w.b.Size()))
	w.b.Reset()
	clear(w.pending)
	w.objects = 0
	return nil
}

// Commit writes the remaining objects and applies the ref updates in one
// atomic batch. Every ref's old value is checked under the store's write
// lock; a mismatch fails the whole batch with a *RefConflictError and moves
// no ref (objects already flushed stay, unreferenced, for gc).
func (w *Writer) Commit(updates ...RefUpdate) error {
	return w.commit(updates, nil)
}

// commit is Commit with a hook that runs under the write lock, after the
// refs are checked and before the batch is written (Draft uses it).
func (w *Writer) commit(updates []RefUpdate, locked func() error) error {
	s := w.s
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if locked != nil {
		if err := locked(); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for _, u := range updates {
		name, cur, err := s.resolveForUpdate(u.Name)
		if err != nil {
			return err
		}
		if seen[name] {
			return fmt.Errorf("objstore: ref %q updated twice in one batch", name)
		}
		seen[name] = true
		if !u.IgnoreOld && cur != u.Old {
			return &RefConflictError{Name: name, Want: u.Old, Got: cur}
		}
		if u.New.IsZero() {
			w.b.Delete(refKey(name))
			continue
		}
		if ok, err := w.has(KindState, u.New); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%w: ref %q would point at missing state %v", ErrNotFound, name, u.New)
		}
		w.b.Put(refKey(name), encodeDirect(u.New))
	}
	if w.b.Len() == 0 {
		w.done()
		return nil
	}
	if err := s.kv.Write(&w.b, s.opts.Durable); err != nil {
		return fmt.Errorf("objstore: commit: %w", err)
	}
	w.done()
	s.stats.commits.Add(1)
	s.stats.objectsWritten.Add(int64(w.objects))
	s.stats.bytesWritten.Add(int64(w.b.Size()))
	w.b.Reset()
	clear(w.pending)
	w.objects = 0
	return nil
}

// resolveForUpdate follows a symbolic ref to the direct ref an update moves
// and returns that ref's current value (zero if absent).
func (s *Store) resolveForUpdate(name string) (string, ID, error) {
	if err := ValidRefName(name); err != nil {
		return "", ZeroID, err
	}
	for i := 0; i < 5; i++ {
		r, err := s.Ref(name)
		if errors.Is(err, ErrNotFound) {
			return name, ZeroID, nil
		}
		if err != nil {
			return "", ZeroID, err
		}
		if !r.IsSymbolic() {
			return name, r.ID, nil
		}
		name = r.Target
	}
	return "", ZeroID, fmt.Errorf("objstore: ref %q: symbolic refs nested too deep", name)
}
