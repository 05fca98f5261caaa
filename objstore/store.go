package objstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helios-vcs/helios/nvme"
)

// Options configure a Store.
type Options struct {
	// CacheBytes bounds the L1 cache (default 64 MiB; negative disables it).
	CacheBytes int64
	// Durable makes every write fsync before it returns (group commit:
	// concurrent commits share one fsync). The default, like git's, survives a
	// process crash but not a power cut.
	Durable bool
	// Secret keys the IDs (encrypted stores); nil for a plain store.
	Secret []byte
	// Now is the clock for states made without a time (default time.Now).
	Now func() time.Time
	// Settings for Init; an existing store keeps the settings it was made with.
	Settings Settings
	// Tier is the block tier's segment log, required by stores made with a
	// TierThreshold (see tier.go). The Store closes it.
	Tier *nvme.Log
	// TierDevice, if set, is closed after Tier.
	TierDevice io.Closer
	// Journal, if set, records every ref change atomically with it (the
	// audit log; see journal.go).
	Journal Journal
	// Actor names who changes refs through this Store (the OS user, say);
	// the Journal records it unless a Writer or commit names another.
	Actor string
}

// Settings are fixed when a store is made and kept in it (key "m" "settings").
type Settings struct {
	Chunking Chunking `json:"chunking"`
	// TierThreshold > 0 keeps chunks of at least this many bytes in the
	// block tier (see tier.go); 0 keeps everything in the KV.
	TierThreshold int `json:"tier_threshold,omitempty"`
}

// DefaultSettings are used by Init when Options.Settings is zero.
var DefaultSettings = Settings{Chunking: DefaultChunking}

const formatMagic = "helios-store v1"

// ErrNotAStore is returned by Open for a KV that Init never set up.
var ErrNotAStore = errors.New("objstore: not a helios store")

// CorruptError reports a stored value that does not match its ID or cannot
// be decoded. Reads never return such data as good.
type CorruptError struct {
	Kind Kind
	ID   ID
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("objstore: corrupt %v %v: %v", e.Kind, e.ID.Short(), e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// ErrCorrupt is what every CorruptError wraps (errors.Is(err, ErrCorrupt)).
var ErrCorrupt = errors.New("stored bytes do not match their id")

// Store is the content-addressed state store. It is safe for concurrent
// use; writes that move refs are serialized in this process, and the KV's
// own lock keeps other processes out.
type Store struct {
	kv       KV
	tier     *nvme.Log
	hash     *Hasher
	cache    *Cache
	opts     Options
	settings Settings
	depths   treeDepths // delta chain depths (treedelta.go)

	// gcMu is held shared by every write and exclusively by gc and by
	// changes to symbolic refs; refLocks serialize compare-and-swap per ref
	// (striped by name); refCache holds direct refs' values as this process
	// last read or wrote them (guarded by the refs' stripe locks).
	gcMu     sync.RWMutex
	refLocks [refStripes]sync.Mutex
	refCache sync.Map
	journal  journalLock
	// gcEpoch counts completed sweeps; a Draft made before a sweep re-checks
	// that the unchanged objects it links to still exist (see Draft.Commit).
	gcEpoch atomic.Uint64
	// inflight holds the *Writers that have put objects not yet reachable
	// from a ref; gc keeps what they touched.
	inflight sync.Map

	stats struct {
		objectsWritten, bytesWritten, commits atomic.Int64
	}
}

// Init makes a new store on kv (or opens one that is already there).
func Init(kv KV, opts Options) (*Store, error) {
	v, err := kv.Get(metaKey("format"))
	switch {
	case err == nil && string(v) == formatMagic:
		return Open(kv, opts)
	case err == nil:
		return nil, fmt.Errorf("%w: format %q", ErrNotAStore, v)
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	st := opts.Settings
	if st == (Settings{}) {
		st = DefaultSettings
	}
	if err := st.Chunking.validate(); err != nil {
		return nil, err
	}
	sj, _ := json.Marshal(st)
	var b Batch
	b.Put(metaKey("format"), []byte(formatMagic))
	b.Put(metaKey("settings"), sj)
	b.Put(refKey("HEAD"), encodeSymbolic("refs/heads/main"))
	if err := kv.Write(&b, true); err != nil {
		return nil, fmt.Errorf("objstore: init: %w", err)
	}
	return Open(kv, opts)
}

// Open opens the store kept in kv. The Store owns kv and closes it.
func Open(kv KV, opts Options) (*Store, error) {
	v, err := kv.Get(metaKey("format"))
	if errors.Is(err, ErrNotFound) {
		return nil, ErrNotAStore
	}
	if err != nil {
		return nil, err
	}
	if string(v) != formatMagic {
		return nil, fmt.Errorf("%w: format %q", ErrNotAStore, v)
	}
	sj, err := kv.Get(metaKey("settings"))
	if err != nil {
		return nil, fmt.Errorf("objstore: settings: %w", err)
	}
	var st Settings
	if err := json.Unmarshal(sj, &st); err != nil {
		return nil, fmt.Errorf("objstore: settings: %w", err)
	}
	if err := st.Chunking.validate(); err != nil {
		return nil, err
	}
	if opts.CacheBytes == 0 {
		opts.CacheBytes = 64 << 20
	}
	if opts.CacheBytes < 0 {
		opts.CacheBytes = 0
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if st.TierThreshold > 0 && opts.Tier == nil {
		return nil, ErrTierRequired
	}
	h := plainHasher
	if opts.Secret != nil {
		h = NewHasher(opts.Secret)
	}
	s := &Store{kv: kv, hash: h, cache: NewCache(opts.CacheBytes), opts: opts, settings: st}
	if st.TierThreshold > 0 {
		s.tier = opts.Tier
	}
	return s, nil
}

// Close closes the store, its KV and its tier.
func (s *Store) Close() error {
	err := s.kv.Close()
	for _, c := range []io.Closer{s.opts.Tier, s.opts.TierDevice} {
		if c == nil || c == (*nvme.Log)(nil) {
			continue
		}
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// KV returns the engine under the store (for stats and benchmarks).
func (s *Store) KV() KV { return s.kv }

// Cache returns the L1 cache.
func (s *Store) Cache() *Cache { return s.cache }

// Hasher returns the store's ID function.
func (s *Store) Hasher() *Hasher { return s.hash }

// Settings returns the store's settings.
func (s *Store) Settings() Settings { return s.settings }

func metaKey(name string) []byte { return append([]byte{prefixMeta}, name...) }

// get reads an object's stored value.
func (s *Store) get(k Kind, id ID) ([]byte, error) {
	v, err := s.kv.Get(objectKey(k, id))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: %v %v", ErrNotFound, k, id)
	}
	return v, err
}

// getter is getOnce for a value read once, else get.
func (s *Store) getter(once bool) func(Kind, ID) ([]byte, error) {
	if once {
		return s.getOnce
	}
	return s.get
}

// getOnce is get through the KV's GetUncached, where it has one.
func (s *Store) getOnce(k Kind, id ID) ([]byte, error) {
	v, err := getUncached(s.kv, objectKey(k, id))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: %v %v", ErrNotFound, k, id)
	}
	return v, err
}

// Has reports whether the object of kind k with ID id is stored.
func (s *Store) Has(k Kind, id ID) (bool, error) {
	if _, ok := s.cache.Get(k, id); ok {
		return true, nil
	}
	ok, err := s.kv.Has(objectKey(k, id))
	if err == nil && !ok && k == KindChunk && s.tier != nil {
		return s.kv.Has(tierKey(id))
	}
	return ok, err
}

// Tree returns the tree with ID id, verified against its ID. The tree is
// shared: do not modify it.
func (s *Store) Tree(id ID) (*Tree, error) {
	if v, ok := s.cache.Get(KindTree, id); ok {
		return v.(*Tree), nil
	}
	b, err := s.get(KindTree, id)
	if err != nil {
		return nil, err
	}
	t, _, err := s.treeFromValue(id, b, true, maxTreeDepth)
	return t, err
}

// State returns the state with ID id, verified against its ID.
func (s *Store) State(id ID) (*State, error) {
	if v, ok := s.cache.Get(KindState, id); ok {
		return v.(*State), nil
	}
	b, err := s.get(KindState, id)
	if err != nil {
		return nil, err
	}
	if got := s.hash.Sum(KindState, b); got != id {
		return nil, &CorruptError{KindState, id, fmt.Errorf("%w: hashes to %v", ErrCorrupt, got.Short())}
	}
	st, err := DecodeState(b)
	if err != nil {
		return nil, &CorruptError{KindState, id, fmt.Errorf("%w: %w", ErrCorrupt, err)}
	}
	s.cache.Add(KindState, id, st, len(b)+128)
	return st, nil
}

// Blob returns a file's content, verified against its ID. The slice is
// shared with the cache: do not modify it.
func (s *Store) Blob(id ID) ([]byte, error) { return s.blob(id, false) }

// BlobOnce is Blob for a caller that reads many blobs once each (a clone's
// or a fetch's pack): it fills neither the store's object cache nor the
// KV's block cache (UncachedGetter). The content is the caller's.
func (s *Store) BlobOnce(id ID) ([]byte, error) { return s.blob(id, true) }

func (s *Store) blob(id ID, once bool) ([]byte, error) {
	if v, ok := s.cache.Get(KindBlob, id); ok {
		if once {
			return bytes.Clone(v.([]byte)), nil
		}
		return v.([]byte), nil
	}
	b, err := s.getter(once)(KindBlob, id)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, &CorruptError{KindBlob, id, fmt.Errorf("%w: empty value", ErrCorrupt)}
	}
	var content []byte
	switch b[0] {
	case blobInline:
		content = b[1:]
	case blobChunked:
		size, chunks, err := decodeChunkList(b)
		if err != nil {
			return nil, &CorruptError{KindBlob, id, fmt.Errorf("%w: %w", ErrCorrupt, err)}
		}
		content = make([]byte, 0, size)
		for _, c := range chunks {
			cb, err := s.chunk(c.ID, once)
			if errors.Is(err, ErrNotFound) {
				// The chunk list names a chunk the store never had (or lost).
				return nil, &CorruptError{KindBlob, id, fmt.Errorf("%w: chunk %v missing", ErrCorrupt, c.ID.Short())}
			}
			if err != nil {
				return nil, fmt.Errorf("objstore: blob %v: %w", id.Short(), err)
			}
			if len(cb) != c.Size {
				return nil, &CorruptError{KindChunk, c.ID, fmt.Errorf("%w: size %d, list says %d", ErrCorrupt, len(cb), c.Size)}
			}
			content = append(content, cb...)
		}
	default:
		return nil, &CorruptError{KindBlob, id, fmt.Errorf("%w: unknown blob format %d", ErrCorrupt, b[0])}
	}
	if got := s.hash.Sum(KindBlob, content); got != id {
		return nil, &CorruptError{KindBlob, id, fmt.Errorf("%w: hashes to %v", ErrCorrupt, got.Short())}
	}
	if !once {
		s.cache.Add(KindBlob, id, content, len(content)+64)
	}
	return content, nil
}

// chunk reads one chunk, from the KV or the tier.
//
// Blob does not hash each chunk: it hashes the whole content against the
// blob's ID afterwards, which covers every chunk's bytes, so hashing them
// one by one as well would read-verify large files twice. Fsck checks
// chunks one by one, to name the damaged one.
func (s *Store) chunk(id ID, once bool) ([]byte, error) {
	b, err := s.getter(once)(KindChunk, id)
	if errors.Is(err, ErrNotFound) && s.tier != nil {
		b, err = s.readTierChunk(id)
	}
	return b, err
}

// BlobChunks returns the chunk list of a blob (one chunk, the blob itself,
// when it is stored inline) without reading chunk contents.
func (s *Store) BlobChunks(id ID) (size int, chunks []ChunkRef, err error) {
	b, err := s.get(KindBlob, id)
	if err != nil {
		return 0, nil, err
	}
	if len(b) > 0 && b[0] == blobInline {
		return len(b) - 1, []ChunkRef{{ID: id, Size: len(b) - 1}}, nil
	}
	size, chunks, err = decodeChunkList(b)
	if err != nil {
		return 0, nil, &CorruptError{KindBlob, id, fmt.Errorf("%w: %w", ErrCorrupt, err)}
	}
	return size, chunks, nil
}

// Stats are the store's own counters since it was opened.
type Stats struct {
	Commits int64 `json:"commits"`
	// ObjectsWritten counts the objects written, a blob a Fresh writer
	// wrote again included.
	ObjectsWritten int64      `json:"objects_written"`
	BytesWritten   int64      `json:"bytes_written"`
	Cache          CacheStats `json:"cache"`
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Commits:        s.stats.commits.Load(),
		ObjectsWritten: s.stats.objectsWritten.Load(),
		BytesWritten:   s.stats.bytesWritten.Load(),
		Cache:          s.cache.Stats(),
	}
}
