package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/helios-vcs/helios/nvme"
)

// marker walks the object graph from roots and records what it reaches.
// With verify it reads every object from the KV (never the cache), checks
// it against its ID and decodes it, and reports problems instead of failing.
type marker struct {
	s        *Store
	verify   bool
	seen     map[objRef]bool
	problems []Problem
	counts   map[Kind]int
	ctx      context.Context
}

// Problem is one thing fsck found wrong.
type Problem struct {
	Kind Kind   `json:"-"`
	ID   ID     `json:"id"`
	Ref  string `json:"ref,omitempty"`
	Path string `json:"path,omitempty"`
	Err  string `json:"error"`
}

func (p Problem) String() string {
	where := ""
	if p.Ref != "" {
		where += " (ref " + p.Ref + ")"
	}
	if p.Path != "" {
		where += " (path " + p.Path + ")"
	}
	if p.ID.IsZero() {
		return p.Err + where
	}
	return fmt.Sprintf("%v %v%s: %s", p.Kind, p.ID.Short(), where, p.Err)
}

func newMarker(ctx context.Context, s *Store, verify bool) *marker {
	return &marker{s: s, verify: verify, seen: map[objRef]bool{}, counts: map[Kind]int{}, ctx: ctx}
}

func (m *marker) problem(k Kind, id ID, path string, err error) {
	m.problems = append(m.problems, Problem{Kind: k, ID: id, Path: path, Err: err.Error()})
}

// first reports whether (k, id) is new to the walk, and marks it.
func (m *marker) first(k Kind, id ID) bool {
	r := objRef{k, id}
	if m.seen[r] {
		return false
	}
	m.seen[r] = true
	m.counts[k]++
	return true
}

// raw reads an object's value, verifying its hash when m.verify.
func (m *marker) raw(k Kind, id ID, path string) ([]byte, bool) {
	v, err := m.s.get(k, id)
	if errors.Is(err, ErrNotFound) && k == KindChunk && m.s.tier != nil {
		v, err = m.s.readTierChunk(id)
	}
	if err != nil {
		m.problem(k, id, path, fmt.Errorf("missing: %w", err))
		return nil, false
	}
	if m.verify && k != KindBlob { // a blob's ID hashes its content, checked in markBlob
		if got := m.s.hash.Sum(k, v); got != id {
			m.problem(k, id, path, fmt.Errorf("%w: hashes to %v", ErrCorrupt, got.Short()))
			return nil, false
		}
	}
	return v, true
}

func (m *marker) markState(id ID) error {
	for stack := []ID{id}; len(stack) > 0; {
		if err := m.ctx.Err(); err != nil {
			return err
		}
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !m.first(KindState, id) {
			continue
		}
		v, ok := m.raw(KindState, id, "")
		if !ok {
			continue
		}
		st, err := DecodeState(v)
		if err != nil {
			m.problem(KindState, id, "", err)
			continue
		}
		if err := m.markTree(st.Root, ""); err != nil {
			return err
		}
		stack = append(stack, st.Parents...)
	}
	return nil
}

// markBases keeps the chain of trees a delta value v is built on: their
// values only, not what they link to (see treedelta.go).
func (m *marker) markBases(v []byte, path string) {
	for base := deltaBase(v); !base.IsZero(); base = deltaBase(v) {
		r := objRef{kindTreeBase, base}
		if m.seen[r] {
			return
		}
		m.seen[r] = true
		var err error
		if v, err = m.s.get(KindTree, base); err != nil {
			m.problem(KindTree, base, path, fmt.Errorf("delta base missing: %w", err))
			return
		}
	}
}

func (m *marker) markTree(id ID, path string) error {
	if !m.first(KindTree, id) {
		return nil
	}
	if err := m.ctx.Err(); err != nil {
		return err
	}
	// Verifying reads the value from the KV alone (a delta's bases too);
	// either way the bases of a delta are kept with it.
	v, err := m.s.get(KindTree, id)
	if err != nil {
		m.problem(KindTree, id, path, fmt.Errorf("missing: %w", err))
		return nil
	}
	var t *Tree
	if m.verify {
		t, _, err = m.s.treeFromValue(id, v, false, maxTreeDepth)
	} else {
		t, err = m.s.Tree(id)
	}
	if err != nil {
		m.problem(KindTree, id, path, err)
		return nil
	}
	m.markBases(v, path)
	for _, e := range t.Entries {
		p := join(path, e.Name)
		switch {
		case e.Mode.IsDir():
			if err := m.markTree(e.ID, p); err != nil {
				return err
			}
		case e.Mode.IsBlob():
			m.markBlob(e.ID, p)
		}
	}
	return nil
}

func (m *marker) markBlob(id ID, path string) {
	if !m.first(KindBlob, id) {
		return
	}
	v, ok := m.raw(KindBlob, id, path)
	if !ok {
		return
	}
	if len(v) > 0 && v[0] == blobInline {
		if m.verify {
			if got := m.s.hash.Sum(KindBlob, v[1:]); got != id {
				m.problem(KindBlob, id, path, fmt.Errorf("%w: hashes to %v", ErrCorrupt, got.Short()))
			}
		}
		return
	}
	_, chunks, err := decodeChunkList(v)
	if err != nil {
		m.problem(KindBlob, id, path, err)
		return
	}
	var h = m.s.hash.newStream(KindBlob)
	good := true
	for _, c := range chunks {
		fresh := m.first(KindChunk, c.ID)
		if !m.verify {
			continue
		}
		// Chunks shared by blobs are read once per blob: the blob's own
		// hash needs every byte.
		cb, ok := m.raw(KindChunk, c.ID, path)
		if !ok {
			good = false
			continue
		}
		if len(cb) != c.Size && fresh {
			m.problem(KindChunk, c.ID, path, fmt.Errorf("%w: size %d, list says %d", ErrCorrupt, len(cb), c.Size))
			good = false
		}
		h.Write(cb)
	}
	got := m.s.hash.doneStream(KindBlob, h)
	if m.verify && good && got != id {
		m.problem(KindBlob, id, path, fmt.Errorf("%w: chunks hash to %v", ErrCorrupt, got.Short()))
	}
}

// markRefs marks from every ref, reporting refs that are malformed or
// point at nothing.
func (m *marker) markRefs() (int, error) {
	refs, err := m.s.kvRefs()
	if err != nil {
		return 0, err
	}
	for _, r := range refs {
		if r.err != nil {
			m.problems = append(m.problems, Problem{Ref: r.name, Err: r.err.Error()})
			continue
		}
		if r.ref.IsSymbolic() {
			if _, _, err := m.s.Resolve(r.name); err != nil && r.name != "HEAD" {
				m.problems = append(m.problems, Problem{Ref: r.name, Err: "dangling symbolic ref: " + err.Error()})
			}
			continue
		}
		before := len(m.problems)
		if err := m.markState(r.ref.ID); err != nil {
			return 0, err
		}
		for i := before; i < len(m.problems); i++ {
			if m.problems[i].Ref == "" {
				m.problems[i].Ref = r.name
			}
		}
	}
	return len(refs), nil
}

type rawRef struct {
	name string
	ref  Ref
	err  error
}

func (s *Store) kvRefs() ([]rawRef, error) {
	var out []rawRef
	err := s.kv.Scan([]byte{prefixRef}, func(k, v []byte) error {
		name := string(k[1:])
		r, err := decodeRef(name, v)
		if err == nil {
			err = ValidRefName(name)
		}
		out = append(out, rawRef{name, r, err})
		return nil
	})
	return out, err
}

// GCReport says what a collection did.
type GCReport struct {
	Reachable    map[string]int `json:"reachable"`
	Deleted      map[string]int `json:"deleted"`
	DeletedBytes int64          `json:"deleted_bytes"`
	StaleStats   int            `json:"stale_stat_entries"`
	// GitEntries counts git mapping entries deleted with their objects.
	GitEntries int `json:"git_entries_deleted"`
	// Tier is what compacting the block tier did (nil without a tier).
	Tier *nvme.CompactStats `json:"tier,omitempty"`
}

// GC deletes every object that no ref reaches, except objects that a write
// in progress in this process has put or linked to (they become reachable
// when it commits). It holds the store's write lock throughout, so commits
// wait for it, and it bumps an epoch that makes open Drafts re-check their
// links. Readers holding a KV snapshot, and other processes with a
// read-only instance, keep seeing what they saw (see objstore/rocksdb).
// With compact, the KV is compacted afterwards to return the space.
func (s *Store) GC(ctx context.Context, compact bool) (*GCReport, error) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	m := newMarker(ctx, s, false)
	if _, err := m.markRefs(); err != nil {
		return nil, err
	}
	if len(m.problems) > 0 {
		return nil, fmt.Errorf("objstore: gc refused: the store has problems, run fsck (first: %v)", m.problems[0])
	}
	var inflightErr error
	s.inflight.Range(func(key, _ any) bool {
		w := key.(*Writer)
		w.mu.Lock()
		touched := append([]objRef(nil), w.touched...)
		w.mu.Unlock()
		for _, r := range touched {
			switch r.kind {
			case KindState:
				inflightErr = m.markState(r.id)
			case KindTree:
				inflightErr = m.markTree(r.id, "")
			case KindBlob:
				m.markBlob(r.id, "")
			case KindChunk:
				m.first(KindChunk, r.id)
			}
			if inflightErr != nil {
				return false
			}
		}
		return true
	})
	if inflightErr != nil {
		return nil, inflightErr
	}
	// Objects an in-flight writer has not flushed yet are not in the KV and
	// may show up as "missing" to the walk: that is fine, they are kept.
	rep := &GCReport{Reachable: map[string]int{}, Deleted: map[string]int{}}
	for k, n := range m.counts {
		rep.Reachable[k.String()] = n
	}
	var b Batch
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		err := s.kv.Write(&b, s.opts.Durable)
		b.Reset()
		return err
	}
	type space struct {
		kind   Kind
		prefix byte
	}
	for _, sp := range []space{{KindState, prefixState}, {KindTree, prefixTree}, {KindBlob, prefixBlob}, {KindChunk, prefixChunk}, {KindChunk, prefixTierChunk}} {
		k := sp.kind
		var dead []ID
		err := s.kv.Scan([]byte{sp.prefix}, func(key, v []byte) error {
			if len(key) != 33 {
				return nil
			}
			var id ID
			copy(id[:], key[1:])
			if !m.seen[objRef{k, id}] && (k != KindTree || !m.seen[objRef{kindTreeBase, id}]) {
				dead = append(dead, id)
				rep.DeletedBytes += int64(len(key) + len(v))
			}
			return ctx.Err()
		})
		if err != nil {
			return nil, err
		}
		for _, id := range dead {
			key := objectKey(k, id)
			key[0] = sp.prefix
			b.Delete(key)
			s.cache.Remove(k, id)
			if b.Len() >= 10000 {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		}
		rep.Deleted[k.String()] += len(dead)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if err := s.sweepGitMap(m, &b, flush, rep); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if s.tier != nil {
		cs, err := s.compactTier()
		if err != nil {
			return nil, fmt.Errorf("objstore: tier compaction: %w", err)
		}
		rep.Tier = &cs
	}
	s.gcEpoch.Add(1)
	if c, ok := s.kv.(Compactor); ok && compact {
		if err := c.Flush(); err != nil {
			return rep, err
		}
		if err := c.Compact(); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// sweepGitMap deletes git mapping entries ('g' 'o' and 'g' 'i', see
// gitmap.go) whose store object gc just deleted. Tag entries map to no store
// object and stay; ref entries go with their refs.
func (s *Store) sweepGitMap(m *marker, b *Batch, flush func() error, rep *GCReport) error {
	var dead [][]byte
	err := s.kv.Scan([]byte{prefixGit, gitObjectKey}, func(key, v []byte) error {
		if len(v) < 34 {
			return nil
		}
		k := GitType(v[1]).StoreKind()
		if k == 0 {
			return nil
		}
		var id ID
		copy(id[:], v[2:34])
		if !m.seen[objRef{k, id}] {
			dead = append(dead, bytes.Clone(key))
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = s.kv.Scan([]byte{prefixGit, gitReverseKey}, func(key, v []byte) error {
		if len(key) != 3+32 {
			return nil
		}
		var id ID
		copy(id[:], key[3:])
		if !m.seen[objRef{Kind(key[2]), id}] {
			dead = append(dead, bytes.Clone(key))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range dead {
		b.Delete(k)
		if b.Len() >= 10000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	rep.GitEntries = len(dead)
	return nil
}
