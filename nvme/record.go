package nvme

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// On-disk constants; doc.go is the specification they implement.
const (
	recordHeaderSize = 64
	recordMagic      = 0x31524c48 // "HLR1" little-endian
	padMagic         = 0x31504c48 // "HLP1"
	segmentMagic     = 0x3147534c // "LSG1"
	superMagic       = 0x3142534c // "LSB1"
	formatVersion    = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// KeySize is the size of the caller's key stored with every record.
const KeySize = 32

// recordHeader is the 64-byte header in front of every record and pad.
type recordHeader struct {
	magic      uint32 // recordMagic or padMagic
	length     uint32 // payload bytes after the header
	seq        uint64 // sequence number of the segment it was written into
	epoch      uint64 // superblock epoch of the Log that wrote it
	key        [KeySize]byte
	payloadCRC uint32 // CRC-32C of the payload; 0 for a pad
	sum        uint32 // CRC-32C of the 60 bytes before it, as stored
}

var errBadHeader = errors.New("nvme: bad record header")

func (h *recordHeader) encode(b []byte) {
	_ = b[recordHeaderSize-1]
	defer func() { h.sum = binary.LittleEndian.Uint32(b[60:]) }()
	binary.LittleEndian.PutUint32(b[0:], h.magic)
	binary.LittleEndian.PutUint32(b[4:], h.length)
	binary.LittleEndian.PutUint64(b[8:], h.seq)
	binary.LittleEndian.PutUint64(b[16:], h.epoch)
	copy(b[24:56], h.key[:])
	binary.LittleEndian.PutUint32(b[56:], h.payloadCRC)
	binary.LittleEndian.PutUint32(b[60:], crc(b[:60]))
}

// decodeRecordHeader parses and checks a header; it does not look at the
// payload.
func decodeRecordHeader(b []byte) (recordHeader, error) {
	var h recordHeader
	if len(b) < recordHeaderSize {
		return h, fmt.Errorf("%w: %d bytes, want %d", errBadHeader, len(b), recordHeaderSize)
	}
	h.magic = binary.LittleEndian.Uint32(b[0:])
	if h.magic != recordMagic && h.magic != padMagic {
		return h, fmt.Errorf("%w: magic %#x", errBadHeader, h.magic)
	}
	if got, want := crc(b[:60]), binary.LittleEndian.Uint32(b[60:]); got != want {
		return h, fmt.Errorf("%w: header checksum %#x, want %#x", errBadHeader, got, want)
	}
	h.length = binary.LittleEndian.Uint32(b[4:])
	h.seq = binary.LittleEndian.Uint64(b[8:])
	h.epoch = binary.LittleEndian.Uint64(b[16:])
	copy(h.key[:], b[24:56])
	h.payloadCRC = binary.LittleEndian.Uint32(b[56:])
	h.sum = binary.LittleEndian.Uint32(b[60:])
	return h, nil
}

// encodeRecord writes a record (header and payload) at the start of b and
// returns its size and header checksum.
func encodeRecord(b []byte, seq, epoch uint64, key [KeySize]byte, payload []byte) (int, uint32) {
	h := recordHeader{magic: recordMagic, length: uint32(len(payload)), seq: seq, epoch: epoch, key: key, payloadCRC: crc(payload)}
	h.encode(b)
	copy(b[recordHeaderSize:], payload)
	return recordHeaderSize + len(payload), h.sum
}

// encodePad writes a pad covering exactly n bytes (n >= recordHeaderSize)
// at the start of b, zeroing what it covers.
func encodePad(b []byte, n int, seq, epoch uint64) {
	h := recordHeader{magic: padMagic, length: uint32(n - recordHeaderSize), seq: seq, epoch: epoch}
	h.encode(b)
	clear(b[recordHeaderSize:n])
}

// padFor returns how many pad bytes bring an end offset to a block boundary
// without leaving a gap too small for a pad header: 0, or at least
// recordHeaderSize.
func padFor(end, blockSize int64) int64 {
	gap := roundUp(end, blockSize) - end
	if gap != 0 && gap < recordHeaderSize {
		gap += blockSize
	}
	return gap
}

// segmentHeader is the first block of a segment in use.
type segmentHeader struct {
	seq   uint64
	epoch uint64
}

const segmentHeaderSize = 28

func (h segmentHeader) encode(b []byte) {
	binary.LittleEndian.PutUint32(b[0:], segmentMagic)
	binary.LittleEndian.PutUint32(b[4:], formatVersion)
	binary.LittleEndian.PutUint64(b[8:], h.seq)
	binary.LittleEndian.PutUint64(b[16:], h.epoch)
	binary.LittleEndian.PutUint32(b[24:], crc(b[:24]))
}

// decodeSegmentHeader reports whether b starts with a valid segment header.
func decodeSegmentHeader(b []byte) (segmentHeader, bool) {
	if binary.LittleEndian.Uint32(b[0:]) != segmentMagic ||
		binary.LittleEndian.Uint32(b[4:]) != formatVersion ||
		binary.LittleEndian.Uint32(b[24:]) != crc(b[:24]) {
		return segmentHeader{}, false
	}
	h := segmentHeader{seq: binary.LittleEndian.Uint64(b[8:]), epoch: binary.LittleEndian.Uint64(b[16:])}
	return h, h.seq != 0
}

// superblock describes the Log's geometry; two copies alternate.
type superblock struct {
	blockSize    uint32
	segmentSize  uint64
	segmentCount uint64
	epoch        uint64
}

const superblockSize = 44

func (s superblock) encode(b []byte) {
	binary.LittleEndian.PutUint32(b[0:], superMagic)
	binary.LittleEndian.PutUint32(b[4:], formatVersion)
	binary.LittleEndian.PutUint32(b[8:], s.blockSize)
	binary.LittleEndian.PutUint32(b[12:], 0)
	binary.LittleEndian.PutUint64(b[16:], s.segmentSize)
	binary.LittleEndian.PutUint64(b[24:], s.segmentCount)
	binary.LittleEndian.PutUint64(b[32:], s.epoch)
	binary.LittleEndian.PutUint32(b[40:], crc(b[:40]))
}

func decodeSuperblock(b []byte) (superblock, bool) {
	if binary.LittleEndian.Uint32(b[0:]) != superMagic ||
		binary.LittleEndian.Uint32(b[4:]) != formatVersion ||
		binary.LittleEndian.Uint32(b[40:]) != crc(b[:40]) {
		return superblock{}, false
	}
	return superblock{
		blockSize:    binary.LittleEndian.Uint32(b[8:]),
		segmentSize:  binary.LittleEndian.Uint64(b[16:]),
		segmentCount: binary.LittleEndian.Uint64(b[24:]),
		epoch:        binary.LittleEndian.Uint64(b[32:]),
	}, true
}

// Location says where one record is: the sequence number of the segment it
// was written into, the device offset of its header, its payload length,
// and the checksum of its header, which ties the Location to that one
// record (another record later written at the same place has another key or
// epoch, so another header checksum). It is a value type, comparable and
// usable as a map key; MarshalBinary gives a fixed 24-byte form for an
// index.
type Location struct {
	Seq uint64
	Off int64
	Len uint32
	Sum uint32
}

// LocationSize is the length of a Location's binary form.
const LocationSize = 24

// String formats a Location for messages.
func (l Location) String() string {
	return fmt.Sprintf("seg%d@%d+%d/%08x", l.Seq, l.Off, l.Len, l.Sum)
}

// AppendBinary appends the 24-byte form of l to b.
func (l Location) AppendBinary(b []byte) ([]byte, error) {
	b = binary.LittleEndian.AppendUint64(b, l.Seq)
	b = binary.LittleEndian.AppendUint64(b, uint64(l.Off))
	b = binary.LittleEndian.AppendUint32(b, l.Len)
	return binary.LittleEndian.AppendUint32(b, l.Sum), nil
}

// MarshalBinary returns the 24-byte form of l.
func (l Location) MarshalBinary() ([]byte, error) {
	return l.AppendBinary(make([]byte, 0, LocationSize))
}

// UnmarshalBinary parses the form MarshalBinary writes, strictly.
func (l *Location) UnmarshalBinary(b []byte) error {
	if len(b) != LocationSize {
		return fmt.Errorf("nvme: location is %d bytes, want %d", len(b), LocationSize)
	}
	l.Seq = binary.LittleEndian.Uint64(b[0:])
	l.Off = int64(binary.LittleEndian.Uint64(b[8:]))
	l.Len = binary.LittleEndian.Uint32(b[16:])
	l.Sum = binary.LittleEndian.Uint32(b[20:])
	return nil
}
