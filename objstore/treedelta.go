package objstore

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Tree deltas.
//
// A tree's ID always hashes its canonical encoding (tree.go), but what is
// stored under its key may instead be a delta against the tree it was made
// from: a one-line edit in a directory of 1,000 files then writes the
// changed entry (≈ 80 bytes) instead of the whole directory (≈ 45 KB). A
// draft writes a delta when it rewrites a directory it read from the store
// and the delta is less than half the full encoding; chains are at most
// maxTreeDepth deltas long, then a full encoding is written again. Reading
// applies the chain from the nearest full tree and checks the result
// against the ID, so a delta can no more lie than a full value can.
//
//	0x02                      delta format
//	32-byte base ID           the tree this one is a delta of
//	uvarint depth             1 + the base's depth (a full tree has depth 0)
//	uvarint n                 number of changes, names in ascending byte order
//	n × { code (1 byte: 0 removes the name, else the mode code of tree.go)
//	      uvarint len, name bytes
//	      32-byte ID, for a non-zero code }
//
// gc keeps a delta's base (and the base's base) as long as the delta lives,
// without keeping what the base links to; fsck checks a delta by rebuilding
// the tree.
const treeDeltaFormat = 2

const (
	// maxTreeDepth bounds a delta chain, and so the reads behind a tree.
	maxTreeDepth = 16
	// minDeltaTree is the smallest full encoding worth a delta.
	minDeltaTree = 256
)

// kindTreeBase marks, in gc's and fsck's walks, a tree kept only as the
// base of a delta (its value, not what it links to).
const kindTreeBase Kind = 101

// treeDepths remembers the chain depth of trees read or written lately, so
// that a draft need not read a base's value again to know it.
type treeDepths struct {
	mu sync.Mutex
	m  map[ID]uint8
}

const maxTreeDepths = 1 << 16

func (d *treeDepths) get(id ID) (int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.m[id]
	return int(v), ok
}

func (d *treeDepths) set(id ID, depth int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil || len(d.m) >= maxTreeDepths {
		d.m = make(map[ID]uint8)
	}
	d.m[id] = uint8(depth)
}

// treeDepth returns the chain depth of the stored tree id.
func (s *Store) treeDepth(id ID) (int, error) {
	if d, ok := s.depths.get(id); ok {
		return d, nil
	}
	v, err := s.get(KindTree, id)
	if err != nil {
		return 0, err
	}
	d := 0
	if len(v) > 0 && v[0] == treeDeltaFormat {
		_, d, _, err = parseDeltaHeader(v)
		if err != nil {
			return 0, &CorruptError{KindTree, id, fmt.Errorf("%w: %w", ErrCorrupt, err)}
		}
	}
	s.depths.set(id, d)
	return d, nil
}

// encodeTreeDelta returns the delta that turns base (entries old, chain
// depth baseDepth) into entries new, or nil when a full encoding of size
// full is the better value.
func encodeTreeDelta(base ID, baseDepth int, old, new []Entry, full int) []byte {
	if full < minDeltaTree || baseDepth+1 > maxTreeDepth {
		return nil
	}
	type change struct {
		name string
		e    *Entry // nil: removed
	}
	var changes []change
	oldBy := make(map[string]int, len(old))
	for i := range old {
		oldBy[old[i].Name] = i
	}
	seen := 0
	for i := range new {
		e := &new[i]
		if j, ok := oldBy[e.Name]; ok {
			seen++
			if old[j].Mode == e.Mode && old[j].ID == e.ID {
				continue
			}
		}
		changes = append(changes, change{e.Name, e})
	}
	if seen < len(old) {
		newBy := make(map[string]bool, len(new))
		for i := range new {
			newBy[new[i].Name] = true
		}
		for i := range old {
			if !newBy[old[i].Name] {
				changes = append(changes, change{old[i].Name, nil})
			}
		}
	}
	// Byte order of names: unique (a tree's names are unique), and so one
	// encoding per change set.
	slices.SortFunc(changes, func(a, b change) int { return strings.Compare(a.name, b.name) })
	size := 1 + 32 + 2 + binary.MaxVarintLen64
	for _, c := range changes {
		size += 1 + 2 + len(c.name) + 32
	}
	if size*2 > full {
		return nil
	}
	b := make([]byte, 0, size)
	b = append(b, treeDeltaFormat)
	b = append(b, base[:]...)
	b = binary.AppendUvarint(b, uint64(baseDepth+1))
	b = binary.AppendUvarint(b, uint64(len(changes)))
	for _, c := range changes {
		code := byte(0)
		if c.e != nil {
			code, _ = modeCode(c.e.Mode)
		}
		b = append(b, code)
		b = binary.AppendUvarint(b, uint64(len(c.name)))
		b = append(b, c.name...)
		if c.e != nil {
			b = append(b, c.e.ID[:]...)
		}
	}
	if len(b)*2 > full {
		return nil
	}
	return b
}

// parseDeltaHeader reads a delta's base and depth, and returns the rest.
func parseDeltaHeader(v []byte) (base ID, depth int, rest []byte, err error) {
	if len(v) < 1+32 || v[0] != treeDeltaFormat {
		return base, 0, nil, fmt.Errorf("%w: truncated delta", ErrBadTree)
	}
	copy(base[:], v[1:33])
	p := 33
	d, w := binary.Uvarint(v[p:])
	if w <= 0 || !canonVarint(v[p:], w) || d == 0 || d > maxTreeDepth {
		return base, 0, nil, fmt.Errorf("%w: bad delta depth", ErrBadTree)
	}
	return base, int(d), v[p+w:], nil
}

// deltaBase returns the base a stored tree value is a delta of (zero for a
// full encoding or a value too broken to say).
func deltaBase(v []byte) ID {
	if len(v) == 0 || v[0] != treeDeltaFormat {
		return ZeroID
	}
	base, _, _, err := parseDeltaHeader(v)
	if err != nil {
		return ZeroID
	}
	return base
}

// applyTreeDelta applies the changes in rest to base's entries.
func applyTreeDelta(base []Entry, rest []byte) ([]Entry, error) {
	n, w := binary.Uvarint(rest)
	if w <= 0 || !canonVarint(rest, w) || n > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: bad delta change count", ErrBadTree)
	}
	p := w
	out := make([]Entry, 0, len(base)+int(n))
	removed := map[string]bool{}
	changed := map[string]Entry{}
	prev := ""
	for i := uint64(0); i < n; i++ {
		if p >= len(rest) {
			return nil, fmt.Errorf("%w: truncated delta", ErrBadTree)
		}
		code := rest[p]
		p++
		if int(code) >= len(modeCodes) {
			return nil, fmt.Errorf("%w: bad mode code %d in delta", ErrBadTree, code)
		}
		l, w := binary.Uvarint(rest[p:])
		if w <= 0 || !canonVarint(rest[p:], w) || l > uint64(len(rest)-p-w) {
			return nil, fmt.Errorf("%w: truncated delta name", ErrBadTree)
		}
		p += w
		name := string(rest[p : p+int(l)])
		p += int(l)
		if i > 0 && name <= prev {
			return nil, fmt.Errorf("%w: delta names out of order", ErrBadTree)
		}
		// The names a full tree may hold (DecodeTree): a delta must not
		// add an empty name, "..", or one with '/' or NUL.
		if err := ValidName(name); err != nil {
			return nil, fmt.Errorf("%w: delta: %w", ErrBadTree, err)
		}
		prev = name
		if code == 0 {
			removed[name] = true
			continue
		}
		if len(rest)-p < 32 {
			return nil, fmt.Errorf("%w: truncated delta id", ErrBadTree)
		}
		e := Entry{Name: name, Mode: modeCodes[code]}
		copy(e.ID[:], rest[p:p+32])
		p += 32
		changed[name] = e
	}
	if p != len(rest) {
		return nil, fmt.Errorf("%w: %d trailing bytes in delta", ErrBadTree, len(rest)-p)
	}
	for _, e := range base {
		if removed[e.Name] {
			delete(removed, e.Name)
			continue
		}
		if c, ok := changed[e.Name]; ok {
			e = c
			delete(changed, e.Name)
		}
		out = append(out, e)
	}
	if len(removed) > 0 {
		return nil, fmt.Errorf("%w: delta removes a name its base lacks", ErrBadTree)
	}
	for _, e := range changed {
		out = append(out, e)
	}
	SortEntries(out)
	return out, nil
}

// treeFromValue decodes the stored value v of tree id, applying a delta to
// its base (read through the L1 cache when cached is set, else from the KV
// alone, as fsck does), and checks the result against id. A base must be
// shallower than the delta that names it, so a chain always ends.
func (s *Store) treeFromValue(id ID, v []byte, cached bool, maxDepth int) (*Tree, int, error) {
	corrupt := func(err error) error { return &CorruptError{KindTree, id, fmt.Errorf("%w: %w", ErrCorrupt, err)} }
	if len(v) > 0 && v[0] == treeDeltaFormat {
		base, depth, rest, err := parseDeltaHeader(v)
		if err != nil {
			return nil, 0, corrupt(err)
		}
		if depth > maxDepth {
			return nil, 0, corrupt(fmt.Errorf("%w: delta chain deeper than its place allows", ErrBadTree))
		}
		var bt *Tree
		if c, ok := s.cache.Get(KindTree, base); ok && cached {
			bt = c.(*Tree)
		} else {
			bv, err := s.get(KindTree, base)
			if err != nil {
				return nil, 0, corrupt(fmt.Errorf("delta base %v: %w", base.Short(), err))
			}
			if bt, _, err = s.treeFromValue(base, bv, cached, depth-1); err != nil {
				return nil, 0, err
			}
		}
		entries, err := applyTreeDelta(bt.Entries, rest)
		if err != nil {
			return nil, 0, corrupt(err)
		}
		t := &Tree{Entries: entries}
		full, err := EncodeTree(t)
		if err != nil {
			return nil, 0, corrupt(err)
		}
		if got := s.hash.Sum(KindTree, full); got != id {
			return nil, 0, corrupt(fmt.Errorf("delta rebuilds a tree that hashes to %v", got.Short()))
		}
		if cached {
			s.cache.Add(KindTree, id, t, treeCost(t, len(full)))
		}
		s.depths.set(id, depth)
		return t, depth, nil
	}
	if got := s.hash.Sum(KindTree, v); got != id {
		return nil, 0, &CorruptError{KindTree, id, fmt.Errorf("%w: hashes to %v", ErrCorrupt, got.Short())}
	}
	t, err := DecodeTree(v)
	if err != nil {
		return nil, 0, corrupt(err)
	}
	if cached {
		s.cache.Add(KindTree, id, t, treeCost(t, len(v)))
	}
	s.depths.set(id, 0)
	return t, 0, nil
}

// PutTreeFrom stores t like PutTree, as a delta against base (a stored
// tree t was made from, zero for none) when that is much smaller. It
// returns t's ID and the base the stored value depends on (zero if none).
func (w *Writer) PutTreeFrom(t *Tree, base ID) (ID, ID, error) {
	b, err := EncodeTree(t)
	if err != nil {
		return ZeroID, ZeroID, err
	}
	id := w.s.hash.Sum(KindTree, b)
	if base.IsZero() || base == id || len(b) < minDeltaTree {
		return id, ZeroID, w.putTree(KindTree, id, b, t)
	}
	bt, err := w.s.Tree(base)
	if err != nil {
		return id, ZeroID, err
	}
	depth, err := w.s.treeDepth(base)
	if err != nil {
		return id, ZeroID, err
	}
	delta := encodeTreeDelta(base, depth, bt.Entries, t.Entries, len(b))
	if delta == nil {
		return id, ZeroID, w.putTree(KindTree, id, b, t)
	}
	w.s.depths.set(id, depth+1)
	return id, base, w.putTree(KindTree, id, delta, t)
}
