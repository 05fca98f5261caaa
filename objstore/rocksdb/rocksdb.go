// Package rocksdb is the objstore.KV engine on RocksDB (grocksdb v1.7.14
// against Debian's librocksdb 7.8.3). It is the only package that imports
// grocksdb.
//
// Settings, and why:
//   - WAL on; a write without sync survives a process crash (RocksDB's
//     default point-in-time recovery), a synced write survives a power cut.
//     Concurrent synced writes join one write group and share one fsync:
//     that is the store's group commit.
//   - LZ4 for upper levels, ZSTD for the bottommost level: trees and source
//     files compress well, and LZ4 keeps flushes cheap.
//   - A 10-bit Bloom filter per table: most Has checks on the commit path are
//     for new objects and answer "absent" without reading a block.
//   - max_open_files = -1: every table file stays open, so a read-only
//     instance opened by another process keeps reading the files it opened
//     even after the writer's gc and compaction delete them.
//   - A small info LOG (two files of 1 MiB at most).
//   - Level 0 compacts from 12 files, not 4: a push's ingested files wait
//     for the owner's quiet moment (CompactionPending; helios serve).
//   - A writer names its files through its own handle on the directory
//     (/proc/self/fd/N, pinDir), so a store removed and made again at the
//     same path is never touched by a process still holding the old one;
//     RocksDB's in-process guard against a second writer, which goes by
//     path, is kept by directory identity instead (holdDir).
//   - GetUncached reads without filling the block cache. That pays for
//     values of about a block (a clone's blobs: 355 ms to scan 69 MB cold
//     with the cache, 20 ms without, fresh memory being the cost), not for
//     small ones: a clone's tree and mapping reads through it took the
//     cold clone from 1.15 s to 1.65 s (many values share a block).
//
// RocksDB allows one writing process per database; Open waits for the lock
// for Options.LockWait, calling Options.OnWait once, before it gives up.
package rocksdb

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helios-vcs/helios/objstore"
	"github.com/linxGnu/grocksdb"
	"golang.org/x/sys/unix"
)

var (
	_ objstore.KV             = (*KV)(nil)
	_ objstore.Snapshotter    = (*KV)(nil)
	_ objstore.Compactor      = (*KV)(nil)
	_ objstore.Statser        = (*KV)(nil)
	_ objstore.MultiHaser     = (*KV)(nil)
	_ objstore.MultiGetter    = (*KV)(nil)
	_ objstore.Ingester       = (*KV)(nil)
	_ objstore.UncachedGetter = (*KV)(nil)
	_ objstore.LazyCompactor  = (*KV)(nil)
)

// ErrLocked is returned by Open when another process holds the database's
// write lock for longer than Options.LockWait.
var ErrLocked = errors.New("rocksdb: store is locked by another process")

// Options configure Open.
type Options struct {
	// Create makes the database if it does not exist.
	Create bool
	// ReadOnly opens without the write lock; writes fail.
	ReadOnly bool
	// LockWait is how long to wait for another process's write lock.
	LockWait time.Duration
	// OnWait, if set, is called once when Open starts waiting for the lock.
	OnWait func()
	// CacheBytes is the block cache size (default 64 MiB).
	CacheBytes uint64
}

// KV is a RocksDB database. It is safe for concurrent use.
type KV struct {
	dir      string // the path RocksDB was given: a writer's pinned one
	pin      int    // a writer's handle on its directory (pinDir), else -1
	db       *grocksdb.DB
	opts     *grocksdb.Options
	bbto     *grocksdb.BlockBasedTableOptions
	ro       *grocksdb.ReadOptions
	ronce    *grocksdb.ReadOptions // fill_cache off: GetUncached
	wo, wso  *grocksdb.WriteOptions
	readOnly bool
	// unsettled: a read-only instance whose MANIFEST changed while it was
	// opened (see openReadOnly).
	unsettled bool
	ingested  atomic.Uint64 // names the table files Ingest writes

	mu     sync.RWMutex // guards closed against Close racing other calls
	closed bool
}

// Table options of the database and of the files Ingest writes.
const (
	blockSize = 16 << 10
	bloomBits = 10
	// level0Trigger is the number of level-0 files that starts a
	// compaction (RocksDB's default is 4).
	level0Trigger = 12
)

// Open opens (or with Create makes) the database in dir.
func Open(dir string, o Options) (*KV, error) {
	opts := grocksdb.NewDefaultOptions()
	opts.SetCreateIfMissing(o.Create)
	opts.SetMaxOpenFiles(-1)
	opts.SetCompression(grocksdb.LZ4Compression)
	opts.SetBottommostCompression(grocksdb.ZSTDCompression)
	// The info log is not size-rolled: a rolling logger trims old files
	// when it opens, and two processes opening the store at once (a push
	// and a read-only fetch) then race to unlink the same file and one
	// fails to open. A writer's own purge keeps two old logs, ignoring
	// such races; at warning level the log stays small.
	opts.SetKeepLogFileNum(2)
	opts.SetMaxLogFileSize(0)
	// The write-ahead log is not compressed. ZSTD WAL compression made a
	// snapshot's log record a third smaller, but with it RocksDB 7.8.3
	// sometimes refused to open the store after the writer was killed
	// ("Corruption: bad WriteBatch Put": a torn tail of the compressed log
	// decoded into a malformed batch instead of being dropped). The SIGKILL
	// test (crash_test.go) failed in 2 of about 50 runs with it, in none
	// without; RocksDB fixed several such recovery bugs of compressed logs
	// after 7.8. A store that cannot open after a crash is worse than
	// 500 more bytes per snapshot.
	opts.SetInfoLogLevel(grocksdb.WarnInfoLogLevel)
	opts.SetStatsDumpPeriodSec(0)
	opts.SetLevelCompactionDynamicLevelBytes(true)
	opts.SetMaxBackgroundJobs(2)
	// A push ingests its objects as overlapping table files into level 0
	// (16 MiB each, see storeremote); RocksDB's default compacts from 4 of
	// them, during and right after the push, when a clone may be waiting.
	// From 12 on it still does (a push of more than about 190 MiB); below
	// that the files stay until the owner compacts at a quiet moment
	// (CompactionPending; helios serve does) or gc does.
	opts.SetLevel0FileNumCompactionTrigger(level0Trigger)
	opts.SetWriteBufferSize(32 << 20)
	// Table files are opened (MaxOpenFiles -1: all of them, at Open) by
	// as many threads as there are cores, not RocksDB's 16: each thread
	// costs its creation whether there are files or not, and on the
	// virtual machines measured 16 of them were about 6 ms of a fresh
	// store's 21 ms Open, which a server pays before its first request.
	opts.SetMaxFileOpeningThreads(min(runtime.NumCPU(), 16))
	bbto := grocksdb.NewDefaultBlockBasedTableOptions()
	bbto.SetFilterPolicy(grocksdb.NewBloomFilter(bloomBits))
	cache := o.CacheBytes
	if cache == 0 {
		cache = 64 << 20
	}
	bbto.SetBlockCache(grocksdb.NewLRUCache(cache))
	bbto.SetBlockSize(blockSize)
	opts.SetBlockBasedTableFactory(bbto)

	var db *grocksdb.DB
	var err error
	var unsettled bool
	deadline := time.Now().Add(o.LockWait)
	waited := false
	// A writer reaches its files through its own handle on the directory
	// (pinDir), so that a store removed and made again at the same path
	// while this process runs is never touched by it.
	path, pin := dir, -1
	if !o.ReadOnly {
		if o.Create {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				opts.Destroy()
				bbto.Destroy()
				return nil, fmt.Errorf("rocksdb: %w", err)
			}
		}
		path, pin = pinDir(dir)
	}
	for {
		if o.ReadOnly {
			db, unsettled, err = openReadOnly(opts, dir)
		} else if err = holdDir(pin); err == nil {
			if db, err = grocksdb.OpenDb(opts, path); err != nil {
				releaseDir(pin)
			}
		}
		if err == nil || !isLockError(err) || time.Now().After(deadline) {
			break
		}
		if !waited && o.OnWait != nil {
			o.OnWait()
		}
		waited = true
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		opts.Destroy()
		bbto.Destroy()
		if pin >= 0 {
			unix.Close(pin)
		}
		if isLockError(err) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("rocksdb: open %q: %s", dir, strings.ReplaceAll(err.Error(), path, dir))
	}
	wso := grocksdb.NewDefaultWriteOptions()
	wso.SetSync(true)
	ronce := grocksdb.NewDefaultReadOptions()
	ronce.SetFillCache(false)
	if !o.ReadOnly {
		removeIngestLeftovers(path)
	}
	return &KV{
		dir: path, pin: pin, db: db, opts: opts, bbto: bbto, readOnly: o.ReadOnly, unsettled: unsettled,
		ro: grocksdb.NewDefaultReadOptions(), ronce: ronce,
		wo: grocksdb.NewDefaultWriteOptions(), wso: wso,
	}, nil
}

// pinDir opens a handle on the database directory and returns the path
// that reaches the directory through it (/proc/self/fd/N), for RocksDB to
// use instead of dir. A writer deletes the table and log files it no longer
// lists, by name, in its directory: given the plain path, a server left
// running on a store that was removed and made again at the same path (rm
// -rf STORE; helios init STORE) deleted the new store's table files and
// broke it. Through the handle every name resolves in the directory the
// writer opened, even once that is gone, so the worst such a process can
// do is fail its own writes. Without /proc (or on any failure) it returns
// dir and -1.
func pinDir(dir string) (string, int) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return dir, -1
	}
	p := fmt.Sprintf("/proc/self/fd/%d", fd)
	if st, err := os.Stat(p); err != nil || !st.IsDir() {
		unix.Close(fd)
		return dir, -1
	}
	return p, fd
}

// RocksDB's lock file keeps other processes out; its guard within one
// process is a table of the paths it opened, which the pinned paths (one
// per handle) defeat. held is that table by directory identity instead,
// which a second name for the same directory does not get around either.
var (
	heldMu sync.Mutex
	held   = map[[2]uint64]bool{}
)

// errHeld is what holdDir reports; it reads as RocksDB's own lock error
// (isLockError), so Open waits and then fails with ErrLocked.
var errHeld = errors.New("lock hold by current process")

func dirID(fd int) ([2]uint64, bool) {
	var st unix.Stat_t
	if fd < 0 || unix.Fstat(fd, &st) != nil {
		return [2]uint64{}, false
	}
	return [2]uint64{st.Dev, st.Ino}, true
}

// holdDir marks the pinned directory as opened for writing by this
// process.
func holdDir(fd int) error {
	id, ok := dirID(fd)
	if !ok {
		return nil
	}
	heldMu.Lock()
	defer heldMu.Unlock()
	if held[id] {
		return errHeld
	}
	held[id] = true
	return nil
}

func releaseDir(fd int) {
	if id, ok := dirID(fd); ok {
		heldMu.Lock()
		delete(held, id)
		heldMu.Unlock()
	}
}

// openReadOnly opens a read-only instance and says whether the writer
// changed the database while it did. A read-only open reads the MANIFEST
// (which table files hold what) and then replays the write-ahead logs; a
// writer that records a new version between the two makes a view no writer
// ever had: a table file ingested after the MANIFEST was read is missing
// while a log write that followed it is present (a push's ref without its
// objects), and a memory table flushed to a new table file, its log
// deleted, is in neither. The MANIFEST's name, size and time are read
// before and after the open; when they differ, KV.Unsettled is true and
// the caller checks what it needs and opens again if that is missing
// (objstore.Store.CheckRefTargets, as cmd/internal/storedir does). A busy
// writer changes the MANIFEST often (an ingestion per 4 MiB of a push), so
// a change alone is no reason to open again.
func openReadOnly(opts *grocksdb.Options, dir string) (db *grocksdb.DB, unsettled bool, err error) {
	before, err := manifestState(dir)
	if err != nil {
		return nil, false, err
	}
	if db, err = grocksdb.OpenDbForReadOnly(opts, dir, false); err != nil {
		return nil, false, err
	}
	after, err := manifestState(dir)
	return db, err != nil || after != before, nil
}

// Unsettled reports that the writer changed the database while this
// read-only instance was opened, so its view may mix two versions (see
// openReadOnly).
func (k *KV) Unsettled() bool { return k.unsettled }

// manifestState names the database's current MANIFEST and its size and
// modification time: it changes whenever the writer records a new version
// (an ingestion, a flush, a compaction) or starts a new MANIFEST.
func manifestState(dir string) (string, error) {
	cur, err := os.ReadFile(filepath.Join(dir, "CURRENT"))
	if err != nil {
		return "", fmt.Errorf("rocksdb: %w", err)
	}
	name := strings.TrimSpace(string(cur))
	fi, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		return "", fmt.Errorf("rocksdb: %w", err)
	}
	return fmt.Sprintf("%s %d %d", name, fi.Size(), fi.ModTime().UnixNano()), nil
}

// isLockError recognises RocksDB's "lock held" failure. RocksDB reports it
// only as text ("IO error: While lock file: .../LOCK: Resource temporarily
// unavailable"), so the text is all there is to match.
func isLockError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "lock") && (strings.Contains(s, "Resource temporarily unavailable") || strings.Contains(s, "No locks available") || strings.Contains(s, "lock hold by current process"))
}

func (k *KV) check() error {
	if k.closed {
		return objstore.ErrClosed
	}
	return nil
}

func (k *KV) Get(key []byte) ([]byte, error) { return k.getWith(k.ro, key) }

// GetUncached is Get without putting the blocks it reads into the block
// cache (objstore.UncachedGetter): for values read once, such as the blobs
// of a clone's pack.
func (k *KV) GetUncached(key []byte) ([]byte, error) { return k.getWith(k.ronce, key) }

func (k *KV) getWith(ro *grocksdb.ReadOptions, key []byte) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if err := k.check(); err != nil {
		return nil, err
	}
	return get(k.db, ro, key)
}

// get copies the value once, from where RocksDB holds it (the block in
// the cache, or the one read for an uncached Get) into Go memory: a plain
// Get copies it into C memory first (a clone reads 80 MB of blobs).
func get(db *grocksdb.DB, ro *grocksdb.ReadOptions, key []byte) ([]byte, error) {
	s, err := db.GetPinned(ro, key)
	if err != nil {
		return nil, fmt.Errorf("rocksdb: get: %w", err)
	}
	defer s.Destroy()
	if !s.Exists() {
		// Bare: a push looks up every id it offers, most of them missing,
		// and callers say what they looked for.
		return nil, objstore.ErrNotFound
	}
	return bytes.Clone(s.Data()), nil
}

func (k *KV) Has(key []byte) (bool, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if err := k.check(); err != nil {
		return false, err
	}
	return has(k.db, k.ro, key)
}

func has(db *grocksdb.DB, ro *grocksdb.ReadOptions, key []byte) (bool, error) {
	h, err := db.GetPinned(ro, key)
	if err != nil {
		return false, fmt.Errorf("rocksdb: get: %w", err)
	}
	defer h.Destroy()
	return h.Exists(), nil
}

func (k *KV) Scan(prefix []byte, fn func(key, value []byte) error) error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if err := k.check(); err != nil {
		return err
	}
	return scan(k.db, k.ro, prefix, fn)
}

func scan(db *grocksdb.DB, base *grocksdb.ReadOptions, prefix []byte, fn func(key, value []byte) error) error {
	it := db.NewIterator(base)
	defer it.Close()
	for it.Seek(prefix); it.Valid(); it.Next() {
		kk := it.Key()
		key := kk.Data()
		if !bytes.HasPrefix(key, prefix) {
			kk.Free()
			break
		}
		v := it.Value()
		err := fn(key, v.Data())
		kk.Free()
		v.Free()
		if err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("rocksdb: scan: %w", err)
	}
	return nil
}

func (k *KV) Write(b *objstore.Batch, sync bool) error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if err := k.check(); err != nil {
		return err
	}
	if k.readOnly {
		return errors.New("rocksdb: write to a read-only store")
	}
	// Serialize the batch in RocksDB's WriteBatch format here and hand it
	// over in one cgo call, instead of one call per operation.
	wb := grocksdb.WriteBatchFrom(encodeBatch(b))
	defer wb.Destroy()
	wo := k.wo
	if sync {
		wo = k.wso
	}
	if err := k.db.Write(wo, wb); err != nil {
		return fmt.Errorf("rocksdb: write: %w", err)
	}
	return nil
}

// encodeBatch writes b in RocksDB's WriteBatch representation: a 12-byte
// header (sequence number, 8 bytes, filled in by the DB; count, 4 bytes
// little-endian), then per record a type byte (1 put, 0 delete) and
// varint32-length-prefixed key (and value).
func encodeBatch(b *objstore.Batch) []byte {
	ops := b.Ops()
	rep := make([]byte, 12, 12+b.Size()+len(ops)*11)
	binary.LittleEndian.PutUint32(rep[8:], uint32(len(ops)))
	for _, op := range ops {
		if op.Delete {
			rep = append(rep, 0)
			rep = binary.AppendUvarint(rep, uint64(len(op.Key)))
			rep = append(rep, op.Key...)
			continue
		}
		rep = append(rep, 1)
		rep = binary.AppendUvarint(rep, uint64(len(op.Key)))
		rep = append(rep, op.Key...)
		rep = binary.AppendUvarint(rep, uint64(len(op.Head)+len(op.Value)))
		rep = append(rep, op.Head...)
		rep = append(rep, op.Value...)
	}
	return rep
}

// ingestPrefix starts the names of the table files Ingest writes in the
// database directory before RocksDB takes them over. RocksDB ignores names
// it did not make; a file left by a crash between the write and the
// ingestion is removed by the next writable Open.
const ingestPrefix = "helios-ingest-"

func removeIngestLeftovers(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ingestPrefix) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Ingest writes the puts of b, sorted, into one table file with RocksDB's
// SstFileWriter (tableWriter: the database's table options, the file left
// in the page cache) and ingests it (IngestExternalFile, the file moved into the
// database). The file and its directory are synced before the MANIFEST
// names it, and the MANIFEST write is synced: the puts are durable when
// Ingest returns, whatever the write-ahead log settings. An ingestion is
// atomic: after a crash the file is either part of the database or not.
func (k *KV) Ingest(b *objstore.Batch) error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if err := k.check(); err != nil {
		return err
	}
	if k.readOnly {
		return errors.New("rocksdb: ingest into a read-only store")
	}
	ops := b.Ops()
	for _, op := range ops {
		if op.Delete {
			return errors.New("rocksdb: ingest: batch holds a delete")
		}
	}
	if len(ops) == 0 {
		return nil
	}
	order := keyOrder(ops)
	// The last put of each key, in key order.
	last := order[:0]
	for j, i := range order {
		if j+1 < len(order) && bytes.Equal(ops[i].Key, ops[order[j+1]].Key) {
			continue
		}
		last = append(last, i)
	}
	// Several table files (b.Tables) are built at once over adjacent key
	// ranges of about equal bytes, and ingested together.
	parts := splitBySize(last, ops, max(b.Tables, 1))
	paths := make([]string, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for p, part := range parts {
		paths[p] = filepath.Join(k.dir, fmt.Sprintf("%s%d-%d.sst", ingestPrefix, os.Getpid(), k.ingested.Add(1)))
		defer os.Remove(paths[p]) // moved into the database on success
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[p] = writeTable(paths[p], ops, part)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rocksdb: ingest: %w", err)
	}
	io := grocksdb.NewDefaultIngestExternalFileOptions()
	defer io.Destroy()
	io.SetMoveFiles(true)
	if err := k.db.IngestExternalFile(paths, io); err != nil {
		return fmt.Errorf("rocksdb: ingest: %w", err)
	}
	return nil
}

// keyOrder returns the positions of ops in the order of their keys; equal
// keys keep their order, so that the last put of a key can win. The table
// wants its keys in order. Sorting positions, not the ops themselves,
// moves 12 bytes a swap instead of a 56-byte op, and each position carries
// its key's first 8 bytes: nearly every comparison is of two integers in
// the slice being sorted, not of two keys elsewhere in memory (a push's
// 100k keys, hashes behind a one-byte prefix, sorted in a third of the
// time).
func keyOrder(ops []objstore.BatchOp) []int32 {
	type pos struct {
		head uint64 // the key's first 8 bytes, big-endian, zero-padded
		i    int32
	}
	ps := make([]pos, len(ops))
	for i := range ops {
		var b [8]byte
		copy(b[:], ops[i].Key)
		ps[i] = pos{binary.BigEndian.Uint64(b[:]), int32(i)}
	}
	slices.SortFunc(ps, func(a, b pos) int {
		if c := cmp.Compare(a.head, b.head); c != 0 {
			return c
		}
		if c := bytes.Compare(ops[a.i].Key, ops[b.i].Key); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	order := make([]int32, len(ps))
	for j, p := range ps {
		order[j] = p.i
	}
	return order
}

// splitBySize cuts order into at most n runs of about equal key and value
// bytes (fewer when there are fewer keys than n).
func splitBySize(order []int32, ops []objstore.BatchOp, n int) [][]int32 {
	total := 0
	for _, i := range order {
		total += len(ops[i].Key) + len(ops[i].Head) + len(ops[i].Value)
	}
	var parts [][]int32
	start, sum := 0, 0
	for j, i := range order {
		sum += len(ops[i].Key) + len(ops[i].Head) + len(ops[i].Value)
		if len(parts) < n-1 && sum*n >= total*(len(parts)+1) {
			parts = append(parts, order[start:j+1])
			start = j + 1
		}
	}
	if start < len(order) {
		parts = append(parts, order[start:])
	}
	return parts
}

// writeTable writes the puts order names, in that (key) order, into a new
// table file at path, synced.
func writeTable(path string, ops []objstore.BatchOp, order []int32) error {
	w, err := openTableWriter(path)
	if err != nil {
		return err
	}
	defer w.destroy()
	for _, i := range order {
		op := ops[i]
		if err := w.put(op.Key, op.Head, op.Value); err != nil {
			return err
		}
	}
	return w.finish()
}

// MultiHas looks up many keys in one call (multiGet).
func (k *KV) MultiHas(keys [][]byte) ([]bool, error) {
	lens, _, err := k.multiGet(keys, false)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(keys))
	for i, l := range lens {
		out[i] = l >= 0
	}
	return out, nil
}

// MultiGet reads many keys in one call (multiGet). A missing key's value
// is nil, a present one's never is; the values share one buffer, each
// capped at its own length.
func (k *KV) MultiGet(keys [][]byte) ([][]byte, error) {
	lens, vals, err := k.multiGet(keys, true)
	if err != nil {
		return nil, err
	}
	if vals == nil {
		vals = []byte{} // an empty value is not nil
	}
	out := make([][]byte, len(keys))
	off := 0
	for i, l := range lens {
		if l < 0 {
			continue
		}
		out[i] = vals[off : off+l : off+l]
		off += l
	}
	return out, nil
}

// multiGet is the package's multiGet under the database's read lock.
func (k *KV) multiGet(keys [][]byte, values bool) ([]int, []byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if err := k.check(); err != nil {
		return nil, nil, err
	}
	lens, vals, err := multiGet(k.db, k.ro, keys, values)
	if err != nil {
		return nil, nil, fmt.Errorf("rocksdb: multiget: %w", err)
	}
	return lens, vals, nil
}

// Snapshot pins the current state of the database for reads.
func (k *KV) Snapshot() (objstore.KVReader, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if err := k.check(); err != nil {
		return nil, err
	}
	snap := k.db.NewSnapshot()
	ro := grocksdb.NewDefaultReadOptions()
	ro.SetSnapshot(snap)
	return &snapshot{kv: k, snap: snap, ro: ro}, nil
}

type snapshot struct {
	kv   *KV
	snap *grocksdb.Snapshot
	ro   *grocksdb.ReadOptions
	once sync.Once
}

func (s *snapshot) Get(key []byte) ([]byte, error) {
	s.kv.mu.RLock()
	defer s.kv.mu.RUnlock()
	if err := s.kv.check(); err != nil {
		return nil, err
	}
	return get(s.kv.db, s.ro, key)
}

func (s *snapshot) Has(key []byte) (bool, error) {
	s.kv.mu.RLock()
	defer s.kv.mu.RUnlock()
	if err := s.kv.check(); err != nil {
		return false, err
	}
	return has(s.kv.db, s.ro, key)
}

func (s *snapshot) Scan(prefix []byte, fn func(key, value []byte) error) error {
	s.kv.mu.RLock()
	defer s.kv.mu.RUnlock()
	if err := s.kv.check(); err != nil {
		return err
	}
	return scan(s.kv.db, s.ro, prefix, fn)
}

func (s *snapshot) Release() {
	s.once.Do(func() {
		s.kv.mu.RLock()
		defer s.kv.mu.RUnlock()
		if !s.kv.closed {
			s.kv.db.ReleaseSnapshot(s.snap)
		}
		s.ro.Destroy()
	})
}

// Flush writes the memtables to table files.
func (k *KV) Flush() error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if err := k.check(); err != nil {
		return err
	}
	fo := grocksdb.NewDefaultFlushOptions()
	defer fo.Destroy()
	fo.SetWait(true)
	if err := k.db.Flush(fo); err != nil {
		return fmt.Errorf("rocksdb: flush: %w", err)
	}
	return nil
}

// Compact compacts the whole key range, dropping deleted keys' space.
func (k *KV) Compact() error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if err := k.check(); err != nil {
		return err
	}
	k.db.CompactRange(grocksdb.Range{})
	return nil
}

// CompactionPending reports files that a compaction would merge: more than
// one in level 0 (a push's ingested files, memory tables flushed since).
func (k *KV) CompactionPending() bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.closed || k.readOnly {
		return false
	}
	return k.level0Files() > 1
}

// level0Files is the number of table files in level 0 (0 when RocksDB
// does not say). The caller holds mu.
func (k *KV) level0Files() int {
	n, _ := strconv.Atoi(k.db.GetProperty("rocksdb.num-files-at-level0"))
	return n
}

// Settle does now the compaction RocksDB defers below level0Trigger, the
// way RocksDB itself would do it: level 0 into the next level. (Compact,
// gc's full compaction, rewrites every level down to the bottom: after a
// push into a store of gigabytes, all of them.) It lowers the trigger,
// waits until level 0 holds one file at most and no compaction is pending
// or running, and puts the trigger back. It returns early, with nil, when
// the database closes.
func (k *KV) Settle() error {
	set := func(n int) error {
		k.mu.RLock()
		defer k.mu.RUnlock()
		if k.closed {
			return objstore.ErrClosed
		}
		return k.db.SetOptions([]string{"level0_file_num_compaction_trigger"}, []string{strconv.Itoa(n)})
	}
	if err := set(1); err != nil {
		if errors.Is(err, objstore.ErrClosed) {
			return nil
		}
		return fmt.Errorf("rocksdb: settle: %w", err)
	}
	for {
		time.Sleep(50 * time.Millisecond)
		k.mu.RLock()
		if k.closed {
			k.mu.RUnlock()
			return nil
		}
		l0 := k.level0Files()
		pending, _ := k.db.GetIntProperty("rocksdb.compaction-pending")
		running, _ := k.db.GetIntProperty("rocksdb.num-running-compactions")
		k.mu.RUnlock()
		if l0 <= 1 && pending == 0 && running == 0 {
			break
		}
	}
	if err := set(level0Trigger); err != nil && !errors.Is(err, objstore.ErrClosed) {
		return fmt.Errorf("rocksdb: settle: %w", err)
	}
	return nil
}

// Stats reports sizes from RocksDB's properties.
func (k *KV) Stats() map[string]int64 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := map[string]int64{}
	if k.closed {
		return out
	}
	for _, p := range []string{"rocksdb.estimate-num-keys", "rocksdb.total-sst-files-size",
		"rocksdb.live-sst-files-size", "rocksdb.cur-size-all-mem-tables", "rocksdb.num-live-versions"} {
		if v, ok := k.db.GetIntProperty(p); ok {
			out[strings.TrimPrefix(p, "rocksdb.")] = int64(v)
		}
	}
	// Compaction and flush bytes written, from the cumulative stats line
	// "Cumulative compaction: X GB write, ..." is not exposed as an int
	// property in 7.8; report the level stats' total write instead.
	if s := k.db.GetProperty("rocksdb.cfstats-no-file-histogram"); s != "" {
		if v, ok := parseCompactionWrite(s); ok {
			out["compaction-write-bytes"] = v
		}
	}
	return out
}

// parseCompactionWrite finds "Cumulative compaction: 0.00 GB write" in the
// cfstats text and converts it to bytes (two decimals of GB: coarse).
func parseCompactionWrite(s string) (int64, bool) {
	const tag = "Cumulative compaction: "
	i := strings.Index(s, tag)
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+len(tag):])
	if len(f) < 2 || f[1] != "GB" {
		return 0, false
	}
	g, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, false
	}
	return int64(g * (1 << 30)), true
}

// Close closes the database. Snapshots must be released first; later calls
// fail with objstore.ErrClosed.
func (k *KV) Close() error {
	// A Compact in flight (gc's full compaction) holds the read lock:
	// stop it, so that closing does not wait for all of it. (Settle only
	// waits, and gives up once closed.)
	k.mu.RLock()
	if !k.closed && !k.readOnly {
		k.db.DisableManualCompaction()
	}
	k.mu.RUnlock()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	k.closed = true
	k.db.Close()
	if k.pin >= 0 {
		releaseDir(k.pin)
		unix.Close(k.pin)
	}
	k.ro.Destroy()
	k.ronce.Destroy()
	k.wo.Destroy()
	k.wso.Destroy()
	k.opts.Destroy()
	k.bbto.Destroy()
	return nil
}
