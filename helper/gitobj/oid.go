package gitobj

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"

	"github.com/pjbgf/sha1cd"
)

// Format is a repository's object format (its hash algorithm).
type Format uint8

const (
	// SHA1 is git's default object format.
	SHA1 Format = iota + 1
	// SHA256 is git's extensions.objectFormat=sha256.
	SHA256
)

// ParseFormat parses git's names for object formats ("sha1", "sha256").
func ParseFormat(s string) (Format, error) {
	switch s {
	case "sha1":
		return SHA1, nil
	case "sha256":
		return SHA256, nil
	}
	return 0, fmt.Errorf("gitobj: unknown object format %q", s)
}

// String returns git's name for the format.
func (f Format) String() string {
	switch f {
	case SHA1:
		return "sha1"
	case SHA256:
		return "sha256"
	}
	return "format(" + strconv.Itoa(int(f)) + ")"
}

// Size is the length of an object id in bytes (20 or 32).
func (f Format) Size() int {
	if f == SHA256 {
		return 32
	}
	return 20
}

// HexSize is the length of an object id in hex digits.
func (f Format) HexSize() int { return 2 * f.Size() }

// NewHash returns a hasher for the format. For SHA-1 it is a
// collision-detecting implementation (see Hasher.Sum).
func (f Format) NewHash() hash.Hash {
	if f == SHA256 {
		return sha256.New()
	}
	return sha1cd.New()
}

// ZeroOID is the all-zero id of the format (git's null oid).
func (f Format) ZeroOID() OID { return OID{n: uint8(f.Size())} }

// OID is a git object id. The zero value (no format) is "no object";
// a format's null oid (all zero digits) is also reported by IsZero.
type OID struct {
	n uint8
	b [32]byte
}

// ErrBadOID reports a malformed object id.
var ErrBadOID = errors.New("gitobj: malformed object id")

// ParseOID parses 40 (SHA-1) or 64 (SHA-256) lower-case hex digits.
func ParseOID(s string) (OID, error) { return parseOID(s) }

func parseOID[S string | []byte](s S) (OID, error) {
	var o OID
	if len(s) != 40 && len(s) != 64 {
		return o, fmt.Errorf("%w: %q", ErrBadOID, s)
	}
	for i := 0; i < len(s); i += 2 {
		hi, ok := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok || !ok2 {
			return OID{}, fmt.Errorf("%w: %q", ErrBadOID, s)
		}
		o.b[i/2] = hi<<4 | lo
	}
	o.n = uint8(len(s) / 2)
	return o, nil
}

// unhex is the value of a lowercase hex digit.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// ParseOIDFormat is ParseOID that also requires the given format's length.
func ParseOIDFormat(f Format, s string) (OID, error) { return parseOIDFormat(f, s) }

// ParseOIDFormatBytes is ParseOIDFormat of bytes: a line of git's output,
// parsed without first copying it into a string.
func ParseOIDFormatBytes(f Format, b []byte) (OID, error) { return parseOIDFormat(f, b) }

func parseOIDFormat[S string | []byte](f Format, s S) (OID, error) {
	if len(s) != f.HexSize() {
		return OID{}, fmt.Errorf("%w: %q is not a %s id", ErrBadOID, s, f)
	}
	return parseOID(s)
}

// OIDFromBytes builds an id from raw bytes of length 20 or 32.
func OIDFromBytes(b []byte) (OID, error) {
	var o OID
	if len(b) != 20 && len(b) != 32 {
		return o, fmt.Errorf("%w: %d raw bytes", ErrBadOID, len(b))
	}
	o.n = uint8(len(b))
	copy(o.b[:], b)
	return o, nil
}

// MustParseOID is ParseOID that panics; for tests and constants.
func MustParseOID(s string) OID {
	o, err := ParseOID(s)
	if err != nil {
		panic(err)
	}
	return o
}

// String returns the lower-case hex form ("" for the zero value).
func (o OID) String() string { return hex.EncodeToString(o.b[:o.n]) }

// Bytes returns the raw id.
func (o OID) Bytes() []byte { return append([]byte(nil), o.b[:o.n]...) }

// Valid reports whether o holds an id of some format.
func (o OID) Valid() bool { return o.n != 0 }

// IsZero reports whether o is unset or the null oid of its format.
func (o OID) IsZero() bool { return o.b == [32]byte{} }

// Format returns the object format the id belongs to (0 when unset).
func (o OID) Format() Format {
	switch o.n {
	case 20:
		return SHA1
	case 32:
		return SHA256
	}
	return 0
}

// Compare orders ids by their raw bytes, as pack indexes do.
func (o OID) Compare(p OID) int {
	for i := 0; i < 32; i++ {
		if o.b[i] != p.b[i] {
			if o.b[i] < p.b[i] {
				return -1
			}
			return 1
		}
	}
	return int(o.n) - int(p.n)
}

// Type is a git object type, numbered as in pack files.
type Type uint8

// Object types with their pack type numbers.
const (
	Commit Type = 1
	Tree   Type = 2
	Blob   Type = 3
	Tag    Type = 4
)

// String returns git's name for the type.
func (t Type) String() string {
	switch t {
	case Commit:
		return "commit"
	case Tree:
		return "tree"
	case Blob:
		return "blob"
	case Tag:
		return "tag"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// ParseType parses git's type names.
func ParseType(s string) (Type, error) {
	switch s {
	case "commit":
		return Commit, nil
	case "tree":
		return Tree, nil
	case "blob":
		return Blob, nil
	case "tag":
		return Tag, nil
	}
	return 0, fmt.Errorf("gitobj: unknown object type %q", s)
}

// Object is one git object: its type, id and content (without the
// "<type> <size>\0" header).
type Object struct {
	Type Type
	OID  OID
	Data []byte
}

// ErrCollision reports SHA-1 input that carries a known collision attack.
var ErrCollision = errors.New("gitobj: sha-1 collision attack detected")

// HashObject computes the id of an object of type t with content data.
func HashObject(f Format, t Type, data []byte) (OID, error) {
	h := f.NewHash()
	h.Write(AppendHeader(nil, t, len(data)))
	h.Write(data)
	var o OID
	o.n = uint8(f.Size())
	if cd, ok := h.(interface {
		CollisionResistantSum([]byte) ([]byte, bool)
	}); ok {
		sum, collision := cd.CollisionResistantSum(nil)
		if collision {
			return OID{}, ErrCollision
		}
		copy(o.b[:], sum)
		return o, nil
	}
	copy(o.b[:], h.Sum(nil))
	return o, nil
}

// AppendHeader appends git's loose object header "<type> <size>\x00".
func AppendHeader(dst []byte, t Type, size int) []byte {
	dst = append(dst, t.String()...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(size), 10)
	return append(dst, 0)
}

// Verify recomputes obj's id and compares it with obj.OID.
func Verify(f Format, obj Object) error {
	got, err := HashObject(f, obj.Type, obj.Data)
	if err != nil {
		return fmt.Errorf("gitobj: object %s: %w", obj.OID, err)
	}
	if got != obj.OID {
		return fmt.Errorf("gitobj: object %s hashes to %s", obj.OID, got)
	}
	return nil
}
