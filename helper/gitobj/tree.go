package gitobj

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Mode is a tree entry's file mode as git stores it (octal text in trees).
type Mode uint32

// The modes git writes.
const (
	ModeFile       Mode = 0o100644
	ModeExecutable Mode = 0o100755
	ModeSymlink    Mode = 0o120000
	ModeDir        Mode = 0o40000
	ModeGitlink    Mode = 0o160000
)

// IsDir reports whether the mode is a directory (S_ISDIR).
func (m Mode) IsDir() bool { return m&0o170000 == 0o040000 }

// IsSymlink reports whether the mode is a symbolic link (S_ISLNK).
func (m Mode) IsSymlink() bool { return m&0o170000 == 0o120000 }

// String returns the canonical octal text ("100644", "40000").
func (m Mode) String() string { return strconv.FormatUint(uint64(m), 8) }

// TreeEntry is one entry of a tree.
type TreeEntry struct {
	Mode Mode
	Name string
	OID  OID
	// RawMode is the mode text exactly as stored when it differs from
	// Mode.String() (historic zero-padded "040000"); empty otherwise.
	// Encode writes it back so that ids round-trip.
	RawMode string
}

// TreeObject is a decoded tree, entries in stored order.
type TreeObject struct {
	Entries []TreeEntry
}

// ErrMalformedTree reports tree bytes that cannot be split into entries
// (git fsck's badTree).
var ErrMalformedTree = errors.New("gitobj: malformed tree")

// DecodeTree splits tree bytes into entries. It accepts anything git can
// parse (unsorted, duplicate, odd modes) so that CheckTree can name the
// problem; it fails only when the bytes have no entry structure.
func DecodeTree(f Format, data []byte) (*TreeObject, error) {
	// An entry takes at least a mode byte, a space, a name byte, a NUL
	// and the id: room for that many entries, so appends never copy.
	t := &TreeObject{}
	if len(data) > 0 {
		t.Entries = make([]TreeEntry, 0, len(data)/(f.Size()+4)+1)
	}
	err := EachTreeEntry(f, data, func(r TreeEntryRef) error {
		e := TreeEntry{Mode: r.Mode, Name: string(r.Name)}
		e.OID.n = uint8(len(r.ID))
		copy(e.OID.b[:], r.ID)
		if !r.Canonical() {
			e.RawMode = string(r.ModeText)
		}
		t.Entries = append(t.Entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// TreeEntryRef is one entry of tree bytes as EachTreeEntry reads it. Its
// slices are of those bytes: valid while they are, copied by no one.
type TreeEntryRef struct {
	Mode     Mode
	ModeText []byte // as stored
	Name     []byte
	ID       []byte // f.Size() bytes
}

// Canonical reports whether the mode is stored as git writes it (not
// zero-padded: "40000", not "040000").
func (r TreeEntryRef) Canonical() bool {
	var canon [11]byte
	return string(r.ModeText) == string(strconv.AppendUint(canon[:0], uint64(r.Mode), 8))
}

// EachTreeEntry calls fn for each entry of tree bytes, in stored order,
// without allocating: what a check or a conversion that looks at each
// entry once needs, where DecodeTree would make a string per name. It
// accepts and fails exactly as DecodeTree does; an error from fn stops it
// and is returned.
func EachTreeEntry(f Format, data []byte, fn func(TreeEntryRef) error) error {
	size := f.Size()
	for len(data) > 0 {
		sp := bytes.IndexByte(data, ' ')
		if sp <= 0 {
			return fmt.Errorf("%w: missing mode", ErrMalformedTree)
		}
		r := TreeEntryRef{ModeText: data[:sp]}
		var mode uint64
		for _, c := range r.ModeText {
			if c < '0' || c > '7' {
				return fmt.Errorf("%w: bad mode %q", ErrMalformedTree, r.ModeText)
			}
			mode = mode*8 + uint64(c-'0')
			if mode > 0xffffffff {
				return fmt.Errorf("%w: bad mode %q", ErrMalformedTree, r.ModeText)
			}
		}
		r.Mode = Mode(mode)
		rest := data[sp+1:]
		nul := bytes.IndexByte(rest, 0)
		if nul < 0 {
			return fmt.Errorf("%w: unterminated name", ErrMalformedTree)
		}
		if len(rest) < nul+1+size {
			return fmt.Errorf("%w: truncated object id", ErrMalformedTree)
		}
		r.Name = rest[:nul:nul]
		r.ID = rest[nul+1 : nul+1+size : nul+1+size]
		data = rest[nul+1+size:]
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// Encode writes the tree in git's format, entries in their current order.
func (t *TreeObject) Encode() []byte {
	n := 0
	for _, e := range t.Entries {
		n += len(e.Name) + 8 + int(e.OID.n)
	}
	buf := make([]byte, 0, n)
	for _, e := range t.Entries {
		if e.RawMode != "" {
			buf = append(buf, e.RawMode...)
		} else {
			buf = strconv.AppendUint(buf, uint64(e.Mode), 8)
		}
		buf = append(buf, ' ')
		buf = append(buf, e.Name...)
		buf = append(buf, 0)
		buf = append(buf, e.OID.b[:e.OID.n]...)
	}
	return buf
}

// CompareEntries orders two entries the way git sorts trees: by name, with
// directories compared as if their name ended in '/'
// (base_name_compare).
func CompareEntries(aName string, aMode Mode, bName string, bMode Mode) int {
	n := min(len(aName), len(bName))
	if c := compareStrings(aName[:n], bName[:n]); c != 0 {
		return c
	}
	c1, c2 := nextByte(aName, n, aMode), nextByte(bName, n, bMode)
	switch {
	case c1 < c2:
		return -1
	case c1 > c2:
		return 1
	}
	return 0
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func nextByte(name string, n int, m Mode) byte {
	if n < len(name) {
		return name[n]
	}
	if m.IsDir() {
		return '/'
	}
	return 0
}
