package server

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/helios-vcs/helios/nvme"
	"github.com/helios-vcs/helios/objstore"
)

// Frame kinds (see the package documentation).
const (
	frameHello  byte = 'h'
	frameQuery  byte = 'q'
	frameResult byte = 'r'
	frameError  byte = 'e'
	frameData   byte = 'd'
	frameEnd    byte = 'z'
	framePipe   byte = 'p' // a pipe of objects instead of a stream (fdpass.go)
)

// maxFrame bounds a frame's payload; bigger values travel as data streams.
const maxFrame = 16 << 20

// dataChunk is the payload size of the data frames a stream is cut into.
const dataChunk = 64 << 10

// ErrProtocol is wrapped by malformed frames and payloads.
var ErrProtocol = errors.New("server: protocol error")

// writeFrame appends one frame to w (a buffered writer: the caller flushes).
func writeFrame(w *bufio.Writer, kind byte, payload []byte) error {
	if len(payload) > maxFrame {
		return fmt.Errorf("%w: frame of %d bytes", ErrProtocol, len(payload))
	}
	var h [5]byte
	binary.LittleEndian.PutUint32(h[:4], uint32(len(payload)+1))
	h[4] = kind
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// readFrame reads one frame. The payload reuses buf when it is big enough;
// it is valid until the next call with the same buf.
func readFrame(r *bufio.Reader, buf []byte) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.LittleEndian.Uint32(h[:4])
	if n == 0 || n-1 > maxFrame {
		return 0, nil, fmt.Errorf("%w: frame length %d", ErrProtocol, n)
	}
	buf, err := readPayload(r, buf, int(n-1))
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return h[4], buf, nil
}

// readPayload reads n bytes into buf. Beyond buf's capacity the payload
// grows as its bytes arrive (doubling from dataChunk), so that a 5-byte
// header announcing maxFrame bytes and then nothing costs the server
// dataChunk bytes, not maxFrame.
func readPayload(r io.Reader, buf []byte, n int) ([]byte, error) {
	if cap(buf) >= n {
		buf = buf[:n]
		_, err := io.ReadFull(r, buf)
		return buf, err
	}
	buf = buf[:0]
	for len(buf) < n {
		step := min(n-len(buf), max(len(buf), dataChunk))
		buf = slices.Grow(buf, step)
		m, err := io.ReadFull(r, buf[len(buf):len(buf)+step])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// enc builds a payload: unsigned varints, length-prefixed strings and
// bytes, IDs as 32 raw bytes.
type enc struct{ b []byte }

func (e *enc) u(v uint64)        { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) i(v int64)         { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) str(s string)      { e.u(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) bytes(p []byte)    { e.u(uint64(len(p))); e.b = append(e.b, p...) }
func (e *enc) id(id objstore.ID) { e.b = append(e.b, id[:]...) }
func (e *enc) byte1(c byte)      { e.b = append(e.b, c) }
func (e *enc) time(t time.Time)  { e.i(t.UnixNano()); _, off := t.Zone(); e.i(int64(off)) }
func (e *enc) entry(x objstore.Entry) {
	e.str(x.Name)
	e.u(uint64(x.Mode))
	e.id(x.ID)
}

func (e *enc) flag(b bool) {
	if b {
		e.byte1(1)
	} else {
		e.byte1(0)
	}
}

func (e *enc) sig(s objstore.Signature) {
	e.str(s.Name)
	e.str(s.Email)
	e.flag(!s.When.IsZero())
	if !s.When.IsZero() {
		e.time(s.When)
	}
}

func (e *enc) ids(ids []objstore.ID) {
	e.u(uint64(len(ids)))
	for _, id := range ids {
		e.id(id)
	}
}

func (e *enc) counts(m map[string]int) {
	e.u(uint64(len(m)))
	for k, v := range m {
		e.str(k)
		e.i(int64(v))
	}
}

// dec reads a payload; the first failure sticks in err and later reads
// return zero values.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrProtocol, what)
	}
	d.b = nil
}

func (d *dec) u() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) i() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// n reads a count or length, bounded by what is left of the payload (every
// element takes at least one byte), so a hostile length cannot allocate.
func (d *dec) n() int {
	v := d.u()
	if v > uint64(len(d.b)) {
		d.fail("length")
		return 0
	}
	return int(v)
}

// count reads the number of elements of a list whose elements each take
// at least size bytes of the payload: a count the rest of the payload
// cannot hold fails, so that a caller may make a slice of that many
// without a hostile count making it allocate more than a small multiple
// of what was sent.
func (d *dec) count(size int) int {
	v := d.u()
	if v > uint64(len(d.b)/size) {
		d.fail("count")
		return 0
	}
	return int(v)
}

// hint bounds the capacity made for n elements of a map or of a list
// whose elements are much bigger in memory than their smallest encoding
// (the rest is grown as elements decode).
func hint(n int) int { return min(n, 1024) }

func (d *dec) raw(n int) []byte {
	if n < 0 || n > len(d.b) {
		d.fail("length")
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *dec) str() string { return string(d.raw(d.n())) }

// bytes returns a copy: payload buffers are reused.
func (d *dec) bytes() []byte { return append([]byte(nil), d.raw(d.n())...) }

func (d *dec) byte1() byte {
	p := d.raw(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (d *dec) flag() bool { return d.byte1() == 1 }

func (d *dec) id() objstore.ID {
	var id objstore.ID
	copy(id[:], d.raw(32))
	return id
}

func (d *dec) time() time.Time {
	ns, off := d.i(), d.i()
	if off < math.MinInt32 || off > math.MaxInt32 {
		d.fail("zone")
		return time.Time{}
	}
	t := time.Unix(0, ns)
	if _, local := t.Zone(); local == int(off) {
		return t.Local()
	}
	return t.In(time.FixedZone("", int(off)))
}

// entrySize is the smallest encoding of an entry: an empty name, a
// one-byte mode and an ID.
const entrySize = 1 + 1 + 32

func (d *dec) entry() objstore.Entry {
	return objstore.Entry{Name: d.str(), Mode: objstore.Mode(d.u()), ID: d.id()}
}

func (d *dec) sig() objstore.Signature {
	s := objstore.Signature{Name: d.str(), Email: d.str()}
	if d.flag() {
		s.When = d.time()
	}
	return s
}

func (d *dec) ids() []objstore.ID {
	n := d.count(32)
	if n == 0 {
		return nil
	}
	out := make([]objstore.ID, 0, n)
	for range n {
		out = append(out, d.id())
	}
	return out
}

func (d *dec) counts() map[string]int {
	n := d.n()
	m := make(map[string]int, hint(n))
	for i := 0; i < n && d.err == nil; i++ {
		k := d.str()
		m[k] = int(d.i())
	}
	return m
}

// done checks that the payload was read to its end.
func (d *dec) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return d.err
}

// Encodings shared by requests and results.

func (e *enc) state(st *objstore.State) {
	e.id(st.Root)
	e.ids(st.Parents)
	e.sig(st.Author)
	e.sig(st.Committer)
	e.str(st.Message)
}

func (d *dec) state() *objstore.State {
	return &objstore.State{Root: d.id(), Parents: d.ids(), Author: d.sig(), Committer: d.sig(), Message: d.str()}
}

func (e *enc) changes(cs []objstore.Change) {
	e.u(uint64(len(cs)))
	for _, c := range cs {
		e.str(c.Path)
		e.byte1(byte(c.Op))
		e.entry(c.From)
		e.entry(c.To)
	}
}

func (d *dec) changes() []objstore.Change {
	n := d.count(1 + 1 + 2*entrySize)
	if n == 0 {
		return nil
	}
	out := make([]objstore.Change, 0, n)
	for range n {
		out = append(out, objstore.Change{Path: d.str(), Op: objstore.ChangeOp(d.byte1()), From: d.entry(), To: d.entry()})
	}
	return out
}

func (e *enc) entries(es []objstore.Entry) {
	e.u(uint64(len(es)))
	for _, x := range es {
		e.entry(x)
	}
}

func (d *dec) entries() []objstore.Entry {
	n := d.count(entrySize)
	out := make([]objstore.Entry, 0, n)
	for range n {
		out = append(out, d.entry())
	}
	return out
}

func (e *enc) refs(rs []objstore.Ref) {
	e.u(uint64(len(rs)))
	for _, r := range rs {
		e.str(r.Name)
		e.id(r.ID)
		e.str(r.Target)
	}
}

func (d *dec) refs() []objstore.Ref {
	n := d.count(1 + 32 + 1)
	out := make([]objstore.Ref, 0, n)
	for range n {
		out = append(out, objstore.Ref{Name: d.str(), ID: d.id(), Target: d.str()})
	}
	return out
}

func (e *enc) snapshotResult(r objstore.SnapshotResult) {
	e.id(r.State)
	e.id(r.Parent)
	e.flag(r.Changed)
	e.u(uint64(r.Scanned))
	e.u(uint64(r.Read))
	e.changes(r.Changes)
}

func (d *dec) snapshotResult() objstore.SnapshotResult {
	return objstore.SnapshotResult{State: d.id(), Parent: d.id(), Changed: d.flag(), Scanned: int(d.u()), Read: int(d.u()), Changes: d.changes()}
}

func (e *enc) fsckReport(r *objstore.FsckReport) {
	e.u(uint64(r.Refs))
	e.counts(r.Reachable)
	e.counts(r.Unreferenced)
	e.u(uint64(len(r.Problems)))
	for _, p := range r.Problems {
		e.byte1(byte(p.Kind))
		e.id(p.ID)
		e.str(p.Ref)
		e.str(p.Path)
		e.str(p.Err)
	}
}

func (d *dec) fsckReport() *objstore.FsckReport {
	r := &objstore.FsckReport{Refs: int(d.u()), Reachable: d.counts(), Unreferenced: d.counts()}
	n := d.n()
	for i := 0; i < n && d.err == nil; i++ {
		r.Problems = append(r.Problems, objstore.Problem{Kind: objstore.Kind(d.byte1()), ID: d.id(), Ref: d.str(), Path: d.str(), Err: d.str()})
	}
	return r
}

func (e *enc) gcReport(r *objstore.GCReport) error {
	e.counts(r.Reachable)
	e.counts(r.Deleted)
	e.i(r.DeletedBytes)
	e.u(uint64(r.StaleStats))
	e.flag(r.Tier != nil)
	if r.Tier != nil {
		t := r.Tier
		e.u(uint64(t.SegmentsScanned))
		e.u(uint64(t.SegmentsFreed))
		e.u(uint64(t.RecordsMoved))
		e.i(t.BytesMoved)
	}
	return nil
}

func (d *dec) gcReport() *objstore.GCReport {
	r := &objstore.GCReport{Reachable: d.counts(), Deleted: d.counts(), DeletedBytes: d.i(), StaleStats: int(d.u())}
	if d.flag() {
		r.Tier = &nvme.CompactStats{SegmentsScanned: int(d.u()), SegmentsFreed: int(d.u()), RecordsMoved: int(d.u()), BytesMoved: d.i()}
	}
	return r
}
