package rocksdb

// #cgo CXXFLAGS: -std=c++17 -O2
// #cgo LDFLAGS: -lrocksdb -lstdc++
// #include <stdlib.h>
// #include "tablewriter.h"
import "C"

import (
	"errors"
	"unsafe"
)

// tableWriter writes a table file for Ingest. It is RocksDB's
// SstFileWriter with invalidate_page_cache off, which the C API that
// grocksdb wraps cannot set: with it on, the writer drops every page it
// wrote from the page cache, so that the first reads after a big push (a
// clone) went to the disk. Its table options are the database's (Open), a
// 10-bit Bloom filter and 16 KiB blocks, but for compression: none.
//
// The files a push ingests land in level 0, and the compaction that
// settles them (Settle, which helios serve runs at a quiet moment, or
// RocksDB's own from level0Trigger files on) rewrites them into the lower
// levels with those levels' compression (ZSTD at the bottom): LZ4 at
// ingestion was work thrown away a few seconds later. It was 9% of a full
// push's server CPU (0.15 s of 1.65 s for 32k objects, 91 MB), and the
// clone that follows a push no longer decompresses either. RocksDB's own
// tuning guide leaves level 0 uncompressed for the same reason. The cost
// is disk space until the files settle: that push's tables took 141 MB
// instead of 99 MB for a few seconds, and 80 MB once settled either way.
// A push of one or two table files can leave one raw file (in level 0, or
// at the bottom of an empty store) until the next push's files join it.
type tableWriter struct {
	w *C.helios_tablewriter
}

func cerr(err *C.char) error {
	if err == nil {
		return nil
	}
	defer C.free(unsafe.Pointer(err))
	return errors.New(C.GoString(err))
}

func openTableWriter(path string) (*tableWriter, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var err *C.char
	w := C.helios_tablewriter_open(cpath, C.size_t(blockSize), C.double(bloomBits), &err)
	if e := cerr(err); e != nil {
		return nil, e
	}
	return &tableWriter{w: w}, nil
}

// put adds a key, in ascending order, with the value head followed by
// value (objstore.Batch.PutParts).
func (t *tableWriter) put(key, head, value []byte) error {
	var err *C.char
	C.helios_tablewriter_put(t.w, bytesPtr(key), C.size_t(len(key)), bytesPtr(head), C.size_t(len(head)), bytesPtr(value), C.size_t(len(value)), &err)
	return cerr(err)
}

// finish writes the file's footer and syncs it.
func (t *tableWriter) finish() error {
	var err *C.char
	C.helios_tablewriter_finish(t.w, &err)
	return cerr(err)
}

func (t *tableWriter) destroy() { C.helios_tablewriter_destroy(t.w) }

func bytesPtr(b []byte) *C.char {
	if len(b) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(&b[0]))
}
