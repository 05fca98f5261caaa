package nvme_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/helios-vcs/helios/nvme"
)

const testSegment = 64 << 10

// payloadFor returns the record that seed names: its key starts with seed
// and its payload, of a seed-derived length below max, is derived from it.
func payloadFor(seed uint64, max int) nvme.Record {
	r := rand.New(rand.NewPCG(seed, 1))
	var rec nvme.Record
	binary.LittleEndian.PutUint64(rec.Key[:], seed)
	rec.Data = make([]byte, r.IntN(max))
	for i := range rec.Data {
		rec.Data[i] = byte(r.Uint32())
	}
	return rec
}

// checkRecord reads loc and compares it with the record its key names.
func checkRecord(t *testing.T, l *nvme.Log, loc nvme.Location, max int) {
	t.Helper()
	got, err := l.ReadRecord(loc)
	if err != nil {
		t.Fatalf("ReadRecord(%v): %v", loc, err)
	}
	want := payloadFor(binary.LittleEndian.Uint64(got.Key[:]), max)
	if got.Key != want.Key || !bytes.Equal(got.Data, want.Data) {
		t.Fatalf("record at %v: got %d bytes, want %d bytes of seed %d", loc, len(got.Data), len(want.Data), binary.LittleEndian.Uint64(want.Key[:]))
	}
}

func openLog(t *testing.T, d nvme.Device) *nvme.Log {
	t.Helper()
	l, err := nvme.OpenLog(d, nvme.LogOptions{SegmentSize: testSegment})
	if err != nil {
		t.Fatalf("OpenLog: %v", err)
	}
	return l
}

func reopen(t *testing.T, l *nvme.Log, d nvme.Device) *nvme.Log {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openLog(t, d)
}

func TestLogRoundTrip(t *testing.T) {
	d := nvme.NewMem(1<<20, 4096)
	l := openLog(t, d)
	sizes := []int{0, 1, 63, 64, 100, 4096 - 64, 4096, 5000, 20000}
	var recs []nvme.Record
	for i, n := range sizes {
		r := payloadFor(uint64(i), 1<<20)
		r.Data = r.Data[:0]
		r.Data = append(r.Data, bytes.Repeat([]byte{byte(i + 1)}, n)...)
		recs = append(recs, r)
	}
	locs, err := l.Append(recs)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if len(locs) != len(recs) {
		t.Fatalf("Append returned %d locations, want %d", len(locs), len(recs))
	}
	check := func(l *nvme.Log) {
		t.Helper()
		for i, loc := range locs {
			got, err := l.ReadRecord(loc)
			if err != nil {
				t.Fatalf("ReadRecord(%v): %v", loc, err)
			}
			if got.Key != recs[i].Key || !bytes.Equal(got.Data, recs[i].Data) {
				t.Fatalf("record %d at %v differs from what was appended", i, loc)
			}
		}
		many, err := l.ReadMany(locs)
		if err != nil {
			t.Fatalf("ReadMany: %v", err)
		}
		for i := range many {
			if !bytes.Equal(many[i], recs[i].Data) {
				t.Fatalf("ReadMany record %d differs", i)
			}
		}
		var walked []nvme.Location
		if err := l.Walk(func(key [nvme.KeySize]byte, loc nvme.Location) error {
			walked = append(walked, loc)
			return nil
		}); err != nil {
			t.Fatalf("Walk: %v", err)
		}
		if len(walked) != len(locs) {
			t.Fatalf("Walk saw %d records, want %d", len(walked), len(locs))
		}
		for i := range walked {
			if walked[i] != locs[i] {
				t.Fatalf("Walk record %d: got %v, want %v", i, walked[i], locs[i])
			}
		}
	}
	check(l)
	if err := l.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	l = reopen(t, l, d)
	check(l)
	if st := l.Stats(); st.Epoch != 2 || st.SegmentSize != testSegment || st.Segments != 15 {
		t.Fatalf("Stats after one reopen = %+v, want epoch 2, 15 segments of %d", st, testSegment)
	}
	// Appending after reopen continues the log.
	more, err := l.Append([]nvme.Record{payloadFor(99, 3000)})
	if err != nil {
		t.Fatalf("Append after reopen: %v", err)
	}
	checkRecord(t, l, more[0], 3000)
	l = reopen(t, l, d)
	checkRecord(t, l, more[0], 3000)
	check2, _ := l.Read(locs[len(locs)-1])
	if !bytes.Equal(check2, recs[len(recs)-1].Data) {
		t.Fatalf("last record of first batch lost after second reopen")
	}
	if _, err := l.Append(nil); err != nil {
		t.Fatalf("Append(nil): %v", err)
	}
}

func TestLogAcrossSegments(t *testing.T) {
	d := nvme.NewMem(1<<20, 4096)
	l := openLog(t, d)
	var locs []nvme.Location
	for batch := 0; batch < 20; batch++ {
		var recs []nvme.Record
		for i := 0; i < 5; i++ {
			recs = append(recs, payloadFor(uint64(batch*10+i), 6000))
		}
		got, err := l.Append(recs)
		if err != nil {
			t.Fatalf("Append batch %d: %v", batch, err)
		}
		locs = append(locs, got...)
	}
	seqs := map[uint64]bool{}
	for _, loc := range locs {
		seqs[loc.Seq] = true
		checkRecord(t, l, loc, 6000)
	}
	if len(seqs) < 3 {
		t.Fatalf("records landed in %d segments, want several", len(seqs))
	}
	st := l.Stats()
	if st.FreeSegments != st.Segments-len(seqs) {
		t.Fatalf("Stats = %+v, want %d segments in use", st, len(seqs))
	}
	l = reopen(t, l, d)
	for _, loc := range locs {
		checkRecord(t, l, loc, 6000)
	}
}

// countingDevice counts the write submissions that reach the device.
type countingDevice struct {
	nvme.Device
	writes atomic.Int64
}

func (c *countingDevice) WriteAt(p []byte, off int64) (int, error) {
	c.writes.Add(1)
	return c.Device.WriteAt(p, off)
}

func TestLogAppendIsOneSubmission(t *testing.T) {
	d := &countingDevice{Device: nvme.NewMem(1<<20, 4096)}
	l := openLog(t, d)
	// First append of a segment: header and records in one write.
	var recs []nvme.Record
	for i := 0; i < 40; i++ {
		recs = append(recs, payloadFor(uint64(i), 1000))
	}
	before := d.writes.Load()
	if _, err := l.Append(recs); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if got := d.writes.Load() - before; got != 1 {
		t.Fatalf("Append of 40 records into one segment made %d device writes, want 1", got)
	}
	before = d.writes.Load()
	if _, err := l.Append(recs[:10]); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if got := d.writes.Load() - before; got != 1 {
		t.Fatalf("second Append made %d device writes, want 1", got)
	}
}

func TestLogLimits(t *testing.T) {
	d := nvme.NewMem(2*4096+3*testSegment, 4096)
	l := openLog(t, d)
	max := testSegment - 4096 - 64
	if _, err := l.Append([]nvme.Record{{Data: make([]byte, max+1)}}); !errors.Is(err, nvme.ErrTooLarge) {
		t.Fatalf("Append of %d bytes: got %v, want %v", max+1, err, nvme.ErrTooLarge)
	}
	// Exactly one full segment per record.
	for i := 0; i < 3; i++ {
		loc, err := l.Append([]nvme.Record{{Data: bytes.Repeat([]byte{byte(i)}, max)}})
		if err != nil {
			t.Fatalf("Append of a full segment %d: %v", i, err)
		}
		if got, err := l.Read(loc[0]); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, max)) {
			t.Fatalf("Read full-segment record %d: %v", i, err)
		}
	}
	if _, err := l.Append([]nvme.Record{{Data: []byte("x")}}); !errors.Is(err, nvme.ErrFull) {
		t.Fatalf("Append to a full log: got %v, want %v", err, nvme.ErrFull)
	}
	if st := l.Stats(); st.FreeSegments != 0 {
		t.Fatalf("Stats of a full log = %+v, want no free segment", st)
	}
}

func TestLogOpenErrors(t *testing.T) {
	t.Run("garbage superblock", func(t *testing.T) {
		d := nvme.NewMem(1<<20, 4096)
		d.WriteAt(bytes.Repeat([]byte{0xee}, 4096), 0)
		if _, err := nvme.OpenLog(d, nvme.LogOptions{}); !errors.Is(err, nvme.ErrCorrupt) {
			t.Fatalf("OpenLog on garbage: got %v, want %v", err, nvme.ErrCorrupt)
		}
	})
	t.Run("too small for segments", func(t *testing.T) {
		d := nvme.NewMem(1<<20, 4096)
		if _, err := nvme.OpenLog(d, nvme.LogOptions{}); err == nil {
			t.Fatalf("OpenLog of 1 MiB with 64 MiB segments succeeded")
		}
	})
	t.Run("bad segment size", func(t *testing.T) {
		d := nvme.NewMem(1<<20, 4096)
		if _, err := nvme.OpenLog(d, nvme.LogOptions{SegmentSize: 5000}); err == nil {
			t.Fatalf("OpenLog with segment size 5000 succeeded")
		}
	})
	t.Run("tiny device", func(t *testing.T) {
		if _, err := nvme.OpenLog(nvme.NewMem(4096, 4096), nvme.LogOptions{}); err == nil {
			t.Fatalf("OpenLog on one block succeeded")
		}
	})
	t.Run("block size changed", func(t *testing.T) {
		d := nvme.NewMem(1<<20, 4096)
		openLog(t, d).Close()
		raw := make([]byte, 1<<20)
		d.ReadAt(raw, 0)
		d2 := nvme.NewMem(1<<20, 512)
		d2.WriteAt(raw, 0)
		if _, err := nvme.OpenLog(d2, nvme.LogOptions{}); err == nil {
			t.Fatalf("OpenLog with a different block size succeeded")
		}
	})
	t.Run("one superblock copy torn", func(t *testing.T) {
		d := nvme.NewMem(1<<20, 4096)
		l := openLog(t, d) // epoch 1, in copy B
		loc, _ := l.Append([]nvme.Record{payloadFor(1, 100)})
		l.Close()
		d.WriteAt(bytes.Repeat([]byte{0xee}, 4096), 4096) // tear copy B
		l = openLog(t, d)
		checkRecord(t, l, loc[0], 100)
		d.WriteAt(bytes.Repeat([]byte{0xee}, 4096), 0) // now copy A
		l = reopen(t, l, d)
		checkRecord(t, l, loc[0], 100)
	})
}

func TestLogClosed(t *testing.T) {
	d := nvme.NewMem(1<<20, 4096)
	l := openLog(t, d)
	loc, _ := l.Append([]nvme.Record{payloadFor(1, 100)})
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	errs := map[string]error{"Close": l.Close(), "Sync": l.Sync()}
	_, errs["Append"] = l.Append([]nvme.Record{payloadFor(2, 100)})
	_, errs["Read"] = l.Read(loc[0])
	errs["Walk"] = l.Walk(func([nvme.KeySize]byte, nvme.Location) error { return nil })
	_, errs["Compact"] = l.Compact(func([nvme.KeySize]byte, nvme.Location) bool { return true }, nil, nvme.CompactOptions{})
	for name, err := range errs {
		if !errors.Is(err, nvme.ErrClosed) {
			t.Errorf("%s after Close: got %v, want %v", name, err, nvme.ErrClosed)
		}
	}
}

func TestLogBadLocations(t *testing.T) {
	d := nvme.NewMem(1<<20, 4096)
	l := openLog(t, d)
	locs, _ := l.Append([]nvme.Record{payloadFor(1, 1000), payloadFor(2, 1000)})
	good := locs[1]
	cases := []struct {
		name string
		loc  nvme.Location
		want error
	}{
		{"before the log", nvme.Location{Seq: good.Seq, Off: 0, Len: 10}, nvme.ErrNoRecord},
		{"past the log", nvme.Location{Seq: good.Seq, Off: 1 << 30, Len: 10}, nvme.ErrNoRecord},
		{"on a segment header", nvme.Location{Seq: good.Seq, Off: 2 * 4096, Len: 10}, nvme.ErrNoRecord},
		{"wrong segment", nvme.Location{Seq: good.Seq + 7, Off: good.Off, Len: good.Len}, nvme.ErrNoRecord},
		{"free segment", nvme.Location{Seq: good.Seq, Off: good.Off + 3*testSegment, Len: good.Len}, nvme.ErrNoRecord},
		{"wrong length", nvme.Location{Seq: good.Seq, Off: good.Off, Len: good.Len + 1, Sum: good.Sum}, nvme.ErrNoRecord},
		{"wrong sum", nvme.Location{Seq: good.Seq, Off: good.Off, Len: good.Len, Sum: good.Sum + 1}, nvme.ErrNoRecord},
		{"another record", nvme.Location{Seq: good.Seq, Off: locs[0].Off, Len: good.Len, Sum: good.Sum}, nvme.ErrNoRecord},
		{"inside a record", nvme.Location{Seq: good.Seq, Off: good.Off + 64, Len: 10}, nvme.ErrCorrupt},
		{"overrunning its segment", nvme.Location{Seq: good.Seq, Off: good.Off, Len: testSegment}, nvme.ErrNoRecord},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := l.Read(c.loc); !errors.Is(err, c.want) {
				t.Fatalf("Read(%v): got %v, want %v", c.loc, err, c.want)
			}
			if _, err := l.ReadMany([]nvme.Location{good, c.loc}); !errors.Is(err, c.want) {
				t.Fatalf("ReadMany(%v): got %v, want %v", c.loc, err, c.want)
			}
		})
	}
}

// fileLog opens a log on a pread file device at path.
func fileLog(t *testing.T, path string) (*nvme.Log, nvme.Device) {
	t.Helper()
	d, err := nvme.Open(path, nvme.Options{Size: 1 << 20})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return openLog(t, d), d
}

// patchFile overwrites bytes of the file at path behind the Log's back.
func patchFile(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestLogCorruptionDetected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev")
	l, d := fileLog(t, path)
	var locs []nvme.Location
	for i := 0; i < 30; i++ { // several segments, so most are sealed
		got, err := l.Append([]nvme.Record{payloadFor(uint64(i), 8000)})
		if err != nil {
			t.Fatal(err)
		}
		locs = append(locs, got...)
	}
	l.Close()
	d.Close()
	payloadHit, headerHit := locs[1], locs[2]
	for payloadHit.Len == 0 {
		t.Fatalf("test record is empty")
	}
	patchFile(t, path, payloadHit.Off+64+int64(payloadHit.Len)/2, []byte{0x5a ^ 0xff})
	patchFile(t, path, headerHit.Off+30, []byte{0x01}) // inside the key
	l, _ = fileLog(t, path)
	for _, loc := range []nvme.Location{payloadHit, headerHit} {
		if _, err := l.Read(loc); !errors.Is(err, nvme.ErrCorrupt) {
			t.Errorf("Read(%v) of a flipped byte: got %v, want %v", loc, err, nvme.ErrCorrupt)
		}
		if _, err := l.ReadMany([]nvme.Location{loc}); !errors.Is(err, nvme.ErrCorrupt) {
			t.Errorf("ReadMany(%v) of a flipped byte: got %v, want %v", loc, err, nvme.ErrCorrupt)
		}
	}
	checkRecord(t, l, locs[0], 8000)
	checkRecord(t, l, locs[3], 8000)
}

// appendSynced appends recs and syncs, failing t on error.
func appendSynced(t *testing.T, l *nvme.Log, recs ...nvme.Record) []nvme.Location {
	t.Helper()
	locs, err := l.Append(recs)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if err := l.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return locs
}

func walkKeys(t *testing.T, l *nvme.Log) []uint64 {
	t.Helper()
	var keys []uint64
	if err := l.Walk(func(key [nvme.KeySize]byte, loc nvme.Location) error {
		keys = append(keys, binary.LittleEndian.Uint64(key[:]))
		return nil
	}); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return keys
}

func TestLogTornTail(t *testing.T) {
	const max = 3000
	cases := []struct {
		name string
		// tear damages the unsynced records b (written after the synced a).
		tear func(t *testing.T, path string, b []nvme.Location)
		// survivors: how many of b are still served after recovery.
		survivors int
	}{
		{"truncated mid-record", func(t *testing.T, path string, b []nvme.Location) {
			last := b[len(b)-1]
			patchFile(t, path, last.Off+64+int64(last.Len)/2, make([]byte, int(last.Len)))
		}, 2},
		{"header of the middle record torn", func(t *testing.T, path string, b []nvme.Location) {
			patchFile(t, path, b[1].Off+10, []byte{0xff, 0xff, 0xff, 0xff})
		}, 1},
		{"garbage over the whole batch", func(t *testing.T, path string, b []nvme.Location) {
			r := rand.New(rand.NewPCG(1, 2))
			junk := make([]byte, 3*(max+64))
			for i := range junk {
				junk[i] = byte(r.Uint32())
			}
			patchFile(t, path, b[0].Off, junk)
		}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dev")
			l, d := fileLog(t, path)
			a := appendSynced(t, l, payloadFor(1, max), payloadFor(2, max))
			b, err := l.Append([]nvme.Record{payloadFor(11, max), payloadFor(12, max), payloadFor(13, max)})
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			d.Close()
			c.tear(t, path, b)

			l, d = fileLog(t, path)
			for _, loc := range a {
				checkRecord(t, l, loc, max)
			}
			want := []uint64{1, 2, 11, 12, 13}[:2+c.survivors]
			if got := walkKeys(t, l); !equal(got, want) {
				t.Fatalf("after recovery Walk saw keys %v, want %v", got, want)
			}
			// The torn record was cut: its place holds a pad now.
			if _, err := l.Read(b[c.survivors]); !errors.Is(err, nvme.ErrCorrupt) && !errors.Is(err, nvme.ErrNoRecord) {
				t.Fatalf("Read(%v) of the torn record: got %v, want corrupt or no record", b[c.survivors], err)
			}
			neverWrong(t, l, b[c.survivors+1:], max)
			// Appends resume after the cut; the torn records never come back,
			// even when a new record ends exactly where a stale one begins.
			c2 := appendSynced(t, l, payloadFor(21, max), payloadFor(22, max))
			l.Close()
			d.Close()
			l, _ = fileLog(t, path)
			want = append(want, 21, 22)
			if got := walkKeys(t, l); !equal(got, want) {
				t.Fatalf("after appending past the cut Walk saw keys %v, want %v", got, want)
			}
			for _, loc := range c2 {
				checkRecord(t, l, loc, max)
			}
			neverWrong(t, l, b[c.survivors:], max)
		})
	}
}

// TestLogStaleRecordsNeverChain: records written after a torn one by an
// earlier open must not reappear when a later append happens to end exactly
// where they begin.
func TestLogStaleRecordsNeverChain(t *testing.T) {
	d := nvme.NewMem(1<<20, 4096)
	l := openLog(t, d)
	same := func(seed uint64) nvme.Record { // all records 4096-64 bytes: one block each
		r := payloadFor(seed, 1)
		r.Data = bytes.Repeat([]byte{byte(seed)}, 4096-64)
		return r
	}
	a := appendSynced(t, l, same(1))
	b, _ := l.Append([]nvme.Record{same(2), same(3)})
	l.Close()
	// Tear record 2 only: 3 stays intact behind it.
	d.WriteAt(make([]byte, 4096), b[0].Off)
	l = openLog(t, d)
	if got := walkKeys(t, l); !equal(got, []uint64{1}) {
		t.Fatalf("after tearing record 2, Walk saw %v, want [1]", got)
	}
	// Record 4 takes exactly record 2's place; stale record 3 follows it.
	c := appendSynced(t, l, same(4))
	if c[0].Off != b[0].Off {
		t.Fatalf("record 4 at %d, want it at torn record 2's offset %d", c[0].Off, b[0].Off)
	}
	l = reopen(t, l, d)
	if got := walkKeys(t, l); !equal(got, []uint64{1, 4}) {
		t.Fatalf("Walk saw %v, want [1 4]: a stale record chained", got)
	}
	if got, err := l.Read(a[0]); err != nil || !bytes.Equal(got, same(1).Data) {
		t.Fatalf("Read(%v) = %v; want record 1", a[0], err)
	}
}

// neverWrong checks that records cut off by a crash are either refused or
// served with exactly the bytes that were appended.
func neverWrong(t *testing.T, l *nvme.Log, locs []nvme.Location, max int) {
	t.Helper()
	for _, loc := range locs {
		got, err := l.ReadRecord(loc)
		if err != nil {
			if !errors.Is(err, nvme.ErrCorrupt) && !errors.Is(err, nvme.ErrNoRecord) {
				t.Fatalf("Read(%v) of a cut-off record: got %v, want corrupt or no record", loc, err)
			}
			continue
		}
		want := payloadFor(binary.LittleEndian.Uint64(got.Key[:]), max)
		if got.Key != want.Key || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("Read(%v) served wrong bytes", loc)
		}
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLocationBinary(t *testing.T) {
	loc := nvme.Location{Seq: 7, Off: 1 << 40, Len: 123456, Sum: 0xdeadbeef}
	b, err := loc.MarshalBinary()
	if err != nil || len(b) != nvme.LocationSize {
		t.Fatalf("MarshalBinary = %d bytes, %v; want %d, nil", len(b), err, nvme.LocationSize)
	}
	var got nvme.Location
	if err := got.UnmarshalBinary(b); err != nil || got != loc {
		t.Fatalf("UnmarshalBinary = %v, %v; want %v", got, err, loc)
	}
	if err := got.UnmarshalBinary(b[:23]); err == nil {
		t.Fatalf("UnmarshalBinary of 23 bytes succeeded")
	}
	if s := loc.String(); s != "seg7@1099511627776+123456/deadbeef" {
		t.Fatalf("String() = %q", s)
	}
}
