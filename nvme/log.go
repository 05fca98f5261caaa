package nvme

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Log errors. Callers match them with errors.Is.
var (
	// ErrCorrupt means stored bytes failed a check: a record's header or
	// payload checksum, or the superblock.
	ErrCorrupt = errors.New("nvme: corrupt record")
	// ErrNoRecord means a Location names no live record: its segment was
	// freed by compaction or the Location never came from this Log.
	ErrNoRecord = errors.New("nvme: no record at location")
	// ErrFull means no free segment is left for an append.
	ErrFull = errors.New("nvme: log full")
	// ErrTooLarge means a payload cannot fit in one segment.
	ErrTooLarge = errors.New("nvme: record too large")
)

// Record is what a caller appends: a key of its choosing (objstore uses the
// chunk's BLAKE3 ID) and the payload.
type Record struct {
	Key  [KeySize]byte
	Data []byte
}

// LogOptions configure OpenLog.
type LogOptions struct {
	// SegmentSize is used only when OpenLog formats a blank device; it must
	// be a multiple of the block size of at least 4 blocks. 0 means 64 MiB.
	// An existing log keeps the size it was formatted with.
	SegmentSize int64
}

const defaultSegmentSize = 64 << 20

// Log is an append-only log of checksummed records in fixed-size segments on
// a Device. doc.go specifies the format and the recovery rules.
//
// A Location returned by Append is readable at once; the record survives a
// crash only once a later Sync has returned nil. All methods are safe for
// concurrent use. After a device error during Append the Log refuses further
// appends (reopen it); reads go on.
type Log struct {
	dev       Device
	bs        int64
	segSize   int64
	base      int64 // device offset of segment 0
	epoch     uint64
	maxRecord int

	compactMu sync.Mutex // held for a whole Compact

	mu      sync.Mutex
	seqs    []uint64 // per slot: sequence number of the segment in it, 0 if free
	head    int      // slot receiving appends, -1 before the first
	tail    int64    // device offset of the next append, block aligned
	nextSeq uint64
	broken  error
	closed  bool
}

// OpenLog opens the Log on dev, formatting dev if its first two blocks are
// zero, and recovers from a crash: it finds the end of the newest segment
// and cuts a torn tail so that no torn record is ever served. The caller
// still owns dev and closes it after Close.
func OpenLog(dev Device, opts LogOptions) (*Log, error) {
	bs := int64(dev.BlockSize())
	if dev.Size() < 2*bs {
		return nil, fmt.Errorf("nvme: device of %d bytes too small for a log", dev.Size())
	}
	sbBuf := AlignedBuffer(int(2*bs), int(bs))
	if _, err := dev.ReadAt(sbBuf, 0); err != nil {
		return nil, fmt.Errorf("nvme: read superblock: %w", err)
	}
	sbA, okA := decodeSuperblock(sbBuf[:bs])
	sbB, okB := decodeSuperblock(sbBuf[bs:])
	var sb superblock
	switch {
	case okA && okB:
		sb = sbA
		if sbB.epoch > sbA.epoch {
			sb = sbB
		}
	case okA:
		sb = sbA
	case okB:
		sb = sbB
	case bytes.Equal(sbBuf, make([]byte, len(sbBuf))):
		var err error
		if sb, err = format(dev, opts); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("nvme: no valid superblock on a device that is not blank: %w", ErrCorrupt)
	}
	if int64(sb.blockSize) != bs {
		return nil, fmt.Errorf("nvme: log formatted with block size %d, device has %d", sb.blockSize, bs)
	}
	l := &Log{
		dev:       dev,
		bs:        bs,
		segSize:   int64(sb.segmentSize),
		base:      2 * bs,
		epoch:     sb.epoch + 1,
		maxRecord: int(int64(sb.segmentSize) - bs - recordHeaderSize),
		seqs:      make([]uint64, sb.segmentCount),
		head:      -1,
	}
	if l.base+int64(sb.segmentCount)*l.segSize > dev.Size() {
		return nil, fmt.Errorf("nvme: log of %d segments of %d bytes does not fit a device of %d bytes", sb.segmentCount, sb.segmentSize, dev.Size())
	}
	// A new epoch per open: records written before it can never chain after
	// records written from now on (see doc.go, recovery).
	sb.epoch = l.epoch
	sb.encode(sbBuf[:bs])
	clear(sbBuf[superblockSize:bs])
	if _, err := dev.WriteAt(sbBuf[:bs], int64(l.epoch%2)*bs); err != nil {
		return nil, fmt.Errorf("nvme: write superblock: %w", err)
	}
	if err := l.loadSegments(); err != nil {
		return nil, err
	}
	if err := l.recoverHead(); err != nil {
		return nil, err
	}
	if err := dev.Sync(); err != nil {
		return nil, fmt.Errorf("nvme: sync after open: %w", err)
	}
	return l, nil
}

// format writes epoch 0's superblock to a blank device.
func format(dev Device, opts LogOptions) (superblock, error) {
	bs := int64(dev.BlockSize())
	segSize := opts.SegmentSize
	if segSize == 0 {
		segSize = defaultSegmentSize
	}
	if segSize%bs != 0 || segSize < 4*bs {
		return superblock{}, fmt.Errorf("nvme: segment size %d is not a multiple of block size %d of at least 4 blocks", segSize, bs)
	}
	count := (dev.Size() - 2*bs) / segSize
	if count < 2 {
		return superblock{}, fmt.Errorf("nvme: device of %d bytes holds fewer than 2 segments of %d bytes", dev.Size(), segSize)
	}
	sb := superblock{blockSize: uint32(bs), segmentSize: uint64(segSize), segmentCount: uint64(count)}
	buf := AlignedBuffer(int(bs), int(bs))
	sb.encode(buf)
	if _, err := dev.WriteAt(buf, 0); err != nil {
		return superblock{}, fmt.Errorf("nvme: format: %w", err)
	}
	return sb, nil
}

func (l *Log) segStart(slot int) int64 { return l.base + int64(slot)*l.segSize }

// loadSegments reads every segment header in one batch.
func (l *Log) loadSegments() error {
	buf := AlignedBuffer(len(l.seqs)*int(l.bs), int(l.bs))
	rs := make([]Read, len(l.seqs))
	for i := range rs {
		rs[i] = Read{Off: l.segStart(i), Buf: buf[int64(i)*l.bs : int64(i+1)*l.bs]}
	}
	if err := ReadBatch(l.dev, rs); err != nil {
		return fmt.Errorf("nvme: read segment headers: %w", err)
	}
	var maxSeq uint64
	for i, r := range rs {
		if h, ok := decodeSegmentHeader(r.Buf); ok {
			l.seqs[i] = h.seq
			if h.seq > maxSeq {
				maxSeq, l.head = h.seq, i
			}
		}
	}
	l.nextSeq = maxSeq + 1
	return nil
}

// scannedRecord is one record found by scanSegment.
type scannedRecord struct {
	loc     Location
	key     [KeySize]byte
	payload []byte // aliases the segment buffer
}

// scanSegment reads the segment in slot and follows its chain of records
// from the first one; it returns the records and the device offset where
// the chain ends. Each record must have a valid header and payload checksum,
// the segment's sequence number, and an epoch no lower than the record
// before it; the first record that fails ends the chain.
func (l *Log) scanSegment(slot int, seq uint64) ([]scannedRecord, int64, error) {
	start := l.segStart(slot)
	buf := AlignedBuffer(int(l.segSize), int(l.bs))
	if _, err := l.dev.ReadAt(buf, start); err != nil {
		return nil, 0, fmt.Errorf("nvme: read segment %d: %w", seq, err)
	}
	var recs []scannedRecord
	var prevEpoch uint64
	pos := l.bs
	for pos+recordHeaderSize <= l.segSize {
		h, err := decodeRecordHeader(buf[pos:])
		if err != nil || h.seq != seq || h.epoch < prevEpoch || pos+recordHeaderSize+int64(h.length) > l.segSize {
			break
		}
		payload := buf[pos+recordHeaderSize : pos+recordHeaderSize+int64(h.length)]
		if h.magic == recordMagic {
			if crc(payload) != h.payloadCRC {
				break
			}
			recs = append(recs, scannedRecord{loc: Location{Seq: seq, Off: start + pos, Len: h.length, Sum: h.sum}, key: h.key, payload: payload})
		}
		prevEpoch = h.epoch
		pos += recordHeaderSize + int64(h.length)
	}
	return recs, start + pos, nil
}

// recoverHead finds the end of the newest segment's chain. When the chain
// ends inside a block, it rewrites that block with a pad from the end of the
// chain to the next block boundary, so that the records appended next (at
// that boundary) are reachable and whatever was torn there is gone.
func (l *Log) recoverHead() error {
	if l.head < 0 {
		return nil
	}
	_, end, err := l.scanSegment(l.head, l.seqs[l.head])
	if err != nil {
		return err
	}
	segEnd := l.segStart(l.head) + l.segSize
	l.tail = roundUp(end, l.bs)
	if end == l.tail || segEnd-end < recordHeaderSize {
		if l.tail > segEnd {
			l.tail = segEnd
		}
		return nil
	}
	pad := padFor(end, l.bs)
	if end+pad > segEnd {
		// No room for a pad: the chain already ends where no header fits.
		l.tail = segEnd
		return nil
	}
	blockStart := end - end%l.bs
	buf := AlignedBuffer(int(roundUp(end+pad, l.bs)-blockStart), int(l.bs))
	if _, err := l.dev.ReadAt(buf[:l.bs], blockStart); err != nil {
		return fmt.Errorf("nvme: read torn tail: %w", err)
	}
	encodePad(buf[end-blockStart:], int(pad), l.seqs[l.head], l.epoch)
	if _, err := l.dev.WriteAt(buf, blockStart); err != nil {
		return fmt.Errorf("nvme: cut torn tail: %w", err)
	}
	l.tail = end + pad
	return nil
}

// Append writes recs after the log's end, as few device writes as segments
// it touches, submitted as one batch, and returns their locations in order.
// The records are durable once a later Sync returns nil.
func (l *Log) Append(recs []Record) ([]Location, error) {
	for i, r := range recs {
		if len(r.Data) > l.maxRecord {
			return nil, fmt.Errorf("nvme: record %d of %d bytes, at most %d fit a segment: %w", i, len(r.Data), l.maxRecord, ErrTooLarge)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(recs)
}

// appendLocked does Append's work with l.mu held.
func (l *Log) appendLocked(recs []Record) ([]Location, error) {
	if l.closed {
		return nil, ErrClosed
	}
	if l.broken != nil {
		return nil, l.broken
	}
	if len(recs) == 0 {
		return nil, nil
	}
	locs := make([]Location, 0, len(recs))
	for len(recs) > 0 {
		// Records that fit after the tail of the head segment.
		n, size := 0, int64(0)
		if l.head >= 0 {
			room := l.segStart(l.head) + l.segSize - l.tail
			if l.tail == l.segStart(l.head) {
				room -= l.bs // the segment header block
			}
			for n < len(recs) && size+recordHeaderSize+int64(len(recs[n].Data)) <= room {
				size += recordHeaderSize + int64(len(recs[n].Data))
				n++
			}
		}
		if n == 0 {
			if err := l.rotate(); err != nil {
				return locs, err
			}
			continue
		}
		got, err := l.writeRun(recs[:n], size)
		locs = append(locs, got...)
		if err != nil {
			return locs, err
		}
		recs = recs[n:]
	}
	return locs, nil
}

// writeRun writes recs, which fit, at the tail of the head segment, with a
// pad to the next block boundary, in one device write.
func (l *Log) writeRun(recs []Record, size int64) ([]Location, error) {
	seq := l.seqs[l.head]
	segEnd := l.segStart(l.head) + l.segSize
	start := l.tail
	hdr := int64(0)
	if start == l.segStart(l.head) {
		hdr = l.bs // a fresh segment: its header block goes in the same write
	}
	end := start + hdr + size
	pad := padFor(end, l.bs)
	if end+pad > segEnd {
		pad = segEnd - end // less than a header: the chain ends at segEnd anyway
	}
	buf := AlignedBuffer(int(hdr+size+pad), int(l.bs))
	if hdr > 0 {
		segmentHeader{seq: seq, epoch: l.epoch}.encode(buf)
	}
	locs := make([]Location, len(recs))
	pos := hdr
	for i, r := range recs {
		n, sum := encodeRecord(buf[pos:], seq, l.epoch, r.Key, r.Data)
		locs[i] = Location{Seq: seq, Off: start + pos, Len: uint32(len(r.Data)), Sum: sum}
		pos += int64(n)
	}
	if pad >= recordHeaderSize {
		encodePad(buf[pos:], int(pad), seq, l.epoch)
	}
	if err := WriteBatch(l.dev, []Write{{Off: start, Data: buf}}); err != nil {
		l.broken = fmt.Errorf("nvme: append refused after a failed write: %w", err)
		return nil, fmt.Errorf("nvme: append: %w", err)
	}
	l.tail = end + pad
	return locs, nil
}

// rotate makes a free slot the head. The old head is synced first, so that
// only the newest segment can ever have a torn tail.
func (l *Log) rotate() error {
	free := slices.Index(l.seqs, 0)
	if free < 0 {
		return ErrFull
	}
	if l.head >= 0 {
		if err := l.dev.Sync(); err != nil {
			return fmt.Errorf("nvme: sync before new segment: %w", err)
		}
	}
	l.seqs[free] = l.nextSeq
	l.nextSeq++
	l.head = free
	l.tail = l.segStart(free)
	return nil
}

// Sync makes every record appended so far durable.
func (l *Log) Sync() error {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if err := l.dev.Sync(); err != nil {
		return fmt.Errorf("nvme: sync log: %w", err)
	}
	return nil
}

// checkLocation validates loc against the segment table and returns the
// aligned span of the device that holds it.
func (l *Log) checkLocation(loc Location) (spanStart, spanEnd int64, err error) {
	slot := int((loc.Off - l.base) / l.segSize)
	if loc.Off < l.base || slot >= len(l.seqs) {
		return 0, 0, fmt.Errorf("nvme: location %v outside the log: %w", loc, ErrNoRecord)
	}
	segStart := l.segStart(slot)
	if loc.Off < segStart+l.bs || loc.Off+recordHeaderSize+int64(loc.Len) > segStart+l.segSize {
		return 0, 0, fmt.Errorf("nvme: location %v outside its segment: %w", loc, ErrNoRecord)
	}
	l.mu.Lock()
	seq, closed := l.seqs[slot], l.closed
	l.mu.Unlock()
	if closed {
		return 0, 0, ErrClosed
	}
	if seq != loc.Seq || seq == 0 {
		return 0, 0, fmt.Errorf("nvme: location %v: segment no longer holds it: %w", loc, ErrNoRecord)
	}
	return loc.Off - loc.Off%l.bs, roundUp(loc.Off+recordHeaderSize+int64(loc.Len), l.bs), nil
}

// verify checks the record at the start of b against loc and returns its
// payload, which aliases b.
func verify(b []byte, loc Location) ([]byte, [KeySize]byte, error) {
	h, err := decodeRecordHeader(b)
	if err != nil {
		return nil, h.key, fmt.Errorf("nvme: record at %v: %w: %w", loc, ErrCorrupt, err)
	}
	if h.magic != recordMagic || h.seq != loc.Seq || h.length != loc.Len || h.sum != loc.Sum {
		// A sound header of something else: the record loc named is gone.
		return nil, h.key, fmt.Errorf("nvme: %v holds another record (segment %d, length %d, sum %08x): %w", loc, h.seq, h.length, h.sum, ErrNoRecord)
	}
	payload := b[recordHeaderSize : recordHeaderSize+int(h.length)]
	if got := crc(payload); got != h.payloadCRC {
		return nil, h.key, fmt.Errorf("nvme: record at %v: payload checksum %#x, want %#x: %w", loc, got, h.payloadCRC, ErrCorrupt)
	}
	return payload, h.key, nil
}

// Read returns the payload of the record at loc after checking it: an error
// wrapping ErrCorrupt if a checksum fails, ErrNoRecord if loc names no live
// record. The returned slice belongs to the caller.
func (l *Log) Read(loc Location) ([]byte, error) {
	rec, err := l.ReadRecord(loc)
	return rec.Data, err
}

// ReadRecord is Read that also returns the record's key.
func (l *Log) ReadRecord(loc Location) (Record, error) {
	start, end, err := l.checkLocation(loc)
	if err != nil {
		return Record{}, err
	}
	buf := AlignedBuffer(int(end-start), int(l.bs))
	if _, err := l.dev.ReadAt(buf, start); err != nil {
		return Record{}, fmt.Errorf("nvme: read %v: %w", loc, err)
	}
	payload, key, err := verify(buf[loc.Off-start:], loc)
	return Record{Key: key, Data: payload}, err
}

// ReadMany reads the payloads at locs in one batched submission, checking
// each as Read does; it fails on the first bad location.
func (l *Log) ReadMany(locs []Location) ([][]byte, error) {
	rs := make([]Read, len(locs))
	for i, loc := range locs {
		start, end, err := l.checkLocation(loc)
		if err != nil {
			return nil, err
		}
		rs[i] = Read{Off: start, Buf: AlignedBuffer(int(end-start), int(l.bs))}
	}
	if err := ReadBatch(l.dev, rs); err != nil {
		return nil, fmt.Errorf("nvme: read %d records: %w", len(locs), err)
	}
	out := make([][]byte, len(locs))
	for i, loc := range locs {
		payload, _, err := verify(rs[i].Buf[loc.Off-rs[i].Off:], loc)
		if err != nil {
			return nil, err
		}
		out[i] = payload
	}
	return out, nil
}

// Walk calls fn for every record in the log, oldest segment first, in the
// order they were appended, stopping at fn's first error. It is how an index
// is rebuilt or checked. fn must not call the Log.
func (l *Log) Walk(fn func(key [KeySize]byte, loc Location) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	for _, slot := range l.slotsBySeq(false) {
		recs, _, err := l.scanSegment(slot, l.seqs[slot])
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := fn(r.key, r.loc); err != nil {
				return err
			}
		}
	}
	return nil
}

// slotsBySeq lists used slots, oldest first, without the head if sealedOnly.
func (l *Log) slotsBySeq(sealedOnly bool) []int {
	var slots []int
	for i, s := range l.seqs {
		if s != 0 && (!sealedOnly || i != l.head) {
			slots = append(slots, i)
		}
	}
	slices.SortFunc(slots, func(a, b int) int { return cmp.Compare(l.seqs[a], l.seqs[b]) })
	return slots
}

// LogStats describes a Log's space.
type LogStats struct {
	SegmentSize  int64
	Segments     int // segments on the device
	FreeSegments int
	Epoch        uint64 // opens of this log so far
	HeadSeq      uint64 // sequence number of the segment receiving appends, 0 if none
	HeadUsed     int64  // bytes used in the head segment, header included
}

// Stats reports the Log's space.
func (l *Log) Stats() LogStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := LogStats{SegmentSize: l.segSize, Segments: len(l.seqs), Epoch: l.epoch}
	for _, s := range l.seqs {
		if s == 0 {
			st.FreeSegments++
		}
	}
	if l.head >= 0 {
		st.HeadSeq = l.seqs[l.head]
		st.HeadUsed = l.tail - l.segStart(l.head)
	}
	return st
}

// Close syncs the log and detaches it from its device, which stays open.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.closed = true
	if err := l.dev.Sync(); err != nil {
		return fmt.Errorf("nvme: sync log: %w", err)
	}
	return nil
}
