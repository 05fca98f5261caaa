package objstore

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"sync"
)

var (
	_ KV          = (*MemKV)(nil)
	_ Snapshotter = (*MemKV)(nil)
	_ MultiHaser  = (*MemKV)(nil)
	_ Ingester    = (*MemKV)(nil)
)

// MemKV is an in-memory KV for unit tests of the layers above the engine. It
// keeps a sorted key slice, so writes are O(n); it is not for large data.
// Faults can be injected with FailWrites.
type MemKV struct {
	mu     sync.RWMutex
	keys   []string
	vals   map[string][]byte
	closed bool
	// writeErr, when set, is returned by every Write (fault injection).
	writeErr error
	// Writes counts successful Write calls (Ingest included); WriteBytes
	// their key+value bytes; Ingests the successful Ingest calls.
	Writes, WriteBytes, Ingests int64
}

// NewMemKV returns an empty in-memory KV.
func NewMemKV() *MemKV { return &MemKV{vals: map[string][]byte{}} }

// FailWrites makes every later Write fail with err (nil to stop failing).
func (m *MemKV) FailWrites(err error) {
	m.mu.Lock()
	m.writeErr = err
	m.mu.Unlock()
}

func (m *MemKV) Get(key []byte) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	v, ok := m.vals[string(key)]
	if !ok {
		return nil, fmt.Errorf("%w: key %q", ErrNotFound, key)
	}
	return clone(v), nil
}

func (m *MemKV) Has(key []byte) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return false, ErrClosed
	}
	_, ok := m.vals[string(key)]
	return ok, nil
}

func (m *MemKV) MultiHas(keys [][]byte) ([]bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	out := make([]bool, len(keys))
	for i, k := range keys {
		_, out[i] = m.vals[string(k)]
	}
	return out, nil
}

func (m *MemKV) Scan(prefix []byte, fn func(key, value []byte) error) error {
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return ErrClosed
	}
	// Copy the matching range so fn runs without the lock and sees a
	// consistent view even if another goroutine writes meanwhile.
	i := sort.SearchStrings(m.keys, string(prefix))
	var ks []string
	var vs [][]byte
	for ; i < len(m.keys) && bytes.HasPrefix([]byte(m.keys[i]), prefix); i++ {
		ks = append(ks, m.keys[i])
		vs = append(vs, m.vals[m.keys[i]])
	}
	m.mu.RUnlock()
	for j := range ks {
		if err := fn([]byte(ks[j]), vs[j]); err != nil {
			return err
		}
	}
	return nil
}

func (m *MemKV) Write(b *Batch, sync bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.writeErr != nil {
		return m.writeErr
	}
	for _, op := range b.ops {
		k := string(op.Key)
		_, exists := m.vals[k]
		if op.Delete {
			if exists {
				delete(m.vals, k)
				i := sort.SearchStrings(m.keys, k)
				m.keys = slices.Delete(m.keys, i, i+1)
			}
			continue
		}
		if !exists {
			i := sort.SearchStrings(m.keys, k)
			m.keys = slices.Insert(m.keys, i, k)
		}
		m.vals[k] = clone(op.Joined())
	}
	m.Writes++
	m.WriteBytes += int64(b.size)
	return nil
}

// Ingest is Write of a batch of puts (Ingester); it counts as a Write and
// fails like one.
func (m *MemKV) Ingest(b *Batch) error {
	for _, op := range b.ops {
		if op.Delete {
			return fmt.Errorf("objstore: ingest: batch holds a delete of %q", op.Key)
		}
	}
	if err := m.Write(b, true); err != nil {
		return err
	}
	m.mu.Lock()
	m.Ingests++
	m.mu.Unlock()
	return nil
}

func (m *MemKV) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// Snapshot copies the whole map: fine for tests, which is all MemKV is for.
func (m *MemKV) Snapshot() (KVReader, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	c := &MemKV{keys: slices.Clone(m.keys), vals: make(map[string][]byte, len(m.vals))}
	for k, v := range m.vals {
		c.vals[k] = v
	}
	return memSnapshot{c}, nil
}

type memSnapshot struct{ *MemKV }

func (s memSnapshot) Release() { s.MemKV.Close() }
