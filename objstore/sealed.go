package objstore

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// ErrUnsealed is returned when a stored value cannot be decrypted: the
// store was opened with the wrong key, the value was tampered with, or it
// was moved from another key. The store never hands such a value out.
var ErrUnsealed = errors.New("objstore: cannot decrypt stored value (wrong key, or the value was tampered with or moved)")

// sealVersion is the first byte of every sealed value.
const sealVersion = 1

// sealAAD prefixes the KV key in each value's additional data.
const sealAAD = "helios-sealed/1\x00"

// SealKV returns a KV that encrypts every value it stores in kv with aead
// (AES-256-GCM in Helios: see audit/keys) and decrypts on the way out.
//
// Each stored value is
//
//	0x01 ‖ nonce (aead.NonceSize(), random) ‖ ciphertext ‖ tag
//
// with the KV key as additional data, so a value copied under another key
// does not open. An AEAD whose NonceSize is 0 (cipher.NewGCMWithRandomNonce)
// makes and prepends its own nonce. A value that does not open is an error
// wrapping ErrUnsealed, never bytes.
//
// What it does not hide: the keys. Object keys are IDs, which are keyed
// BLAKE3 in an encrypted store (Options.Secret) and so reveal nothing, but
// ref names ('r'), worktree paths ('W', 'w'), git object ids in the git
// mapping ('g'), and the audit log's indexes ('a') are in the clear, as are
// value sizes (plaintext + 29 bytes for GCM), the number of values and
// when they were written.
//
// The wrapper keeps kv's optional abilities that do not touch values:
// MultiHaser (keys only), Snapshotter (reads through the snapshot are
// decrypted too), Compactor and Statser (no-ops when kv lacks them).
func SealKV(kv KV, aead cipher.AEAD) KV {
	s := &sealedKV{kv: kv, aead: aead}
	if _, ok := kv.(Snapshotter); ok {
		return &sealedSnapKV{s}
	}
	return s
}

var (
	_ KV          = (*sealedKV)(nil)
	_ MultiHaser  = (*sealedKV)(nil)
	_ Compactor   = (*sealedKV)(nil)
	_ Statser     = (*sealedKV)(nil)
	_ Snapshotter = (*sealedSnapKV)(nil)
)

type sealedKV struct {
	kv   KV
	aead cipher.AEAD
}

type sealedSnapKV struct{ *sealedKV }

func aad(key []byte) []byte {
	a := make([]byte, 0, len(sealAAD)+len(key))
	return append(append(a, sealAAD...), key...)
}

func (s *sealedKV) seal(key, value []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(value)+s.aead.Overhead())
	out[0] = sealVersion
	if ns > 0 {
		if _, err := rand.Read(out[1:]); err != nil {
			return nil, fmt.Errorf("objstore: nonce: %w", err)
		}
	}
	return s.aead.Seal(out, out[1:1+ns], value, aad(key)), nil
}

func (s *sealedKV) open(dst, key, sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: key %q: not a sealed value", ErrUnsealed, key)
	}
	v, err := s.aead.Open(dst, sealed[1:1+ns], sealed[1+ns:], aad(key))
	if err != nil {
		return nil, fmt.Errorf("%w: key %q", ErrUnsealed, key)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (s *sealedKV) Get(key []byte) ([]byte, error) { return sealedGet(s, s.kv, key) }

func sealedGet(s *sealedKV, r interface{ Get([]byte) ([]byte, error) }, key []byte) ([]byte, error) {
	v, err := r.Get(key)
	if err != nil {
		return nil, err
	}
	return s.open(nil, key, v)
}

func (s *sealedKV) Has(key []byte) (bool, error) { return s.kv.Has(key) }

func (s *sealedKV) Scan(prefix []byte, fn func(key, value []byte) error) error {
	return sealedScan(s, s.kv, prefix, fn)
}

func sealedScan(s *sealedKV, r interface {
	Scan([]byte, func(k, v []byte) error) error
}, prefix []byte, fn func(key, value []byte) error) error {
	var buf []byte
	return r.Scan(prefix, func(k, v []byte) error {
		p, err := s.open(buf[:0], k, v)
		if err != nil {
			return err
		}
		buf = p
		return fn(k, p)
	})
}

func (s *sealedKV) Write(b *Batch, sync bool) error {
	var sb Batch
	sb.ops = make([]BatchOp, 0, len(b.ops))
	for _, op := range b.ops {
		if op.Delete {
			sb.Delete(op.Key)
			continue
		}
		v, err := s.seal(op.Key, op.Value)
		if err != nil {
			return err
		}
		sb.Put(op.Key, v)
	}
	return s.kv.Write(&sb, sync)
}

func (s *sealedKV) Close() error { return s.kv.Close() }

// MultiHas asks kv if it can, else one Has per key.
func (s *sealedKV) MultiHas(keys [][]byte) ([]bool, error) {
	if mh, ok := s.kv.(MultiHaser); ok {
		return mh.MultiHas(keys)
	}
	out := make([]bool, len(keys))
	for i, k := range keys {
		ok, err := s.kv.Has(k)
		if err != nil {
			return nil, err
		}
		out[i] = ok
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

// Stats returns kv's statistics, if it has any.
func (s *sealedKV) Stats() map[string]int64 {
	if st, ok := s.kv.(Statser); ok {
		return st.Stats()
	}
	return map[string]int64{}
}

// Snapshot pins a read view of kv whose values are decrypted.
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

func (r sealedReader) Get(key []byte) ([]byte, error) { return sealedGet(r.s, r.r, key) }
func (r sealedReader) Has(key []byte) (bool, error)   { return r.r.Has(key) }
func (r sealedReader) Scan(prefix []byte, fn func(key, value []byte) error) error {
	return sealedScan(r.s, r.r, prefix, fn)
}
func (r sealedReader) Release() { r.r.Release() }
