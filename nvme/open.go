package nvme

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// Backend selects how Open does I/O.
type Backend int

const (
	// Auto tries io_uring and falls back to pread/pwrite when the kernel
	// refuses it (ENOSYS on old kernels, EPERM under seccomp).
	Auto Backend = iota
	// Uring insists on io_uring; Open fails if it cannot be set up.
	Uring
	// Pread uses pread/pwrite system calls.
	Pread
)

// Options configure Open. The zero value opens an existing file or block
// device with Auto, O_DIRECT when possible and a 4 KiB block size.
type Options struct {
	Backend Backend
	// Size, when positive, creates a missing regular file and grows a
	// smaller one to Size bytes (never shrinks). A block device keeps its
	// size.
	Size int64
	// BlockSize is the access alignment, a power of two; 0 means 4096 or the
	// device's logical sector size if larger.
	BlockSize int
	// Buffered turns O_DIRECT off: I/O goes through the page cache.
	Buffered bool
	// QueueDepth is the number of io_uring submission entries and of
	// registered buffers; 0 means 64.
	QueueDepth int
	// BufferSize is the size of each registered io_uring buffer, a multiple
	// of BlockSize; 0 means 256 KiB. Larger transfers are split into several
	// entries of one submission.
	BufferSize int
	// Logf, when set, receives one line for each fallback Open takes. Open
	// never prints on its own; the same lines are in Info().Fallbacks.
	Logf func(format string, args ...any)
}

const (
	defaultBlockSize  = 4096
	defaultQueueDepth = 64
	defaultBufferSize = 256 << 10
)

// Hooks replaced by tests to inject the failures the kernel would give
// elsewhere (tmpfs refusing O_DIRECT, seccomp refusing io_uring).
var (
	openFile  = os.OpenFile
	uringOpen = newUring
)

// Open opens the regular file or block device at path as a Device, as opts
// says. The returned Device is also a Describer, a BatchWriter and a
// BatchReader.
func Open(path string, opts Options) (Device, error) {
	if opts.BlockSize == 0 {
		opts.BlockSize = defaultBlockSize
	}
	if opts.BlockSize < 512 || opts.BlockSize&(opts.BlockSize-1) != 0 {
		return nil, fmt.Errorf("nvme: block size %d is not a power of two of at least 512", opts.BlockSize)
	}
	if opts.QueueDepth == 0 {
		opts.QueueDepth = defaultQueueDepth
	}
	if opts.BufferSize == 0 {
		opts.BufferSize = defaultBufferSize
	}
	if opts.BufferSize%opts.BlockSize != 0 || opts.QueueDepth < 1 {
		return nil, fmt.Errorf("nvme: buffer size %d must be a multiple of block size %d and queue depth %d positive", opts.BufferSize, opts.BlockSize, opts.QueueDepth)
	}
	var fallbacks []string
	note := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		fallbacks = append(fallbacks, msg)
		if opts.Logf != nil {
			opts.Logf("%s", msg)
		}
	}

	flags := os.O_RDWR
	if opts.Size > 0 {
		flags |= os.O_CREATE
	}
	direct := !opts.Buffered && oDirect != 0
	var f *os.File
	var err error
	if direct {
		f, err = openFile(path, flags|oDirect, 0o644)
		if errors.Is(err, syscall.EINVAL) {
			note("nvme: %q refuses O_DIRECT (%v); using buffered I/O", path, err)
			direct = false
		} else if err != nil {
			return nil, fmt.Errorf("nvme: open device: %w", err)
		}
	}
	if !direct {
		f, err = openFile(path, flags, 0o644)
		if err != nil {
			return nil, fmt.Errorf("nvme: open device: %w", err)
		}
	}
	size, blockSize, err := prepare(f, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	base := fileBase{f: f, size: size, blockSize: blockSize, direct: direct}

	if opts.Backend == Auto || opts.Backend == Uring {
		u, err := uringOpen(base, opts.QueueDepth, opts.BufferSize)
		if err == nil {
			u.fallbacks = fallbacks
			return u, nil
		}
		if opts.Backend == Uring {
			f.Close()
			return nil, err
		}
		note("nvme: io_uring unavailable (%v); using pread/pwrite", err)
	}
	return &File{fileBase: base, fallbacks: fallbacks}, nil
}

// prepare sizes the file and settles the block size.
func prepare(f *os.File, opts Options) (size int64, blockSize int, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("nvme: stat device: %w", err)
	}
	blockSize = opts.BlockSize
	switch {
	case st.Mode().IsRegular():
		size = st.Size()
		if opts.Size > size {
			if err := f.Truncate(opts.Size); err != nil {
				return 0, 0, fmt.Errorf("nvme: grow device to %d bytes: %w", opts.Size, err)
			}
			if err := f.Sync(); err != nil {
				return 0, 0, fmt.Errorf("nvme: sync device size: %w", err)
			}
			size = opts.Size
		}
	case st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0:
		size, err = f.Seek(0, io.SeekEnd)
		if err != nil {
			return 0, 0, fmt.Errorf("nvme: size of block device: %w", err)
		}
		if ss := sectorSize(f); ss > blockSize {
			blockSize = ss
		}
	default:
		return 0, 0, fmt.Errorf("nvme: %q is neither a regular file nor a block device", f.Name())
	}
	size -= size % int64(blockSize)
	if size == 0 {
		return 0, 0, fmt.Errorf("nvme: %q is empty; set Options.Size to create it", f.Name())
	}
	return size, blockSize, nil
}
