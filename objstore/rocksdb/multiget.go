package rocksdb

// #include <stdlib.h>
// #include "multiget.h"
import "C"

import (
	"unsafe"

	"github.com/linxGnu/grocksdb"
)

// multiGet looks keys up with RocksDB's batched MultiGet, which grocksdb
// v1.7.14 does not wrap: its MultiGet is the C API's rocksdb_multi_get, a
// Get per key behind one call, and it copies every key and every value
// into memory of its own (a malloc each). The batched one looks the keys
// up file by file, and here the keys go over packed in one buffer and the
// values come back in one. Measured on 8 ingested tables of 5,000 random
// 33-byte keys: 4,096 missing keys (a push's existence checks) 5.2 ms →
// 3.5 ms, 4,000 present ones with 300-byte values (a clone's git entries)
// 17.2 ms → 12.8 ms. With values false only the lengths are filled (a
// missing key's is -1).
func multiGet(db *grocksdb.DB, ro *grocksdb.ReadOptions, keys [][]byte, values bool) (lens []int, vals []byte, err error) {
	n := 0
	for _, k := range keys {
		n += len(k)
	}
	packed := make([]byte, 0, n)
	clens := make([]C.size_t, len(keys))
	for i, k := range keys {
		packed = append(packed, k...)
		clens[i] = C.size_t(len(k))
	}
	var cvals *C.char
	var cerrp *C.char
	want := C.int(0)
	if values {
		want = 1
	}
	C.helios_multi_get(cdb(db), cro(ro), C.size_t(len(keys)), bytesPtr(packed), sizePtr(clens), want, &cvals, &cerrp)
	if e := cerr(cerrp); e != nil {
		return nil, nil, e
	}
	lens = make([]int, len(keys))
	total := 0
	for i, l := range clens {
		if l == C.HELIOS_MISSING {
			lens[i] = -1
			continue
		}
		lens[i] = int(l)
		total += int(l)
	}
	if cvals != nil {
		vals = make([]byte, total)
		copy(vals, unsafe.Slice((*byte)(unsafe.Pointer(cvals)), total))
		C.free(unsafe.Pointer(cvals))
	}
	return lens, vals, nil
}

// cdb and cro are the C API handles behind grocksdb's DB and ReadOptions:
// each type's first field (grocksdb v1.7.14, pinned in go.mod; a layout
// change would fail TestMultiGetMatchesGet, not pass silently).
func cdb(db *grocksdb.DB) *C.rocksdb_t {
	return *(**C.rocksdb_t)(unsafe.Pointer(db))
}

func cro(ro *grocksdb.ReadOptions) *C.rocksdb_readoptions_t {
	return *(**C.rocksdb_readoptions_t)(unsafe.Pointer(ro))
}

func sizePtr(s []C.size_t) *C.size_t {
	if len(s) == 0 {
		return nil
	}
	return &s[0]
}
