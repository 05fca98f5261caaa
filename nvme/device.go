package nvme

import (
	"errors"
	"fmt"
	"unsafe"
)

// Device is a block-addressed store of bytes: the seam between the segment
// log and whatever holds the bytes (a file, a block device through io_uring
// or pread/pwrite, memory, or one day an SPDK bdev).
//
// Contract:
//   - Offsets and lengths passed to ReadAt and WriteAt must be multiples of
//     BlockSize, and off+len(p) must not exceed Size; otherwise the call fails
//     with an error wrapping ErrUnaligned or ErrOutOfRange and does nothing.
//     The buffer p may live anywhere: implementations that need aligned
//     memory (O_DIRECT) copy through their own aligned or registered buffers.
//   - ReadAt and WriteAt transfer all of p or return a non-nil error; n is
//     len(p) on success. They do not retain p after returning.
//   - A WriteAt is durable only after a later Sync returns nil. A crash before
//     that may leave any subset of the written blocks on the device, and a
//     block may be torn.
//   - Size and BlockSize never change while the Device is open.
//   - All methods are safe for concurrent use. Concurrent writes to
//     overlapping ranges leave the range in an unspecified state.
//   - Close releases the device; later calls fail with ErrClosed. The caller
//     that opened a Device closes it.
type Device interface {
	ReadAt(p []byte, off int64) (n int, err error)
	WriteAt(p []byte, off int64) (n int, err error)
	// BlockSize is the alignment of offsets and lengths, a power of two.
	BlockSize() int
	// Size is the usable size in bytes, a multiple of BlockSize.
	Size() int64
	Sync() error
	Close() error
}

// Write is one write of a batch: Data goes to device offset Off.
type Write struct {
	Off  int64
	Data []byte
}

// Read is one read of a batch: Buf is filled from device offset Off.
type Read struct {
	Off int64
	Buf []byte
}

// BatchWriter is the optional ability to submit many writes at once (one
// io_uring_submit for the whole batch). The batch follows the alignment rules
// of WriteAt; it either completes entirely or returns an error, after which
// any subset of the writes may have happened. Use the package function
// WriteBatch, which falls back to a loop for devices without the ability.
type BatchWriter interface {
	WriteBatch(ws []Write) error
}

// BatchReader is the optional ability to submit many reads at once. See
// BatchWriter; use the package function ReadBatch.
type BatchReader interface {
	ReadBatch(rs []Read) error
}

// Describer is the optional ability to say how a device does its I/O.
type Describer interface {
	Info() Info
}

// Info describes how a Device does its I/O.
type Info struct {
	// Backend is "io_uring", "pread" or "mem".
	Backend string
	// Direct reports whether I/O bypasses the page cache (O_DIRECT).
	Direct bool
	// Fallbacks lists, in order, why Open did not get what it first tried
	// (io_uring unavailable, O_DIRECT refused). Empty when nothing fell back.
	Fallbacks []string
}

// Errors. Callers match them with errors.Is.
var (
	ErrUnaligned  = errors.New("nvme: unaligned access")
	ErrOutOfRange = errors.New("nvme: access beyond device end")
	ErrClosed     = errors.New("nvme: device closed")
)

// WriteBatch writes every element of ws, in one submission when d is a
// BatchWriter and one WriteAt after another otherwise.
func WriteBatch(d Device, ws []Write) error {
	if bw, ok := d.(BatchWriter); ok {
		return bw.WriteBatch(ws)
	}
	for _, w := range ws {
		if _, err := d.WriteAt(w.Data, w.Off); err != nil {
			return err
		}
	}
	return nil
}

// ReadBatch fills every element of rs, in one submission when d is a
// BatchReader and one ReadAt after another otherwise.
func ReadBatch(d Device, rs []Read) error {
	if br, ok := d.(BatchReader); ok {
		return br.ReadBatch(rs)
	}
	for _, r := range rs {
		if _, err := d.ReadAt(r.Buf, r.Off); err != nil {
			return err
		}
	}
	return nil
}

// DescribeDevice returns d's Info, or an Info naming only its Go type when d
// is not a Describer.
func DescribeDevice(d Device) Info {
	if di, ok := d.(Describer); ok {
		return di.Info()
	}
	return Info{Backend: fmt.Sprintf("%T", d)}
}

// checkRange validates one access against the Device contract.
func checkRange(op string, n int, off int64, blockSize int, size int64) error {
	bs := int64(blockSize)
	if off < 0 || off%bs != 0 || int64(n)%bs != 0 {
		return fmt.Errorf("nvme: %s of %d bytes at offset %d, block size %d: %w", op, n, off, blockSize, ErrUnaligned)
	}
	if off+int64(n) > size {
		return fmt.Errorf("nvme: %s of %d bytes at offset %d, device size %d: %w", op, n, off, size, ErrOutOfRange)
	}
	return nil
}

// AlignedBuffer returns a zeroed slice of n bytes whose first byte sits at an
// address that is a multiple of align (a power of two). Buffers from it can
// be handed to an O_DIRECT device without a bounce copy. The memory is
// ordinary Go memory, which the garbage collector does not move.
func AlignedBuffer(n, align int) []byte {
	if n == 0 {
		return []byte{}
	}
	b := make([]byte, n+align)
	skip := 0
	if r := int(uintptr(unsafe.Pointer(&b[0])) & uintptr(align-1)); r != 0 {
		skip = align - r
	}
	return b[skip : skip+n : skip+n]
}

func isAligned(p []byte, align int) bool {
	return len(p) == 0 || uintptr(unsafe.Pointer(&p[0]))&uintptr(align-1) == 0
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }
