package nvme

import (
	"fmt"
	"os"
	"sync"
)

var (
	_ Device      = (*File)(nil)
	_ BatchWriter = (*File)(nil)
	_ BatchReader = (*File)(nil)
	_ Describer   = (*File)(nil)
)

// fileBase is what every file-backed Device shares.
type fileBase struct {
	f         *os.File
	size      int64
	blockSize int
	direct    bool
}

// File is a Device doing one pread or pwrite system call per access, with
// O_DIRECT when Open got it. Buffers that are not aligned for O_DIRECT are
// copied through an aligned bounce buffer.
type File struct {
	fileBase
	fallbacks []string

	mu     sync.RWMutex // write-held only by Close
	closed bool
}

// ReadAt implements Device.
func (d *File) ReadAt(p []byte, off int64) (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return 0, ErrClosed
	}
	if err := checkRange("read", len(p), off, d.blockSize, d.size); err != nil {
		return 0, err
	}
	return d.readAt(p, off)
}

func (d *File) readAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	buf := p
	if d.direct && !isAligned(p, d.blockSize) {
		buf = AlignedBuffer(len(p), d.blockSize)
	}
	n, err := d.f.ReadAt(buf, off)
	if err != nil {
		return n, fmt.Errorf("nvme: read %d bytes at %d: %w", len(p), off, err)
	}
	if &buf[0] != &p[0] {
		copy(p, buf)
	}
	return n, nil
}

// WriteAt implements Device.
func (d *File) WriteAt(p []byte, off int64) (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return 0, ErrClosed
	}
	if err := checkRange("write", len(p), off, d.blockSize, d.size); err != nil {
		return 0, err
	}
	return d.writeAt(p, off)
}

func (d *File) writeAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	buf := p
	if d.direct && !isAligned(p, d.blockSize) {
		buf = AlignedBuffer(len(p), d.blockSize)
		copy(buf, p)
	}
	n, err := d.f.WriteAt(buf, off)
	if err != nil {
		return n, fmt.Errorf("nvme: write %d bytes at %d: %w", len(p), off, err)
	}
	return n, nil
}

// WriteBatch implements BatchWriter with one pwrite after another; it checks
// the whole batch before writing any of it.
func (d *File) WriteBatch(ws []Write) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ErrClosed
	}
	for _, w := range ws {
		if err := checkRange("write", len(w.Data), w.Off, d.blockSize, d.size); err != nil {
			return err
		}
	}
	for _, w := range ws {
		if _, err := d.writeAt(w.Data, w.Off); err != nil {
			return err
		}
	}
	return nil
}

// ReadBatch implements BatchReader with one pread after another.
func (d *File) ReadBatch(rs []Read) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ErrClosed
	}
	for _, r := range rs {
		if err := checkRange("read", len(r.Buf), r.Off, d.blockSize, d.size); err != nil {
			return err
		}
	}
	for _, r := range rs {
		if len(r.Buf) == 0 {
			continue
		}
		if _, err := d.readAt(r.Buf, r.Off); err != nil {
			return err
		}
	}
	return nil
}

// BlockSize implements Device.
func (d *File) BlockSize() int { return d.blockSize }

// Size implements Device.
func (d *File) Size() int64 { return d.size }

// Sync implements Device with fdatasync (fsync where that does not exist):
// the file's size was made durable when Open grew it.
func (d *File) Sync() error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ErrClosed
	}
	return d.sync()
}

// Close implements Device.
func (d *File) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	d.closed = true
	if err := d.f.Close(); err != nil {
		return fmt.Errorf("nvme: close device: %w", err)
	}
	return nil
}

// Info implements Describer.
func (d *File) Info() Info {
	return Info{Backend: "pread", Direct: d.direct, Fallbacks: d.fallbacks}
}
