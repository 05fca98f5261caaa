//go:build linux && cgo

package nvme

/*
#cgo LDFLAGS: -luring
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <liburing.h>

struct helios_op {
	uint64_t off;
	uint64_t addr;
	uint32_t len;
	int32_t res;
	uint16_t buf;
	uint8_t write;
};

// helios_ring_new sets up a ring of the given entries and registers nbufs
// buffers of bufsize bytes laid out back to back from base.
static struct io_uring *helios_ring_new(unsigned entries, void *base, unsigned nbufs, unsigned bufsize, int *err) {
	struct io_uring *r = calloc(1, sizeof *r);
	if (r == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	// SUBMIT_ALL (5.18) keeps submitting after an entry fails to prepare.
	int ret = io_uring_queue_init(entries, r, IORING_SETUP_SUBMIT_ALL);
	if (ret == -EINVAL)
		ret = io_uring_queue_init(entries, r, 0);
	if (ret < 0) {
		free(r);
		*err = ret;
		return NULL;
	}
	struct iovec *iov = calloc(nbufs, sizeof *iov);
	if (iov == NULL) {
		io_uring_queue_exit(r);
		free(r);
		*err = -ENOMEM;
		return NULL;
	}
	for (unsigned i = 0; i < nbufs; i++) {
		iov[i].iov_base = (char *)base + (size_t)i * bufsize;
		iov[i].iov_len = bufsize;
	}
	ret = io_uring_register_buffers(r, iov, nbufs);
	free(iov);
	if (ret < 0) {
		io_uring_queue_exit(r);
		free(r);
		*err = ret;
		return NULL;
	}
	return r;
}

static void helios_ring_free(struct io_uring *r) {
	io_uring_queue_exit(r);
	free(r);
}

// helios_ring_run prepares n fixed-buffer operations (n at most the ring's
// entries), submits them with one io_uring_enter and waits for all of them.
// Each result lands in ops[i].res. It returns 0, or a negative errno when the
// ring itself failed, after which the ring must not be used again.
static int helios_ring_run(struct io_uring *r, int fd, struct helios_op *ops, int n) {
	for (int i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(r);
		if (sqe == NULL)
			return -EBUSY;
		void *addr = (void *)(uintptr_t)ops[i].addr;
		if (ops[i].write)
			io_uring_prep_write_fixed(sqe, fd, addr, ops[i].len, ops[i].off, ops[i].buf);
		else
			io_uring_prep_read_fixed(sqe, fd, addr, ops[i].len, ops[i].off, ops[i].buf);
		io_uring_sqe_set_data64(sqe, (uint64_t)i);
	}
	int ret;
	do {
		ret = io_uring_submit_and_wait(r, n);
	} while (ret == -EINTR || (ret >= 0 && io_uring_sq_ready(r) > 0));
	if (ret < 0)
		return ret;
	for (int done = 0; done < n; done++) {
		struct io_uring_cqe *cqe;
		do {
			ret = io_uring_wait_cqe(r, &cqe);
		} while (ret == -EINTR);
		if (ret < 0)
			return ret;
		uint64_t i = io_uring_cqe_get_data64(cqe);
		if (i < (uint64_t)n)
			ops[i].res = cqe->res;
		io_uring_cqe_seen(r, cqe);
	}
	return 0;
}
*/
import "C"

import (
	"fmt"
	"io"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

var (
	_ Device      = (*uringDevice)(nil)
	_ BatchWriter = (*uringDevice)(nil)
	_ BatchReader = (*uringDevice)(nil)
	_ Describer   = (*uringDevice)(nil)
)

// uringDevice does its I/O through one io_uring with registered buffers.
// Data is copied between the caller's slices and the registered buffers (an
// mmap'd region outside the Go heap, so the kernel may use it after the cgo
// call that submitted); an access larger than one buffer becomes several
// entries of the same submission. One mutex serializes submissions: the
// ring is the queue, and a batch is how a caller fills it.
type uringDevice struct {
	fileBase
	fallbacks []string

	mu      sync.Mutex
	ring    *C.struct_io_uring
	region  []byte // nbufs buffers of bufSize bytes
	bufSize int
	ops     []C.struct_helios_op
	closed  bool
	broken  error // set when the ring failed; every later call returns it
}

func newUring(base fileBase, queueDepth, bufSize int) (*uringDevice, error) {
	region, err := unix.Mmap(-1, 0, queueDepth*bufSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("nvme: map io_uring buffers: %w", err)
	}
	var cerr C.int
	ring := C.helios_ring_new(C.uint(queueDepth), unsafe.Pointer(&region[0]), C.uint(queueDepth), C.uint(bufSize), &cerr)
	if ring == nil {
		_ = unix.Munmap(region)
		return nil, fmt.Errorf("nvme: io_uring setup: %w", syscall.Errno(-cerr))
	}
	return &uringDevice{
		fileBase: base,
		ring:     ring,
		region:   region,
		bufSize:  bufSize,
		ops:      make([]C.struct_helios_op, queueDepth),
	}, nil
}

// chunk is the part of one access that fits one registered buffer.
type chunk struct {
	p   []byte // the caller's bytes for this chunk
	off int64
}

// ReadAt implements Device.
func (d *uringDevice) ReadAt(p []byte, off int64) (int, error) {
	if err := d.transfer(false, []Read{{Off: off, Buf: p}}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteAt implements Device.
func (d *uringDevice) WriteAt(p []byte, off int64) (int, error) {
	if err := d.transfer(true, []Read{{Off: off, Buf: p}}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteBatch implements BatchWriter: up to QueueDepth buffers' worth of the
// batch goes to the kernel in each io_uring_enter.
func (d *uringDevice) WriteBatch(ws []Write) error {
	rs := make([]Read, len(ws))
	for i, w := range ws {
		rs[i] = Read{Off: w.Off, Buf: w.Data}
	}
	return d.transfer(true, rs)
}

// ReadBatch implements BatchReader.
func (d *uringDevice) ReadBatch(rs []Read) error { return d.transfer(false, rs) }

// transfer moves every access of as (Buf is the source when write is set).
func (d *uringDevice) transfer(write bool, as []Read) error {
	op := "read"
	if write {
		op = "write"
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if d.broken != nil {
		return d.broken
	}
	for _, a := range as {
		if err := checkRange(op, len(a.Buf), a.Off, d.blockSize, d.size); err != nil {
			return err
		}
	}
	round := make([]chunk, 0, len(d.ops))
	for _, a := range as {
		for done := 0; done < len(a.Buf); done += d.bufSize {
			end := min(done+d.bufSize, len(a.Buf))
			round = append(round, chunk{p: a.Buf[done:end], off: a.Off + int64(done)})
			if len(round) == len(d.ops) {
				if err := d.runRound(write, round); err != nil {
					return err
				}
				round = round[:0]
			}
		}
	}
	if len(round) > 0 {
		return d.runRound(write, round)
	}
	return nil
}

// runRound submits one entry per chunk, chunk i in registered buffer i,
// resubmitting the rest of any short transfer until all are done.
func (d *uringDevice) runRound(write bool, round []chunk) error {
	done := make([]int, len(round))
	if write {
		for i, c := range round {
			copy(d.region[i*d.bufSize:], c.p)
		}
	}
	for {
		n := 0
		for i, c := range round {
			if done[i] == len(c.p) {
				continue
			}
			o := &d.ops[n]
			o.off = C.uint64_t(c.off + int64(done[i]))
			o.addr = C.uint64_t(uintptr(unsafe.Pointer(&d.region[i*d.bufSize+done[i]])))
			o.len = C.uint32_t(len(c.p) - done[i])
			o.res = 0
			o.buf = C.uint16_t(i)
			o.write = 0
			if write {
				o.write = 1
			}
			n++
		}
		if n == 0 {
			break
		}
		if ret := C.helios_ring_run(d.ring, C.int(d.fd()), &d.ops[0], C.int(n)); ret < 0 {
			d.broken = fmt.Errorf("nvme: io_uring submit: %w", syscall.Errno(-ret))
			return d.broken
		}
		// Entries were filled in chunk order, skipping finished chunks.
		k := 0
		for i, c := range round {
			if done[i] == len(c.p) {
				continue
			}
			res := int(d.ops[k].res)
			k++
			switch {
			case res < 0:
				return fmt.Errorf("nvme: io_uring %s %d bytes at %d: %w", opName(write), len(c.p), c.off, syscall.Errno(-res))
			case res == 0:
				return fmt.Errorf("nvme: io_uring %s %d bytes at %d: %w", opName(write), len(c.p), c.off, io.ErrUnexpectedEOF)
			}
			done[i] += res
		}
	}
	if !write {
		for i, c := range round {
			copy(c.p, d.region[i*d.bufSize:])
		}
	}
	return nil
}

func opName(write bool) string {
	if write {
		return "write"
	}
	return "read"
}

func (d *uringDevice) fd() int { return int(d.f.Fd()) }

// BlockSize implements Device.
func (d *uringDevice) BlockSize() int { return d.blockSize }

// Size implements Device.
func (d *uringDevice) Size() int64 { return d.size }

// Sync implements Device with fdatasync; submissions complete before
// transfer returns, so every acknowledged write is covered.
func (d *uringDevice) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	return d.sync()
}

// Close implements Device.
func (d *uringDevice) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	d.closed = true
	C.helios_ring_free(d.ring)
	d.ring = nil
	err := unix.Munmap(d.region)
	if cerr := d.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("nvme: close device: %w", err)
	}
	return nil
}

// Info implements Describer.
func (d *uringDevice) Info() Info {
	return Info{Backend: "io_uring", Direct: d.direct, Fallbacks: d.fallbacks}
}
