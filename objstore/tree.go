package objstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Mode is a tree entry's type and permission, with git's values.
type Mode uint32

const (
	ModeFile    Mode = 0o100644
	ModeExec    Mode = 0o100755
	ModeSymlink Mode = 0o120000
	ModeDir     Mode = 0o040000
	ModeGitlink Mode = 0o160000
)

// modeCodes are the one-byte codes of the tree encoding.
var modeCodes = [...]Mode{1: ModeFile, 2: ModeExec, 3: ModeSymlink, 4: ModeDir, 5: ModeGitlink}

func modeCode(m Mode) (byte, bool) {
	for c, v := range modeCodes {
		if c != 0 && v == m {
			return byte(c), true
		}
	}
	return 0, false
}

// Valid reports whether m is one of the five modes git writes.
func (m Mode) Valid() bool { _, ok := modeCode(m); return ok }

// IsDir reports whether m is a directory.
func (m Mode) IsDir() bool { return m == ModeDir }

// IsBlob reports whether entries of mode m point at blobs (files, symlinks).
func (m Mode) IsBlob() bool { return m == ModeFile || m == ModeExec || m == ModeSymlink }

func (m Mode) String() string { return fmt.Sprintf("%06o", uint32(m)) }

// Entry is one name in a tree. For ModeGitlink, ID holds the submodule
// commit's git object id left-aligned (20 bytes of SHA-1, or 32 of SHA-256)
// and zero-padded: it names nothing in this store.
type Entry struct {
	Name string
	Mode Mode
	ID   ID
}

// Tree is a directory: entries in git's order (see entryLess). Trees handed
// out by the store are shared and must not be modified.
type Tree struct {
	Entries []Entry
}

// Find returns the entry called name and whether it exists.
func (t *Tree) Find(name string) (Entry, bool) {
	i, ok := t.search(name)
	if !ok {
		return Entry{}, false
	}
	return t.Entries[i], true
}

// search finds name by binary search. Git's order puts "a" (a dir, compared
// as "a/") after "a.txt"; a name is either a dir or not, so try both keys.
func (t *Tree) search(name string) (int, bool) {
	for _, isDir := range [2]bool{false, true} {
		i := sort.Search(len(t.Entries), func(i int) bool {
			e := t.Entries[i]
			return !entryLessNames(e.Name, e.Mode.IsDir(), name, isDir)
		})
		if i < len(t.Entries) && t.Entries[i].Name == name {
			return i, true
		}
	}
	return 0, false
}

// hasFileNamed reports whether sorted entries hold a non-directory called
// name: a file and a directory of one name sort apart ("a" < "a.txt" < "a/").
func hasFileNamed(es []Entry, name string) bool {
	t := Tree{Entries: es}
	i, ok := t.search(name)
	return ok && !es[i].Mode.IsDir()
}

// entryLessNames is git's tree order: names compared bytewise, with a
// directory's name compared as if it ended in '/'.
func entryLessNames(a string, aDir bool, b string, bDir bool) bool {
	n := min(len(a), len(b))
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c < 0
	}
	ca, cb := terminator(a, n, aDir), terminator(b, n, bDir)
	return ca < cb
}

func terminator(s string, n int, dir bool) int {
	if n < len(s) {
		return int(s[n])
	}
	if dir {
		return '/'
	}
	return 0 // end of a file name sorts first
}

// SortEntries puts entries in git's order.
func SortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool {
		return entryLessNames(es[i].Name, es[i].Mode.IsDir(), es[j].Name, es[j].Mode.IsDir())
	})
}

// Tree encoding (the value under key 't'+ID, and what the ID hashes):
//
//	0x01                     format version
//	uvarint n                number of entries
//	n × { mode code (1 byte: 1 file, 2 exec, 3 symlink, 4 dir, 5 gitlink)
//	      uvarint len, name bytes
//	      32-byte ID }
//
// Entries are in git's order with unique names, so a tree has one encoding.
const treeFormat = 1

// ErrBadTree is wrapped by every tree encoding or validation failure.
var ErrBadTree = errors.New("objstore: invalid tree")

// EncodeTree validates t and returns its canonical encoding.
func EncodeTree(t *Tree) ([]byte, error) {
	return appendTree(nil, t)
}

func appendTree(buf []byte, t *Tree) ([]byte, error) {
	size := 1 + binary.MaxVarintLen64
	for i := range t.Entries {
		size += 1 + 2 + len(t.Entries[i].Name) + 32
	}
	if cap(buf)-len(buf) < size {
		nb := make([]byte, len(buf), len(buf)+size)
		copy(nb, buf)
		buf = nb
	}
	buf = append(buf, treeFormat)
	buf = binary.AppendUvarint(buf, uint64(len(t.Entries)))
	for i := range t.Entries {
		e := &t.Entries[i]
		if err := ValidName(e.Name); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadTree, err)
		}
		code, ok := modeCode(e.Mode)
		if !ok {
			return nil, fmt.Errorf("%w: entry %q has mode %v", ErrBadTree, e.Name, e.Mode)
		}
		if i > 0 {
			p := &t.Entries[i-1]
			if !entryLessNames(p.Name, p.Mode.IsDir(), e.Name, e.Mode.IsDir()) {
				if p.Name == e.Name {
					return nil, fmt.Errorf("%w: duplicate entry %q", ErrBadTree, e.Name)
				}
				return nil, fmt.Errorf("%w: entries %q and %q out of order", ErrBadTree, p.Name, e.Name)
			}
		}
		if e.Mode.IsDir() && hasFileNamed(t.Entries[:i], e.Name) {
			return nil, fmt.Errorf("%w: duplicate entry %q", ErrBadTree, e.Name)
		}
		buf = append(buf, code)
		buf = binary.AppendUvarint(buf, uint64(len(e.Name)))
		buf = append(buf, e.Name...)
		buf = append(buf, e.ID[:]...)
	}
	return buf, nil
}

// DecodeTree parses a tree encoding, checking everything EncodeTree checks,
// so a decoded tree re-encodes to the same bytes.
func DecodeTree(b []byte) (*Tree, error) {
	if len(b) < 1 || b[0] != treeFormat {
		return nil, fmt.Errorf("%w: unknown format", ErrBadTree)
	}
	p := 1
	n, w := binary.Uvarint(b[p:])
	if w <= 0 || !canonVarint(b[p:], w) || n > uint64(len(b)) {
		return nil, fmt.Errorf("%w: bad entry count", ErrBadTree)
	}
	p += w
	t := &Tree{Entries: make([]Entry, n)}
	// Names are sliced from one string to save an allocation per entry.
	all := string(b)
	for i := range t.Entries {
		if p >= len(b) {
			return nil, fmt.Errorf("%w: truncated", ErrBadTree)
		}
		code := b[p]
		p++
		if code == 0 || int(code) >= len(modeCodes) {
			return nil, fmt.Errorf("%w: bad mode code %d", ErrBadTree, code)
		}
		l, w := binary.Uvarint(b[p:])
		if w <= 0 || !canonVarint(b[p:], w) || l > uint64(len(b)-p-w) {
			return nil, fmt.Errorf("%w: truncated name", ErrBadTree)
		}
		p += w
		name := all[p : p+int(l)]
		p += int(l)
		if len(b)-p < 32 {
			return nil, fmt.Errorf("%w: truncated id", ErrBadTree)
		}
		e := &t.Entries[i]
		e.Name, e.Mode = name, modeCodes[code]
		copy(e.ID[:], b[p:p+32])
		p += 32
		if err := ValidName(name); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadTree, err)
		}
		if i > 0 {
			q := &t.Entries[i-1]
			if !entryLessNames(q.Name, q.Mode.IsDir(), e.Name, e.Mode.IsDir()) {
				return nil, fmt.Errorf("%w: entries %q and %q out of order or duplicate", ErrBadTree, q.Name, e.Name)
			}
		}
		if e.Mode.IsDir() && hasFileNamed(t.Entries[:i], e.Name) {
			return nil, fmt.Errorf("%w: duplicate entry %q", ErrBadTree, e.Name)
		}
	}
	if p != len(b) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadTree, len(b)-p)
	}
	return t, nil
}

// treeCost is the L1 cache's estimate of a decoded tree's memory.
func treeCost(t *Tree, encoded int) int {
	return encoded + len(t.Entries)*24 + 64
}
