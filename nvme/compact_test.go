package nvme_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/helios-vcs/helios/nvme"
)

// index is a caller's key → location map, the role objstore plays.
type index map[uint64]nvme.Location

func (ix index) live(key [nvme.KeySize]byte, loc nvme.Location) bool {
	return ix[binary.LittleEndian.Uint64(key[:])] == loc
}

func (ix index) commit(rs []nvme.Relocation) error {
	for _, r := range rs {
		k := binary.LittleEndian.Uint64(r.Key[:])
		if ix[k] != r.From {
			return errors.New("relocation of a record the index does not point at")
		}
		ix[k] = r.To
	}
	return nil
}

// fill appends n records of up to max bytes, three per Append, indexing them.
func fill(t *testing.T, l *nvme.Log, ix index, first, n uint64, max int) {
	t.Helper()
	for k := first; k < first+n; k += 3 {
		var recs []nvme.Record
		for j := k; j < k+3 && j < first+n; j++ {
			recs = append(recs, payloadFor(j, max))
		}
		locs, err := l.Append(recs)
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		for j, loc := range locs {
			ix[k+uint64(j)] = loc
		}
	}
}

func TestCompact(t *testing.T) {
	const max = 6000
	d := nvme.NewMem(1<<20, 4096)
	l := openLog(t, d)
	ix := index{}
	fill(t, l, ix, 0, 120, max)
	before := l.Stats()
	dead := map[uint64]nvme.Location{}
	for k, loc := range ix {
		if k%4 != 0 { // three quarters die
			dead[k] = loc
			delete(ix, k)
		}
	}
	st, err := l.Compact(ix.live, ix.commit, nvme.CompactOptions{})
	if err != nil {
		t.Fatalf("Compact: %v", err)
	}
	after := l.Stats()
	t.Logf("before %+v, after %+v, compaction %+v", before, after, st)
	if st.SegmentsFreed == 0 || st.RecordsMoved == 0 || st.BytesMoved == 0 {
		t.Fatalf("Compact = %+v, want segments freed and records moved", st)
	}
	if after.FreeSegments <= before.FreeSegments {
		t.Fatalf("free segments %d before, %d after: nothing reclaimed", before.FreeSegments, after.FreeSegments)
	}
	for _, loc := range ix {
		checkRecord(t, l, loc, max)
	}
	// Dead records in freed segments are gone; reuse the space and check
	// old locations never return other records' bytes.
	fill(t, l, ix, 1000, 60, max)
	for _, loc := range dead {
		if _, err := l.Read(loc); err == nil {
			continue // its segment was not compacted
		} else if !errors.Is(err, nvme.ErrNoRecord) {
			t.Fatalf("Read(%v) of a compacted record: got %v, want %v", loc, err, nvme.ErrNoRecord)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l = reopen(t, l, d)
	for _, loc := range ix {
		checkRecord(t, l, loc, max)
	}
	// Walk sees every live record exactly once, plus only dead ones.
	seen := map[uint64]int{}
	l.Walk(func(key [nvme.KeySize]byte, loc nvme.Location) error {
		if ix.live(key, loc) {
			seen[binary.LittleEndian.Uint64(key[:])]++
		}
		return nil
	})
	if len(seen) != len(ix) {
		t.Fatalf("Walk found %d live records, index has %d", len(seen), len(ix))
	}
}

func TestCompactAllDeadNeedsNoCommit(t *testing.T) {
	d := nvme.NewMem(1<<20, 4096)
	l := openLog(t, d)
	ix := index{}
	fill(t, l, ix, 0, 60, 6000)
	st, err := l.Compact(func([nvme.KeySize]byte, nvme.Location) bool { return false },
		func([]nvme.Relocation) error { t.Fatal("commit called with nothing moved"); return nil }, nvme.CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.SegmentsFreed != st.SegmentsScanned || st.SegmentsFreed == 0 || st.RecordsMoved != 0 {
		t.Fatalf("Compact of an all-dead log = %+v, want every sealed segment freed, none moved", st)
	}
	if got := l.Stats(); got.FreeSegments != got.Segments-1 {
		t.Fatalf("Stats = %+v, want only the head in use", got)
	}
}

func TestCompactKeepsMostlyLiveSegments(t *testing.T) {
	d := nvme.NewMem(1<<20, 4096)
	l := openLog(t, d)
	ix := index{}
	fill(t, l, ix, 0, 60, 6000)
	st, err := l.Compact(ix.live, ix.commit, nvme.CompactOptions{MaxLiveFraction: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if st.SegmentsFreed != 0 || st.RecordsMoved != 0 || st.SegmentsScanned == 0 {
		t.Fatalf("Compact of an all-live log = %+v, want segments scanned and nothing moved", st)
	}
}

func TestCompactCommitFailureFreesNothing(t *testing.T) {
	const max = 6000
	d := nvme.NewMem(1<<20, 4096)
	l := openLog(t, d)
	ix := index{}
	fill(t, l, ix, 0, 90, max)
	for k := range ix {
		if k%5 != 0 {
			delete(ix, k)
		}
	}
	before := l.Stats()
	boom := errors.New("index unavailable")
	if _, err := l.Compact(ix.live, func([]nvme.Relocation) error { return boom }, nvme.CompactOptions{}); !errors.Is(err, boom) {
		t.Fatalf("Compact with a failing commit: got %v, want %v", err, boom)
	}
	if after := l.Stats(); after.FreeSegments > before.FreeSegments {
		t.Fatalf("segments freed although commit failed: %d → %d free", before.FreeSegments, after.FreeSegments)
	}
	for _, loc := range ix {
		checkRecord(t, l, loc, max)
	}
	// The copies are dead to the index; a later compaction reclaims them.
	st, err := l.Compact(ix.live, ix.commit, nvme.CompactOptions{})
	if err != nil || st.SegmentsFreed == 0 {
		t.Fatalf("second Compact = %+v, %v; want segments freed", st, err)
	}
	for _, loc := range ix {
		checkRecord(t, l, loc, max)
	}
}

func TestCompactWhenFull(t *testing.T) {
	// Three segments, all full and all live but one record: nowhere to copy
	// to, so Compact must fail cleanly and lose nothing.
	d := nvme.NewMem(2*4096+3*testSegment, 4096)
	l := openLog(t, d)
	ix := index{}
	for {
		locs, err := l.Append([]nvme.Record{payloadFor(uint64(len(ix)), 9000)})
		if errors.Is(err, nvme.ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ix[uint64(len(ix))] = locs[0]
	}
	_, err := l.Compact(ix.live, ix.commit, nvme.CompactOptions{MaxLiveFraction: 1})
	if !errors.Is(err, nvme.ErrFull) {
		t.Fatalf("Compact of a full log: got %v, want %v", err, nvme.ErrFull)
	}
	for _, loc := range ix {
		checkRecord(t, l, loc, 9000)
	}
}
