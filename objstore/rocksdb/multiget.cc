// multiget.cc: see multiget.go.
#include "multiget.h"

#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include <rocksdb/db.h>

// The C API's handles hold the C++ object first (rocksdb/db/c.cc:
// struct rocksdb_t { DB* rep; }; struct rocksdb_readoptions_t {
// ReadOptions rep; ... }), and grocksdb hands out those handles.
static rocksdb::DB* db_of(rocksdb_t* db) { return *reinterpret_cast<rocksdb::DB* const*>(db); }
static const rocksdb::ReadOptions& ro_of(const rocksdb_readoptions_t* ro) {
  return *reinterpret_cast<const rocksdb::ReadOptions*>(ro);
}

extern "C" void helios_multi_get(rocksdb_t* db, const rocksdb_readoptions_t* ro, size_t n, const char* keys, size_t* lens, int want_values, char** values, char** err) {
  *values = nullptr;
  std::vector<rocksdb::Slice> ks(n);
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    ks[i] = rocksdb::Slice(keys + off, lens[i]);
    off += lens[i];
  }
  std::vector<rocksdb::PinnableSlice> vs(n);
  std::vector<rocksdb::Status> st(n);
  rocksdb::DB* d = db_of(db);
  d->MultiGet(ro_of(ro), d->DefaultColumnFamily(), n, ks.data(), vs.data(), st.data(), false);
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    if (st[i].ok()) {
      lens[i] = vs[i].size();
      total += vs[i].size();
    } else if (st[i].IsNotFound()) {
      lens[i] = HELIOS_MISSING;
    } else {
      *err = strdup(st[i].ToString().c_str());
      return;
    }
  }
  if (!want_values || total == 0) return;
  char* buf = static_cast<char*>(malloc(total));
  if (buf == nullptr) {
    *err = strdup("out of memory");
    return;
  }
  off = 0;
  for (size_t i = 0; i < n; i++) {
    if (lens[i] != HELIOS_MISSING) {
      memcpy(buf + off, vs[i].data(), lens[i]);
      off += lens[i];
    }
  }
  *values = buf;
}
