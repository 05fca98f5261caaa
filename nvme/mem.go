package nvme

import "sync"

var _ Device = (*Mem)(nil)

// Mem is a Device in memory, for tests and as the reference the others are
// checked against. Sync does nothing: everything written is "durable" until
// the process exits.
type Mem struct {
	mu        sync.RWMutex
	data      []byte
	blockSize int
	closed    bool
}

// NewMem returns a zeroed in-memory Device of size bytes (rounded down to a
// multiple of blockSize) with the given block size, a power of two.
func NewMem(size int64, blockSize int) *Mem {
	if blockSize <= 0 || blockSize&(blockSize-1) != 0 {
		panic("nvme: block size must be a power of two")
	}
	size -= size % int64(blockSize)
	return &Mem{data: make([]byte, size), blockSize: blockSize}
}

// ReadAt implements Device.
func (m *Mem) ReadAt(p []byte, off int64) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0, ErrClosed
	}
	if err := checkRange("read", len(p), off, m.blockSize, int64(len(m.data))); err != nil {
		return 0, err
	}
	return copy(p, m.data[off:]), nil
}

// WriteAt implements Device.
func (m *Mem) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	if err := checkRange("write", len(p), off, m.blockSize, int64(len(m.data))); err != nil {
		return 0, err
	}
	return copy(m.data[off:], p), nil
}

// BlockSize implements Device.
func (m *Mem) BlockSize() int { return m.blockSize }

// Size implements Device.
func (m *Mem) Size() int64 { return int64(len(m.data)) }

// Sync implements Device.
func (m *Mem) Sync() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	return nil
}

// Close implements Device.
func (m *Mem) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.closed = true
	return nil
}

// Info implements Describer.
func (m *Mem) Info() Info { return Info{Backend: "mem"} }
