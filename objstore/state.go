package objstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Signature is who made a state, and when (with the zone they were in).
type Signature struct {
	Name  string
	Email string
	When  time.Time
}

// State is a snapshot: a root tree, the states it came from, who made it,
// when, and why.
type State struct {
	Root      ID
	Parents   []ID
	Author    Signature
	Committer Signature
	Message   string
}

// State encoding (the value under key 's'+ID, and what the ID hashes):
//
//	0x01                                format version
//	32-byte root tree ID
//	uvarint n, n × 32-byte parent IDs
//	author, committer: each uvarint len + name, uvarint len + email,
//	                   varint unix seconds, uvarint nanoseconds,
//	                   varint zone offset in seconds east of UTC
//	uvarint len + message
const stateFormat = 1

// ErrBadState is wrapped by state decoding failures.
var ErrBadState = errors.New("objstore: invalid state")

// EncodeState returns the canonical encoding of s.
func EncodeState(s *State) []byte {
	b := make([]byte, 0, 1+32+1+32*len(s.Parents)+len(s.Author.Name)+len(s.Author.Email)+len(s.Committer.Name)+len(s.Committer.Email)+len(s.Message)+48)
	b = append(b, stateFormat)
	b = append(b, s.Root[:]...)
	b = binary.AppendUvarint(b, uint64(len(s.Parents)))
	for _, p := range s.Parents {
		b = append(b, p[:]...)
	}
	b = appendSig(b, s.Author)
	b = appendSig(b, s.Committer)
	b = appendString(b, s.Message)
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendSig(b []byte, sg Signature) []byte {
	b = appendString(b, sg.Name)
	b = appendString(b, sg.Email)
	b = binary.AppendVarint(b, sg.When.Unix())
	b = binary.AppendUvarint(b, uint64(sg.When.Nanosecond()))
	_, off := sg.When.Zone()
	return binary.AppendVarint(b, int64(off))
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrBadState, what)
	}
}

// canonVarint reports whether the w-byte varint at the start of b is in
// its shortest form (encodings are canonical: one value, one byte string,
// one ID).
func canonVarint(b []byte, w int) bool { return w == 1 || w > 1 && b[w-1] != 0 }

func (d *decoder) uvarint(what string) uint64 {
	v, w := binary.Uvarint(d.b)
	if w <= 0 || !canonVarint(d.b, w) {
		d.fail(what)
		d.b = nil
		return 0
	}
	d.b = d.b[w:]
	return v
}

func (d *decoder) varint(what string) int64 {
	v, w := binary.Varint(d.b)
	if w <= 0 || !canonVarint(d.b, w) {
		d.fail(what)
		d.b = nil
		return 0
	}
	d.b = d.b[w:]
	return v
}

func (d *decoder) bytes(n uint64, what string) []byte {
	if n > uint64(len(d.b)) {
		d.fail(what)
		d.b = nil
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str(what string) string { return string(d.bytes(d.uvarint(what), what)) }

func (d *decoder) sig(what string) Signature {
	name, email := d.str(what), d.str(what)
	sec, nsec, off := d.varint(what), d.uvarint(what), d.varint(what)
	if nsec >= 1e9 || off < -100000 || off > 100000 {
		d.fail(what)
	}
	zone := time.FixedZone("", int(off))
	if off == 0 {
		zone = time.UTC
	}
	return Signature{Name: name, Email: email, When: time.Unix(sec, int64(nsec)).In(zone)}
}

// DecodeState parses a state encoding.
func DecodeState(b []byte) (*State, error) {
	if len(b) < 1 || b[0] != stateFormat {
		return nil, fmt.Errorf("%w: unknown format", ErrBadState)
	}
	d := &decoder{b: b[1:]}
	s := &State{}
	copy(s.Root[:], d.bytes(32, "root"))
	n := d.uvarint("parent count")
	if n > uint64(len(d.b))/32 {
		d.fail("parent count")
		n = 0
	}
	for i := uint64(0); i < n; i++ {
		var p ID
		copy(p[:], d.bytes(32, "parent"))
		s.Parents = append(s.Parents, p)
	}
	s.Author = d.sig("author")
	s.Committer = d.sig("committer")
	s.Message = d.str("message")
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadState, len(d.b))
	}
	return s, nil
}
