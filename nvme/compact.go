package nvme

import (
	"fmt"
)

// Relocation is one record that compaction moved: the caller's index must
// point Key at To instead of From.
type Relocation struct {
	Key      [KeySize]byte
	From, To Location
}

// CompactOptions tune Compact.
type CompactOptions struct {
	// MaxLiveFraction: a sealed segment is compacted when at most this
	// fraction of its record space holds live records. 0 means 0.5.
	MaxLiveFraction float64
}

// CompactStats reports what one Compact did.
type CompactStats struct {
	SegmentsScanned int
	SegmentsFreed   int
	RecordsMoved    int
	BytesMoved      int64 // payload bytes copied
}

// Compact reclaims segments that are mostly dead. For every sealed segment
// (all but the one receiving appends) it asks live which records are still
// wanted; a segment whose live records fill at most MaxLiveFraction of it
// has them appended again at the head. Then, in this order, it syncs the
// copies, calls commit with every relocation (commit must make the caller's
// index point at the new locations durably before returning nil), and frees
// the old segments. A crash or a commit error before the end leaves the old
// records in place and the copies as unreferenced records, which the next
// Compact finds dead. Compact frees empty dead segments without calling
// commit when nothing moved.
//
// live and commit run without the Log's lock and may read from it; they
// must not call Compact. One Compact runs at a time; appends and reads go on
// meanwhile.
func (l *Log) Compact(live func(key [KeySize]byte, loc Location) bool, commit func([]Relocation) error, opts CompactOptions) (CompactStats, error) {
	maxLive := opts.MaxLiveFraction
	if maxLive == 0 {
		maxLive = 0.5
	}
	l.compactMu.Lock()
	defer l.compactMu.Unlock()

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return CompactStats{}, ErrClosed
	}
	slots := l.slotsBySeq(true)
	seqs := make([]uint64, len(slots))
	for i, s := range slots {
		seqs[i] = l.seqs[s]
	}
	l.mu.Unlock()

	// Sealed segments do not change until compaction frees them, and only
	// this (serialized) Compact frees: scan them without the lock.
	var st CompactStats
	var victims []int
	var moved []Relocation
	capacity := float64(l.segSize - l.bs)
	for i, slot := range slots {
		recs, _, err := l.scanSegment(slot, seqs[i])
		if err != nil {
			return st, err
		}
		st.SegmentsScanned++
		var keep []scannedRecord
		var liveBytes int64
		for _, r := range recs {
			if live(r.key, r.loc) {
				keep = append(keep, r)
				liveBytes += recordHeaderSize + int64(r.loc.Len)
			}
		}
		if float64(liveBytes) > maxLive*capacity {
			continue
		}
		batch := make([]Record, len(keep))
		for j, r := range keep {
			batch[j] = Record{Key: r.key, Data: r.payload}
		}
		l.mu.Lock()
		locs, err := l.appendLocked(batch)
		l.mu.Unlock()
		if err != nil {
			// Out of space or a device error: keep what was copied whole.
			if len(victims) == 0 {
				return st, fmt.Errorf("nvme: compact segment %d: %w", seqs[i], err)
			}
			break
		}
		for j, r := range keep {
			moved = append(moved, Relocation{Key: r.key, From: r.loc, To: locs[j]})
			st.BytesMoved += int64(r.loc.Len)
		}
		victims = append(victims, slot)
	}
	if len(victims) == 0 {
		return st, nil
	}
	if len(moved) > 0 {
		if err := l.Sync(); err != nil {
			return st, err
		}
		if err := commit(moved); err != nil {
			return st, fmt.Errorf("nvme: compact commit: %w", err)
		}
	}
	st.RecordsMoved = len(moved)
	if err := l.free(victims); err != nil {
		return st, err
	}
	st.SegmentsFreed = len(victims)
	return st, nil
}

// free zeroes the headers of slots, in one batch, and syncs.
func (l *Log) free(slots []int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	zero := AlignedBuffer(int(l.bs), int(l.bs))
	ws := make([]Write, len(slots))
	for i, s := range slots {
		ws[i] = Write{Off: l.segStart(s), Data: zero}
	}
	if err := WriteBatch(l.dev, ws); err != nil {
		return fmt.Errorf("nvme: free segments: %w", err)
	}
	if err := l.dev.Sync(); err != nil {
		return fmt.Errorf("nvme: sync freed segments: %w", err)
	}
	for _, s := range slots {
		l.seqs[s] = 0
	}
	return nil
}
