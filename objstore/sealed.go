package objstore

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/zeebo/blake3"
)

// ErrUnsealed is returned when a stored value cannot be decrypted: the
// store was opened with the wrong key, the value was tampered with, or it
// was moved from another key. The store never hands such a value out.
var ErrUnsealed = errors.New("objstore: cannot decrypt stored value (wrong key, or the value was tampered with or moved)")

// ErrSealedFormat is wrapped when a sealed KV holds keys in a layout this
// version does not read: an encrypted store written before its keys were
// hidden (sealed format 1) opened read-only, which cannot migrate it, or a
// store from a newer version.
var ErrSealedFormat = errors.New("objstore: unsupported sealed store format")

// Sealed value versions: the first byte of every sealed value.
const (
	// sealVersion values sit under their own key (objects, metadata, the
	// audit log): 0x01 ‖ nonce ‖ AEAD(value, AAD sealAAD ‖ key).
	sealVersion = 1
	// sealVersionHidden values sit under a hidden key and carry the key
	// they were written under: 0x02 ‖ nonce ‖ AEAD(uvarint(len(key)) ‖ key
	// ‖ value, AAD sealAADHidden ‖ stored key).
	sealVersionHidden = 2
)

// sealAAD prefixes the KV key in each value's additional data.
const (
	sealAAD       = "helios-sealed/1\x00"
	sealAADHidden = "helios-sealed/2\x00"
)

// sealedFormatKey holds the sealed format of the KV (sealed format 2: keys
// of the hidden spaces are MACs). Its name is in the clear; its value is
// sealed, so it also tells a wrong key at open. It is reserved: scans
// through the sealed KV skip it.
var sealedFormatKey = metaKey("sealed")

const sealedFormat = "helios-sealed-keys/2"

// KeyMACSize is the size of the key that SealKV's key MAC takes.
const KeyMACSize = 32

// tagSize is the length of each MAC in a hidden key: 128 bits, so two
// names of a store collide with probability about n²/2¹²⁹.
const tagSize = 16

// hiddenSpace is a key space whose keys say something (a ref name, a git
// object id, a worktree path) and which a sealed KV stores under MACs.
type hiddenSpace struct {
	prefix string
	// group is the length of the segment after prefix that callers scan
	// by (the worktree of a stat cache entry); 0 when scans take the
	// whole space.
	group int
	// unordered spaces are scanned in stored (MAC) order: their keys are
	// hashes whose order means nothing to anyone, and sorting them would
	// hold the whole space in memory.
	unordered bool
}

// hiddenSpaces lists the hidden key spaces. No prefix is a prefix of
// another, and no key outside them starts with one of them.
var hiddenSpaces = []hiddenSpace{
	{prefix: string(prefixWorktree)},
	{prefix: string([]byte{prefixGit, gitObjectKey}), unordered: true},
	{prefix: string([]byte{prefixGit, gitRefKey})},
	{prefix: string(prefixRef)},
	{prefix: string(prefixStatSet), group: len(wkey{})},
}

// spaceOf returns the hidden space key falls in, or nil.
func spaceOf(key []byte) *hiddenSpace {
	for i := range hiddenSpaces {
		if bytes.HasPrefix(key, []byte(hiddenSpaces[i].prefix)) {
			return &hiddenSpaces[i]
		}
	}
	return nil
}

// SealKV returns a KV that encrypts every value it stores in kv with aead
// (AES-256-GCM in Helios: see audit/keys) and decrypts on the way out, and
// that stores the keys that would say something under MACs keyed with
// keyMAC (KeyMACSize bytes, derived from the store's master key apart from
// the AEAD key: see audit/keys.KeyMAC).
//
// # Values
//
// A value under a key that reveals nothing (an object, metadata, the audit
// log) is stored as
//
//	0x01 ‖ nonce (aead.NonceSize(), random) ‖ AEAD(value)
//
// with the KV key as additional data, so a value copied under another key
// does not open. An AEAD whose NonceSize is 0 (cipher.NewGCMWithRandomNonce)
// makes and prepends its own nonce. A value that does not open is an error
// wrapping ErrUnsealed, never bytes.
//
// # Hidden keys
//
// The keys of these spaces would name things, so they are stored as
// MACs (keyed BLAKE3, 16 bytes) instead:
//
//	'r' name                →  'r' ‖ T(key)             refs
//	'g' 'r' name            →  'g' 'r' ‖ T(key)         git values of refs
//	'g' 'o' oid             →  'g' 'o' ‖ T(key)         git objects
//	'W' wkey                →  'W' ‖ T(key)             worktrees
//	'w' wkey path           →  'w' ‖ G(wkey) ‖ T(key)   stat cache entries
//
// where T(key) = MAC(0x01 ‖ key) of the whole original key and G(wkey) =
// MAC(0x02 ‖ 'w' ‖ wkey), so that one worktree's entries stay together. The
// original key travels inside the sealed value:
//
//	0x02 ‖ nonce ‖ AEAD(uvarint(len(key)) ‖ key ‖ value)
//
// with the stored key as additional data. A point lookup (Get, Has,
// MultiHas, a batch's Put or Delete) maps the key and, for Get, checks the
// key inside the value. A scan whose prefix lies in a hidden space scans
// the stored prefix it maps to ('r' for a ref prefix, 'w' ‖ G(wkey) for a
// worktree's stat cache), decrypts, keeps the keys with the original
// prefix and yields them in original key order, as KV.Scan promises,
// buffering the matching entries of one space; the one exception is 'g'
// 'o', whose keys (git object ids) come in no particular order, so that
// gc's sweep of the git mapping does not hold it all in memory. A scan of a
// wider prefix (nil, "g") yields the clear keys in place and each hidden
// space's entries where its prefix sorts, since both orders keep a space's
// keys together. Keys outside the hidden spaces are stored as they are:
// object keys are IDs, which are keyed BLAKE3 in an encrypted store
// (Options.Secret), 'g' 'i' keys are such IDs too, metadata keys are fixed
// names and the audit log's keys are fixed names and record numbers.
//
// So an attacker who can read the files learns no ref name, worktree path,
// file name or git object id (knowing a public commit id does not let them
// confirm the store holds it, nor guessing a path that it holds a
// worktree there), but still learns: how many refs, git refs, worktrees,
// git objects, objects of each kind and audit records there are, and how
// many stat cache entries (files) each worktree has; the length of every
// value (plaintext + 29 bytes for GCM, plus the key's length and 1-2 bytes
// under a hidden key, so a ref's value length gives its name's length);
// which objects have a git id ('g' 'i' keys name them); which keys are
// written or deleted together and when (the write log, file times,
// access patterns to anyone watching the process). Sizes are not padded.
//
// # Format and migration
//
// A sealed KV records its format under 'm' "sealed" (sealed, so a wrong
// key fails there first, with ErrUnsealed; a reserved key, which scans
// skip). A KV without that key, whose
// hidden spaces hold values of the first format (sealed format 1, from
// before keys were hidden), is migrated by SealKV: each entry is rewritten
// under its MAC key and its clear key deleted, in atomic synced batches,
// and the format key is written last; a crash part way is resumed by the
// next SealKV, which tells the two kinds of entries apart by their version
// byte. A read-only kv cannot be migrated: SealKV then fails with an error
// wrapping ErrSealedFormat that says to open the store for writing once.
//
// # Abilities
//
// The wrapper keeps kv's optional abilities: MultiHaser (keys mapped),
// Snapshotter (reads through the snapshot are mapped and decrypted too),
// Ingester (keys mapped and values sealed before the table file is
// written; a synced Write when kv cannot ingest), Compactor and Statser
// (no-ops when kv lacks them). Nothing reaches kv with a clear key of a
// hidden space.
func SealKV(kv KV, aead cipher.AEAD, keyMAC []byte) (KV, error) {
	if len(keyMAC) != KeyMACSize {
		return nil, fmt.Errorf("objstore: key MAC key is %d bytes, want %d", len(keyMAC), KeyMACSize)
	}
	var mk [KeyMACSize]byte
	copy(mk[:], keyMAC)
	base, err := blake3.NewKeyed(mk[:])
	if err != nil {
		return nil, err
	}
	s := &sealedKV{kv: kv, aead: aead}
	s.macs.New = func() any { return base.Clone() }
	if err := s.checkFormat(); err != nil {
		return nil, err
	}
	if _, ok := kv.(Snapshotter); ok {
		return &sealedSnapKV{s}, nil
	}
	return s, nil
}

var (
	_ KV          = (*sealedKV)(nil)
	_ MultiHaser  = (*sealedKV)(nil)
	_ MultiGetter = (*sealedKV)(nil)
	_ Ingester    = (*sealedKV)(nil)
	_ Compactor   = (*sealedKV)(nil)
	_ Statser     = (*sealedKV)(nil)
	_ Snapshotter = (*sealedSnapKV)(nil)
)

type sealedKV struct {
	kv   KV
	aead cipher.AEAD
	macs sync.Pool // *blake3.Hasher keyed with the key MAC key
}

type sealedSnapKV struct{ *sealedKV }

// reader is what a sealed view reads through: kv or one of its snapshots.
type reader interface {
	Get(key []byte) ([]byte, error)
	Has(key []byte) (bool, error)
	Scan(prefix []byte, fn func(key, value []byte) error) error
}

func (s *sealedKV) mac(dst []byte, parts ...[]byte) []byte {
	h := s.macs.Get().(*blake3.Hasher)
	for _, p := range parts {
		h.Write(p)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	h.Reset()
	s.macs.Put(h)
	return append(dst, sum[:tagSize]...)
}

// storedKey maps key to the key it is stored under (key itself outside the
// hidden spaces).
func (s *sealedKV) storedKey(key []byte) []byte {
	sp := spaceOf(key)
	if sp == nil {
		return key
	}
	out := make([]byte, 0, len(sp.prefix)+2*tagSize)
	out = append(out, sp.prefix...)
	if n := len(sp.prefix) + sp.group; sp.group > 0 && len(key) >= n {
		out = s.mac(out, []byte{2}, key[:n])
	}
	return s.mac(out, []byte{1}, key)
}

// storedPrefix maps a scan prefix to the stored prefix that covers it.
func (s *sealedKV) storedPrefix(prefix []byte) []byte {
	sp := spaceOf(prefix)
	if sp == nil {
		return prefix
	}
	out := []byte(sp.prefix)
	if n := len(sp.prefix) + sp.group; sp.group > 0 && len(prefix) >= n {
		out = s.mac(out, []byte{2}, prefix[:n])
	}
	return out
}

func aad(key []byte) []byte {
	a := make([]byte, 0, len(sealAAD)+len(key))
	return append(append(a, sealAAD...), key...)
}

func aadHidden(stored []byte) []byte {
	a := make([]byte, 0, len(sealAADHidden)+len(stored))
	return append(append(a, sealAADHidden...), stored...)
}

func (s *sealedKV) sealRaw(version byte, plain, ad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+s.aead.Overhead())
	out[0] = version
	if ns > 0 {
		if _, err := rand.Read(out[1:]); err != nil {
			return nil, fmt.Errorf("objstore: nonce: %w", err)
		}
	}
	return s.aead.Seal(out, out[1:1+ns], plain, ad), nil
}

func (s *sealedKV) openRaw(dst []byte, version byte, sealed, ad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != version {
		return nil, errors.New("not a sealed value")
	}
	v, err := s.aead.Open(dst, sealed[1:1+ns], sealed[1+ns:], ad)
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// seal seals value for key, stored under stored.
func (s *sealedKV) seal(key, stored, value []byte) ([]byte, error) {
	if spaceOf(key) == nil {
		return s.sealRaw(sealVersion, value, aad(key))
	}
	p := make([]byte, 0, binary.MaxVarintLen64+len(key)+len(value))
	p = binary.AppendUvarint(p, uint64(len(key)))
	p = append(append(p, key...), value...)
	return s.sealRaw(sealVersionHidden, p, aadHidden(stored))
}

// open decrypts the value stored under stored and returns the original key
// and the value (appended to dst). The error wraps ErrUnsealed; it names
// the stored key only (which reveals nothing).
func (s *sealedKV) open(dst, stored, sealed []byte) (key, value []byte, err error) {
	if spaceOf(stored) == nil {
		v, err := s.openRaw(dst, sealVersion, sealed, aad(stored))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: key %q: %v", ErrUnsealed, stored, err)
		}
		return stored, v, nil
	}
	p, err := s.openRaw(dst, sealVersionHidden, sealed, aadHidden(stored))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: hidden key %x: %v", ErrUnsealed, stored, err)
	}
	n, w := binary.Uvarint(p)
	if w <= 0 || uint64(len(p)-w) < n {
		return nil, nil, fmt.Errorf("%w: hidden key %x: bad key length", ErrUnsealed, stored)
	}
	key = p[w : w+int(n)]
	if !bytes.HasPrefix(key, []byte(spaceOf(stored).prefix)) {
		return nil, nil, fmt.Errorf("%w: hidden key %x: key from another space", ErrUnsealed, stored)
	}
	return key, p[w+int(n):], nil
}

func (s *sealedKV) Get(key []byte) ([]byte, error) { return s.get(s.kv, key) }

// GetUncached is Get through the wrapped KV's GetUncached.
func (s *sealedKV) GetUncached(key []byte) ([]byte, error) { return s.get(uncachedReader{s.kv}, key) }

// uncachedReader reads through getUncached.
type uncachedReader struct{ reader }

func (u uncachedReader) Get(key []byte) ([]byte, error) { return getUncached(u.reader, key) }

func (s *sealedKV) get(r reader, key []byte) ([]byte, error) {
	stored := s.storedKey(key)
	v, err := r.Get(stored)
	if err != nil {
		if errors.Is(err, ErrNotFound) && spaceOf(key) != nil {
			// Name the key asked for, not the MAC the engine looked up.
			return nil, fmt.Errorf("%w: key %q", ErrNotFound, key)
		}
		return nil, err
	}
	return s.openOf(key, stored, v)
}

// openOf opens the value read at stored for key, and checks that it was
// sealed for key (not moved there from another).
func (s *sealedKV) openOf(key, stored, v []byte) ([]byte, error) {
	k, val, err := s.open(nil, stored, v)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(k, key) {
		return nil, fmt.Errorf("%w: key %q: the value belongs to another key", ErrUnsealed, key)
	}
	return val, nil
}

func (s *sealedKV) Has(key []byte) (bool, error) { return s.kv.Has(s.storedKey(key)) }

func (s *sealedKV) Scan(prefix []byte, fn func(key, value []byte) error) error {
	return s.scan(s.kv, prefix, fn)
}

type sealedEntry struct{ key, value []byte }

// scan is Scan through r (see SealKV for how hidden spaces are scanned).
func (s *sealedKV) scan(r reader, prefix []byte, fn func(key, value []byte) error) error {
	var (
		cur *hiddenSpace // the hidden space the entries in buf come from
		buf []sealedEntry
		tmp []byte
	)
	flush := func() error {
		slices.SortFunc(buf, func(a, b sealedEntry) int { return bytes.Compare(a.key, b.key) })
		for i, e := range buf {
			if err := fn(e.key, e.value); err != nil {
				return err
			}
			buf[i] = sealedEntry{}
		}
		buf, cur = buf[:0], nil
		return nil
	}
	err := r.Scan(s.storedPrefix(prefix), func(k, v []byte) error {
		sp := spaceOf(k)
		if sp != cur && len(buf) > 0 {
			if err := flush(); err != nil {
				return err
			}
		}
		if sp == nil && bytes.Equal(k, sealedFormatKey) {
			return nil // the sealed KV's own, reserved key
		}
		if sp == nil || sp.unordered {
			key, val, err := s.open(tmp[:0], k, v)
			if err != nil {
				return err
			}
			tmp = val[:0] // reused: fn's slices are valid only during the call
			if sp != nil {
				tmp = nil // val starts inside the buffer, after the key
			}
			if !bytes.HasPrefix(key, prefix) {
				return nil
			}
			return fn(key, val)
		}
		key, val, err := s.open(nil, k, v)
		if err != nil {
			return err
		}
		if bytes.HasPrefix(key, prefix) {
			cur = sp
			buf = append(buf, sealedEntry{key, val})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// sealBatch maps and seals the operations of b.
func (s *sealedKV) sealBatch(b *Batch) (*Batch, error) {
	sb := &Batch{ops: make([]BatchOp, 0, len(b.ops))}
	for i := range b.ops {
		op := &b.ops[i]
		stored := s.storedKey(op.Key)
		if op.Delete {
			sb.Delete(stored)
			continue
		}
		v, err := s.seal(op.Key, stored, op.Joined())
		if err != nil {
			return nil, err
		}
		sb.Put(stored, v)
	}
	return sb, nil
}

func (s *sealedKV) Write(b *Batch, sync bool) error {
	sb, err := s.sealBatch(b)
	if err != nil {
		return err
	}
	return s.kv.Write(sb, sync)
}

// Ingest maps and seals b and ingests it when kv can; otherwise it is a
// synced Write, which promises the same.
func (s *sealedKV) Ingest(b *Batch) error {
	for _, op := range b.ops {
		if op.Delete {
			return fmt.Errorf("objstore: ingest: batch holds a delete")
		}
	}
	sb, err := s.sealBatch(b)
	if err != nil {
		return err
	}
	sb.Tables = b.Tables
	if in, ok := s.kv.(Ingester); ok {
		return in.Ingest(sb)
	}
	return s.kv.Write(sb, true)
}

func (s *sealedKV) Close() error { return s.kv.Close() }

// MultiHas asks kv if it can, else one Has per key.
func (s *sealedKV) MultiHas(keys [][]byte) ([]bool, error) {
	stored := make([][]byte, len(keys))
	for i, k := range keys {
		stored[i] = s.storedKey(k)
	}
	if mh, ok := s.kv.(MultiHaser); ok {
		return mh.MultiHas(stored)
	}
	out := make([]bool, len(keys))
	for i, k := range stored {
		ok, err := s.kv.Has(k)
		if err != nil {
			return nil, err
		}
		out[i] = ok
	}
	return out, nil
}

// MultiGet reads many keys in one call of kv's where it can (else one Get
// each), and opens each value as Get does. A missing key's value is nil.
func (s *sealedKV) MultiGet(keys [][]byte) ([][]byte, error) {
	stored := make([][]byte, len(keys))
	for i, k := range keys {
		stored[i] = s.storedKey(k)
	}
	var vals [][]byte
	if mg, ok := s.kv.(MultiGetter); ok {
		var err error
		if vals, err = mg.MultiGet(stored); err != nil {
			return nil, err
		}
	} else {
		vals = make([][]byte, len(keys))
		for i, k := range stored {
			v, err := s.kv.Get(k)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if v == nil {
				v = []byte{} // present: open says what is wrong with it
			}
			vals[i] = v
		}
	}
	out := make([][]byte, len(keys))
	for i, v := range vals {
		if v == nil { // a sealed value is never empty
			continue
		}
		val, err := s.openOf(keys[i], stored[i], v)
		if err != nil {
			return nil, err
		}
		if val == nil {
			val = []byte{} // present, and empty
		}
		out[i] = val
	}
	return out, nil
}

// Flush flushes kv if it can.
func (s *sealedKV) Flush() error {
	if c, ok := s.kv.(Compactor); ok {
		return c.Flush()
	}
	return nil
}

// Compact compacts kv if it can.
func (s *sealedKV) Compact() error {
	if c, ok := s.kv.(Compactor); ok {
		return c.Compact()
	}
	return nil
}

// CompactionPending asks kv, if it can tell.
func (s *sealedKV) CompactionPending() bool {
	if c, ok := s.kv.(LazyCompactor); ok {
		return c.CompactionPending()
	}
	return false
}

// Settle settles kv, if it can.
func (s *sealedKV) Settle() error {
	if c, ok := s.kv.(LazyCompactor); ok {
		return c.Settle()
	}
	return nil
}

// Stats returns kv's statistics, if it has any.
func (s *sealedKV) Stats() map[string]int64 {
	if st, ok := s.kv.(Statser); ok {
		return st.Stats()
	}
	return map[string]int64{}
}

// Snapshot pins a read view of kv whose keys are mapped and values
// decrypted.
func (s *sealedSnapKV) Snapshot() (KVReader, error) {
	r, err := s.kv.(Snapshotter).Snapshot()
	if err != nil {
		return nil, err
	}
	return sealedReader{s.sealedKV, r}, nil
}

type sealedReader struct {
	s *sealedKV
	r KVReader
}

func (r sealedReader) Get(key []byte) ([]byte, error) { return r.s.get(r.r, key) }
func (r sealedReader) Has(key []byte) (bool, error)   { return r.r.Has(r.s.storedKey(key)) }
func (r sealedReader) Scan(prefix []byte, fn func(key, value []byte) error) error {
	return r.s.scan(r.r, prefix, fn)
}
func (r sealedReader) Release() { r.r.Release() }

// checkFormat reads the sealed format key and migrates a KV of sealed
// format 1 (see SealKV).
func (s *sealedKV) checkFormat() error {
	v, err := s.Get(sealedFormatKey)
	switch {
	case err == nil && string(v) == sealedFormat:
		return nil
	case err == nil:
		return fmt.Errorf("%w: %q (this helios reads %q)", ErrSealedFormat, v, sealedFormat)
	case !errors.Is(err, ErrNotFound):
		return err
	}
	n, err := s.migrate()
	if err != nil {
		if errors.Is(err, ErrUnsealed) {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: the store keeps ref names, worktree paths and git ids in clear keys (sealed format 1); "+
				"open it for writing once to hide them (for instance: helios gc --store DIR): %w", ErrSealedFormat, err)
		}
		return fmt.Errorf("objstore: sealed: write the format key: %w", err)
	}
	return nil
}

// migrateBatch is how many entries one migration batch moves.
const migrateBatch = 4096

// migrate rewrites the hidden spaces' entries of sealed format 1 under
// their MAC keys, then writes the format key. It returns how many entries
// needed moving.
func (s *sealedKV) migrate() (int, error) {
	// A wrong key must fail here, before anything is written (the format
	// key sealed with it would lock the right key out).
	if _, err := s.Get(metaKey("format")); err != nil && !errors.Is(err, ErrNotFound) {
		return 0, err
	}
	var old [][]byte
	for _, sp := range hiddenSpaces {
		err := s.kv.Scan([]byte(sp.prefix), func(k, v []byte) error {
			if len(v) > 0 && v[0] == sealVersion {
				old = append(old, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	for i := 0; i < len(old); i += migrateBatch {
		var b Batch
		for _, k := range old[i:min(i+migrateBatch, len(old))] {
			v, err := s.kv.Get(k)
			if err != nil {
				return len(old), err
			}
			val, err := s.openRaw(nil, sealVersion, v, aad(k))
			if err != nil {
				return len(old), fmt.Errorf("%w: key %q: %v", ErrUnsealed, k, err)
			}
			stored := s.storedKey(k)
			sv, err := s.seal(k, stored, val)
			if err != nil {
				return len(old), err
			}
			b.Delete(k)
			b.Put(stored, sv)
		}
		if err := s.kv.Write(&b, true); err != nil {
			return len(old), err
		}
	}
	var b Batch
	b.Put(sealedFormatKey, []byte(sealedFormat))
	return len(old), s.Write(&b, true)
}
