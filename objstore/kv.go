package objstore

import (
	"errors"
	"slices"
)

// ErrNotFound is returned when a key, object or ref does not exist.
var ErrNotFound = errors.New("objstore: not found")

// ErrClosed is returned by a KV or Store used after Close.
var ErrClosed = errors.New("objstore: closed")

// KV is the ordered key-value engine under the store: RocksDB in
// objstore/rocksdb, MemKV for tests of the layers above. Conformance is
// checked by objstore/kvtest, which every implementation runs.
//
// Contract:
//   - Get returns a copy of the value that the caller owns, or an error
//     wrapping ErrNotFound.
//   - Scan calls fn for each key with the prefix in ascending byte order
//     (with one exception in a sealed KV: keys under 'g' 'o', git object
//     ids, come in no particular order; see SealKV). The
//     key and value slices are valid only during the call; fn may not write to
//     the KV. An error from fn stops the scan and is returned as is.
//   - Write applies a Batch atomically: after a crash either all of its
//     operations are visible or none. A put's value is its op's Head
//     followed by its Value (Batch.PutParts; BatchOp.Joined): a KV that
//     stored Value alone would lose a blob's encoding byte. With sync it
//     returns only after the batch is durable (fsync); concurrent synced
//     writes may share one fsync. Without sync it survives a process
//     crash, not a power cut.
//   - All methods are safe for concurrent use. Close waits for nothing: the
//     caller stops using the KV first.
type KV interface {
	Get(key []byte) ([]byte, error)
	Has(key []byte) (bool, error)
	Scan(prefix []byte, fn func(key, value []byte) error) error
	Write(b *Batch, sync bool) error
	Close() error
}

// Snapshotter is a KV that can pin a consistent read view. Reads through a
// snapshot see neither later writes nor later deletions (gc), until Release.
type Snapshotter interface {
	Snapshot() (KVReader, error)
}

// UncachedGetter is an optional ability of a KV: Get without filling the
// engine's block cache, for values read once (the blobs of a clone's
// pack). Filling a cache is the costly part of such reads: on the 2-core
// machines measured, the first touch of fresh memory costs about 3.4 ms
// per MiB, and a clone of a 70 MiB history spent 0.35 s of its 0.37 s of
// reading putting blocks into RocksDB's cache.
type UncachedGetter interface {
	GetUncached(key []byte) ([]byte, error)
}

// getUncached is kv.GetUncached where kv has it, else kv.Get.
func getUncached(kv interface{ Get([]byte) ([]byte, error) }, key []byte) ([]byte, error) {
	if u, ok := kv.(UncachedGetter); ok {
		return u.GetUncached(key)
	}
	return kv.Get(key)
}

// KVReader is a read-only view of a KV.
type KVReader interface {
	Get(key []byte) ([]byte, error)
	Has(key []byte) (bool, error)
	Scan(prefix []byte, fn func(key, value []byte) error) error
	Release()
}

// MultiHaser is a KV that answers many Has questions in one call (the
// writer checks every new object of a commit at once).
type MultiHaser interface {
	MultiHas(keys [][]byte) ([]bool, error)
}

// MultiGetter is a KV that reads many keys in one call (a fetch reads the
// git entries of a tree's entries at once). A missing key's value is nil.
type MultiGetter interface {
	MultiGet(keys [][]byte) ([][]byte, error)
}

// Ingester is a KV that can add a large batch of puts straight to its
// table files, bypassing the write-ahead log and the memory tables (RocksDB's
// external file ingestion): a bulk load, such as the objects of a big push,
// then costs one sorted write of the data instead of a log write, a memory
// table insert, a flush and compactions. Ingest applies the puts of b
// atomically and durably: when it returns they survive a power cut, like a
// synced Write. b must hold puts only; a key put twice keeps its last value.
// Ingest may reorder b's operations. Safe for concurrent use.
type Ingester interface {
	Ingest(b *Batch) error
}

// Compactor is a KV that can flush its memory tables and compact its files,
// so that measurements of bytes written include the engine's own work and gc
// returns space.
type Compactor interface {
	Flush() error
	Compact() error
}

// LazyCompactor is a Compactor that defers work while it is busy (RocksDB
// leaves the files of a bulk load for later) and says when some is left:
// a long-running owner (helios serve) compacts at a quiet moment, so that a
// clone right after a push does not share the machine with a compaction.
type LazyCompactor interface {
	Compactor
	CompactionPending() bool
	// Settle does the deferred work the way the engine would have (not a
	// full Compact, which rewrites everything).
	Settle() error
}

// Statser is a KV that reports engine statistics (sizes, bytes written).
type Statser interface {
	Stats() map[string]int64
}

// Batch collects puts and deletes for one atomic KV.Write. It is not safe for
// concurrent use. It keeps the key and value slices it is given, without a
// copy (the commit path hands it fresh buffers): the caller must not modify
// them until the batch has been written or reset.
type Batch struct {
	ops  []BatchOp
	size int
	// Tables is how many table files an Ingester may build this batch
	// into at once, one per core (0 or 1: one). A Writer asks for more
	// only when the rest of its work is done (the end of a push), as more
	// files bring level 0's compaction nearer.
	Tables int
}

// BatchOp is one operation of a Batch; Delete ops have a nil Value. A
// put's value is Head followed by Value (PutParts): a KV joins them where
// it must, or writes both parts.
type BatchOp struct {
	Key, Head, Value []byte
	Delete           bool
}

// Joined returns the put's whole value (Head and Value in one slice).
func (op *BatchOp) Joined() []byte {
	if len(op.Head) == 0 {
		return op.Value
	}
	return append(append(make([]byte, 0, len(op.Head)+len(op.Value)), op.Head...), op.Value...)
}

// Put adds a put of key → value.
func (b *Batch) Put(key, value []byte) { b.PutParts(key, nil, value) }

// PutParts adds a put of key → head followed by value, without joining
// them: a blob's content is stored behind a one-byte encoding, and the
// bytes of a big push's blobs are then not copied once more to get it.
func (b *Batch) PutParts(key, head, value []byte) {
	if value == nil {
		value = []byte{}
	}
	b.ops = append(b.ops, BatchOp{Key: key, Head: head, Value: value})
	b.size += len(key) + len(head) + len(value)
}

// Grow makes room for n more operations (a big batch then grows once).
func (b *Batch) Grow(n int) { b.ops = slices.Grow(b.ops, n) }

// Delete adds a delete of key.
func (b *Batch) Delete(key []byte) {
	b.ops = append(b.ops, BatchOp{Key: key, Delete: true})
	b.size += len(key)
}

// Ops returns the operations in order; the slice is owned by the batch.
func (b *Batch) Ops() []BatchOp { return b.ops }

// Len is the number of operations.
func (b *Batch) Len() int { return len(b.ops) }

// Size is the number of key and value bytes in the batch.
func (b *Batch) Size() int { return b.size }

// Reset empties the batch for reuse.
func (b *Batch) Reset() {
	clear(b.ops)
	b.ops = b.ops[:0]
	b.size = 0
}

func clone(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
