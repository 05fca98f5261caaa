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
	size := f.Size()
	// An entry takes at least a mode byte, a space, a name byte, a NUL
	// and the id: room for that many entries, so appends never copy.
	t := &TreeObject{}
	if len(data) > 0 {
		t.Entries = make([]TreeEntry, 0, len(data)/(size+4)+1)
	}
	for len(data) > 0 {
		sp := bytes.IndexByte(data, ' ')
		if sp <= 0 {
			return nil, fmt.Errorf("%w: missing mode", ErrMalformedTree)
		}
		modeText := data[:sp]
		var mode uint64
		for _, c := range modeText {
			if c < '0' || c > '7' {
				return nil, fmt.Errorf("%w: bad mode %q", ErrMalformedTree, modeText)
			}
			mode = mode*8 + uint64(c-'0')
			if mode > 0xffffffff {
				return nil, fmt.Errorf("%w: bad mode %q", ErrMalformedTree, modeText)
			}
		}
		rest := data[sp+1:]
		nul := bytes.IndexByte(rest, 0)
		if nul < 0 {
			return nil, fmt.Errorf("%w: unterminated name", ErrMalformedTree)
		}
		if len(rest) < nul+1+size {
			return nil, fmt.Errorf("%w: truncated object id", ErrMalformedTree)
		}
		e := TreeEntry{Mode: Mode(mode), Name: string(rest[:nul])}
		e.OID.n = uint8(size)
		copy(e.OID.b[:], rest[nul+1:nul+1+size])
		var canon [11]byte // the mode as git writes it, without a string per entry
		if string(modeText) != string(strconv.AppendUint(canon[:0], mode, 8)) {
			e.RawMode = string(modeText)
		}
		t.Entries = append(t.Entries, e)
		data = rest[nul+1+size:]
	}
	return t, nil
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
