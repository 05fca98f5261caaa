package objstore

import (
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/zeebo/blake3"
)

// ID names a stored object: 32 bytes of BLAKE3, domain-separated by the
// object's Kind. It is a value type, usable as a map key. The zero ID means
// "no object" (an absent ref, a state without a root).
type ID [32]byte

// ZeroID is the ID of nothing.
var ZeroID ID

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ZeroID }

// String prints the tagged text form, "b3:" followed by 64 lower-case hex digits.
func (id ID) String() string {
	var buf [3 + 64]byte
	copy(buf[:], "b3:")
	hex.Encode(buf[3:], id[:])
	return string(buf[:])
}

// Short is the first 12 hex digits, for humans.
func (id ID) Short() string { return id.String()[3:15] }

// MarshalText implements encoding.TextMarshaler with the tagged form.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it is as strict as ParseID.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ErrBadID is returned by ParseID for anything but a well-formed tagged ID.
var ErrBadID = errors.New("objstore: malformed id")

// ParseID parses the tagged form "b3:<64 lower-case hex>" and nothing else:
// no missing tag, no upper case, no short or long forms.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 3+64 || s[:3] != "b3:" {
		return id, fmt.Errorf("%w: %q", ErrBadID, s)
	}
	for i := 3; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return id, fmt.Errorf("%w: %q", ErrBadID, s)
		}
	}
	if _, err := hex.Decode(id[:], []byte(s[3:])); err != nil {
		return id, fmt.Errorf("%w: %q", ErrBadID, s)
	}
	return id, nil
}

// Kind says what an ID names. Each kind hashes under its own key, so a blob
// and a tree with the same bytes have different IDs.
type Kind uint8

const (
	KindChunk Kind = iota + 1
	KindBlob
	KindTree
	KindState
)

var kindNames = [...]string{"", "chunk", "blob", "tree", "state"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// prefix is the first byte of the KV key under which objects of this kind live.
func (k Kind) prefix() byte {
	switch k {
	case KindChunk:
		return prefixChunk
	case KindBlob:
		return prefixBlob
	case KindTree:
		return prefixTree
	case KindState:
		return prefixState
	}
	panic(fmt.Sprintf("objstore: no key prefix for %v", k))
}

// Hasher computes IDs. Each kind hashes with BLAKE3 in keyed mode under a key
// derived (BLAKE3 derive_key) from the context "helios object id v1 <kind>"
// and the store's secret: empty for a plain store, so IDs are the same in
// every plain store; the master key's ID secret for an encrypted one, so that
// keys on disk reveal nothing about contents. A Hasher is safe for concurrent use.
type Hasher struct {
	pools [KindState + 1]sync.Pool
}

// NewHasher returns a Hasher for a store with the given ID secret (nil for a
// plain store).
func NewHasher(secret []byte) *Hasher {
	h := &Hasher{}
	for k := KindChunk; k <= KindState; k++ {
		var key [32]byte
		blake3.DeriveKey("helios object id v1 "+k.String(), secret, key[:])
		h.pools[k].New = func() any {
			bh, err := blake3.NewKeyed(key[:])
			if err != nil {
				panic(err) // only for a key that is not 32 bytes
			}
			return bh
		}
	}
	return h
}

// plainHasher serves stores without a secret.
var plainHasher = NewHasher(nil)

// Sum returns the ID of data as an object of kind k.
func (h *Hasher) Sum(k Kind, data []byte) ID {
	return h.sumParts(k, data)
}

func (h *Hasher) sumParts(k Kind, parts ...[]byte) ID {
	bh := h.pools[k].Get().(*blake3.Hasher)
	for _, p := range parts {
		bh.Write(p)
	}
	var id ID
	bh.Sum(id[:0])
	bh.Reset()
	h.pools[k].Put(bh)
	return id
}

// NewWriter returns a streaming hasher for kind k; Sum it with SumID.
func (h *Hasher) newStream(k Kind) *blake3.Hasher {
	bh := h.pools[k].Get().(*blake3.Hasher)
	return bh
}

func (h *Hasher) doneStream(k Kind, bh *blake3.Hasher) ID {
	var id ID
	bh.Sum(id[:0])
	bh.Reset()
	h.pools[k].Put(bh)
	return id
}
