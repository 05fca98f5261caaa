package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Source is the storage the log reads: the store's KV, adapted by
// audit/storeaudit. Lookup reports an absent key with ok false. Scan calls fn
// for each key with the prefix in ascending order; the slices are valid only
// during the call.
type Source interface {
	Lookup(key []byte) (value []byte, ok bool, err error)
	Scan(prefix []byte, fn func(key, value []byte) error) error
}

// Sink takes the log's writes: an objstore.Batch fits, so a record lands in
// the same atomic batch as the change it records. The log keeps the slices
// it passes to Put unchanged.
type Sink interface {
	Put(key, value []byte)
}

// Keys of the log in the store's KV, all under the 'a' prefix that objstore
// reserves for the audit log:
//
//	'a' 'l' uint64be(i)   record i (its canonical encoding, the leaf data)
//	'a' 'h' uint64be(j)   stored hash j in tlog's dense order (32 bytes)
//	'a' 's'               the log's size, uint64be
//	'a' 'c'               the latest signed checkpoint (a C2SP signed note)
//	'a' 'p'               the current access policy (see Policy)
var (
	keyPrefix     = []byte("a")
	leafPrefix    = []byte("al")
	hashPrefix    = []byte("ah")
	keySize       = []byte("as")
	keyCheckpoint = []byte("ac")
	// PolicyKey is where the current policy text is kept.
	PolicyKey = []byte("ap")
)

// KeyPrefix is the first byte of every key the audit log uses.
const KeyPrefix = 'a'

func leafKey(i int64) []byte { return binary.BigEndian.AppendUint64([]byte("al"), uint64(i)) }
func hashKey(j int64) []byte { return binary.BigEndian.AppendUint64([]byte("ah"), uint64(j)) }

// ErrPending is returned by Append while another append awaits its Done.
var ErrPending = errors.New("audit: an append is already pending")

// ErrNoSigner is returned by Append on a log opened without a signer.
var ErrNoSigner = errors.New("audit: log opened without a signing key")

// Log is the store's append-only, tamper-evident log: an RFC 6962 Merkle
// tree (golang.org/x/mod/sumdb/tlog, SHA-256) over canonical records, with
// a checkpoint signed by the store's key (golang.org/x/mod/sumdb/note)
// after every append.
//
// Appends are two-phase, like objstore.Journal: Append puts the records,
// their stored hashes, the new size and the new checkpoint into a Sink (the
// batch of the change being recorded); Done tells the log whether that
// batch was written. Appends must be serialized by the caller (objstore's
// journal lock does it); reads are safe at any time. Before each append the
// log re-reads its size from the Source, so several Log values over one
// store in one process stay correct.
type Log struct {
	src    Source
	signer note.Signer

	mu      sync.Mutex
	size    int64
	fringe  map[int64]tlog.Hash // the compact range of size: what appends and TreeHash read
	pending *pending
}

type pending struct {
	size   int64
	fringe map[int64]tlog.Hash
}

// OpenLog opens the log kept in src. signer signs new checkpoints; a nil
// signer gives a read-only log.
func OpenLog(src Source, signer note.Signer) (*Log, error) {
	l := &Log{src: src, signer: signer}
	if err := l.refresh(); err != nil {
		return nil, err
	}
	return l, nil
}

// Origin is the name in the log's checkpoints (the signing key's name), or
// "" for a read-only log.
func (l *Log) Origin() string {
	if l.signer == nil {
		return ""
	}
	return l.signer.Name()
}

// storedSize reads the size key.
func (l *Log) storedSize() (int64, error) {
	v, ok, err := l.src.Lookup(keySize)
	if err != nil {
		return 0, fmt.Errorf("audit: read size: %w", err)
	}
	if !ok {
		return 0, nil
	}
	if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) < 0 {
		return 0, fmt.Errorf("audit: size key holds %d bytes", len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// refresh re-reads the size and, if it changed, the compact range.
func (l *Log) refresh() error {
	n, err := l.storedSize()
	if err != nil {
		return err
	}
	l.mu.Lock()
	same := l.fringe != nil && n == l.size
	l.mu.Unlock()
	if same {
		return nil
	}
	fr := map[int64]tlog.Hash{}
	for _, idx := range compactRange(n) {
		h, err := l.readHash(idx)
		if err != nil {
			return err
		}
		fr[idx] = h
	}
	l.mu.Lock()
	l.size, l.fringe = n, fr
	l.mu.Unlock()
	return nil
}

// compactRange lists the stored-hash indexes of the perfect subtrees that
// make up a tree of n records, largest first: TreeHash(n) reads exactly
// these, and StoredHashes(n, …) reads a subset of them.
func compactRange(n int64) []int64 {
	var out []int64
	var start int64
	for level := 62; level >= 0; level-- {
		if n&(1<<level) != 0 {
			out = append(out, tlog.StoredHashIndex(level, start>>level))
			start += 1 << level
		}
	}
	return out
}

func (l *Log) readHash(idx int64) (tlog.Hash, error) {
	v, ok, err := l.src.Lookup(hashKey(idx))
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("audit: read hash %d: %w", idx, err)
	}
	if !ok || len(v) != tlog.HashSize {
		return tlog.Hash{}, fmt.Errorf("audit: stored hash %d missing or malformed", idx)
	}
	return tlog.Hash(v), nil
}

// ReadHashes implements tlog.HashReader over the stored hashes.
func (l *Log) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		h, err := l.readHash(idx)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// Size is the number of records, as of the last append or Refresh.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// Refresh re-reads the size from the store (after another writer appended).
func (l *Log) Refresh() error { return l.refresh() }

// Append adds recs to the log: their encodings, their stored hashes, the
// new size and a new signed checkpoint are put into sink. It returns the
// index of the first record. The append takes effect only when Done(nil)
// follows; Done(err) forgets it. Every record's Time must be set.
func (l *Log) Append(sink Sink, recs ...Record) (int64, error) {
	if l.signer == nil {
		return 0, ErrNoSigner
	}
	if len(recs) == 0 {
		return 0, errors.New("audit: append of no records")
	}
	l.mu.Lock()
	busy := l.pending != nil
	l.mu.Unlock()
	if busy {
		return 0, ErrPending
	}
	if err := l.refresh(); err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	first := l.size
	n := first
	overlay := make(map[int64]tlog.Hash, 2*len(recs)+len(l.fringe))
	for k, v := range l.fringe {
		overlay[k] = v
	}
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			h, ok := overlay[x]
			if !ok {
				var err error
				if h, err = l.readHash(x); err != nil {
					return nil, err
				}
			}
			out[i] = h
		}
		return out, nil
	})
	for i := range recs {
		data, err := recs[i].Encode()
		if err != nil {
			return 0, err
		}
		hashes, err := tlog.StoredHashes(n, data, reader)
		if err != nil {
			return 0, fmt.Errorf("audit: hash record %d: %w", n, err)
		}
		base := tlog.StoredHashIndex(0, n)
		for j, h := range hashes {
			overlay[base+int64(j)] = h
			sink.Put(hashKey(base+int64(j)), append([]byte(nil), h[:]...))
		}
		sink.Put(leafKey(n), data)
		n++
	}
	root, err := tlog.TreeHash(n, reader)
	if err != nil {
		return 0, fmt.Errorf("audit: tree hash: %w", err)
	}
	cp := Checkpoint{Origin: l.signer.Name(), Size: n, Root: root}
	signed, err := note.Sign(&note.Note{Text: cp.Text()}, l.signer)
	if err != nil {
		return 0, fmt.Errorf("audit: sign checkpoint: %w", err)
	}
	sink.Put(keySize, binary.BigEndian.AppendUint64(nil, uint64(n)))
	sink.Put(keyCheckpoint, signed)
	fr := make(map[int64]tlog.Hash)
	for _, idx := range compactRange(n) {
		fr[idx] = overlay[idx]
	}
	l.pending = &pending{size: n, fringe: fr}
	return first, nil
}

// Done ends the append in progress: err nil means its batch was written.
// Done without a pending append does nothing.
func (l *Log) Done(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.pending; p != nil && err == nil {
		l.size, l.fringe = p.size, p.fringe
	}
	l.pending = nil
}

// RecordBytes returns the stored encoding of record i.
func (l *Log) RecordBytes(i int64) ([]byte, error) {
	v, ok, err := l.src.Lookup(leafKey(i))
	if err != nil {
		return nil, fmt.Errorf("audit: read record %d: %w", i, err)
	}
	if !ok {
		return nil, fmt.Errorf("audit: record %d not found", i)
	}
	return v, nil
}

// Record returns record i, decoded.
func (l *Log) Record(i int64) (*Record, error) {
	data, err := l.RecordBytes(i)
	if err != nil {
		return nil, err
	}
	r, err := DecodeRecord(data)
	if err != nil {
		return nil, fmt.Errorf("record %d: %w", i, err)
	}
	return r, nil
}

// Checkpoint returns the latest signed checkpoint (nil if the log is empty).
func (l *Log) Checkpoint() ([]byte, error) {
	v, ok, err := l.src.Lookup(keyCheckpoint)
	if err != nil {
		return nil, fmt.Errorf("audit: read checkpoint: %w", err)
	}
	if !ok {
		return nil, nil
	}
	return v, nil
}

// TreeHash returns the root of the first n records, computed from the
// stored hashes.
func (l *Log) TreeHash(n int64) (tlog.Hash, error) {
	if n < 0 || n > l.Size() {
		return tlog.Hash{}, fmt.Errorf("audit: tree size %d outside 0..%d", n, l.Size())
	}
	return tlog.TreeHash(n, l)
}

// ProveRecord returns the inclusion proof of record i in the tree of size t
// (0 ≤ i < t ≤ Size).
func (l *Log) ProveRecord(i, t int64) (tlog.RecordProof, error) {
	if i < 0 || t <= i || t > l.Size() {
		return nil, fmt.Errorf("audit: no proof of record %d in a tree of %d (log size %d)", i, t, l.Size())
	}
	return tlog.ProveRecord(t, i, l)
}

// ProveTree returns the consistency proof that the tree of size n is a
// prefix of the tree of size t (1 ≤ n ≤ t ≤ Size).
func (l *Log) ProveTree(t, n int64) (tlog.TreeProof, error) {
	if n < 1 || t < n || t > l.Size() {
		return nil, fmt.Errorf("audit: no consistency proof from size %d to %d (log size %d)", n, t, l.Size())
	}
	return tlog.ProveTree(t, n, l)
}
