package objstore

import (
	"errors"
	"fmt"

	"github.com/helios-vcs/helios/nvme"
)

// The block tier (value separation, as WiscKey and RocksDB's BlobDB do):
// when a store is made with Settings.TierThreshold > 0, every chunk of at
// least that many bytes keeps its payload in an nvme segment log, and the
// KV keeps only where it is:
//
//	'C' ID → nvme.Location (24 bytes)     instead of 'c' ID → payload
//
// A chunk's size decides its place, so a chunk is never in both. The
// payload is appended (and, for durable stores, synced) before the KV batch
// that records its location is written, so a crash leaves at worst an
// unreferenced record in the log, never a location without a payload. Reads
// check the log record's CRC and then the chunk's BLAKE3 ID. GC deletes the
// locations of dead chunks and then compacts the log, moving live records
// out of mostly-dead segments and rewriting their locations.
//
// The tier is off by default: on the machines we build on (virtio disks, no
// NVMe) it does not beat RocksDB for our chunk sizes; see BENCHMARKS.md and
// `helios bench tier`.

// ErrTierRequired is returned by Open for a store made with the tier when
// Options.Tier is nil.
var ErrTierRequired = errors.New("objstore: the store keeps large chunks in a block tier; open it (Options.Tier)")

func tierKey(id ID) []byte {
	k := make([]byte, 33)
	k[0] = prefixTierChunk
	copy(k[1:], id[:])
	return k
}

// tiered reports whether a chunk of n bytes lives in the tier.
func (s *Store) tiered(n int) bool {
	return s.tier != nil && s.settings.TierThreshold > 0 && n >= s.settings.TierThreshold
}

// readTierChunk reads a chunk whose location is in the KV.
func (s *Store) readTierChunk(id ID) ([]byte, error) {
	if s.tier == nil {
		return nil, fmt.Errorf("%w: chunk %v", ErrNotFound, id)
	}
	v, err := s.kv.Get(tierKey(id))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: chunk %v", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	var loc nvme.Location
	if err := loc.UnmarshalBinary(v); err != nil {
		return nil, &CorruptError{KindChunk, id, fmt.Errorf("%w: bad tier location: %w", ErrCorrupt, err)}
	}
	b, err := s.tier.Read(loc)
	if errors.Is(err, nvme.ErrCorrupt) || errors.Is(err, nvme.ErrNoRecord) {
		return nil, &CorruptError{KindChunk, id, fmt.Errorf("%w: %w", ErrCorrupt, err)}
	}
	return b, err
}

// appendTier writes the payloads of tiered chunks to the log and returns
// the KV operations that record their locations.
func (s *Store) appendTier(objs []*pendingObj, b *Batch) error {
	if len(objs) == 0 {
		return nil
	}
	recs := make([]nvme.Record, len(objs))
	for i, o := range objs {
		recs[i] = nvme.Record{Key: o.id, Data: o.value}
	}
	locs, err := s.tier.Append(recs)
	if err != nil {
		return fmt.Errorf("objstore: tier append: %w", err)
	}
	if s.opts.Durable {
		if err := s.tier.Sync(); err != nil {
			return fmt.Errorf("objstore: tier sync: %w", err)
		}
	}
	for i, o := range objs {
		lb, _ := locs[i].MarshalBinary()
		b.Put(o.key, lb)
	}
	return nil
}

// compactTier runs after gc's sweep, under gc's exclusive lock.
func (s *Store) compactTier() (nvme.CompactStats, error) {
	live := func(key [nvme.KeySize]byte, loc nvme.Location) bool {
		v, err := s.kv.Get(tierKey(ID(key)))
		if err != nil {
			return false
		}
		var cur nvme.Location
		return cur.UnmarshalBinary(v) == nil && cur == loc
	}
	commit := func(rel []nvme.Relocation) error {
		var b Batch
		for _, r := range rel {
			lb, _ := r.To.MarshalBinary()
			b.Put(tierKey(ID(r.Key)), lb)
		}
		return s.kv.Write(&b, true)
	}
	return s.tier.Compact(live, commit, nvme.CompactOptions{})
}
