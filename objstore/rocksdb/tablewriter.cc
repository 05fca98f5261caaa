// tablewriter.cc: see tablewriter.go.
#include "tablewriter.h"

#include <stdlib.h>
#include <string.h>

#include <string>

#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/table.h>

struct helios_tablewriter {
  rocksdb::SstFileWriter* w;
  std::string joined;  // a two-part value, joined (reused: no fresh memory per value)
};

static void set_err(const rocksdb::Status& s, char** err) {
  if (!s.ok()) *err = strdup(s.ToString().c_str());
}

extern "C" helios_tablewriter* helios_tablewriter_open(const char* path, size_t block_size, double bloom_bits, char** err) {
  rocksdb::Options opts;
  // Uncompressed: see tablewriter.go.
  opts.compression = rocksdb::kNoCompression;
  rocksdb::BlockBasedTableOptions t;
  t.block_size = block_size;
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(bloom_bits));
  opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  // invalidate_page_cache false: the file stays in the page cache, where
  // RocksDB's own flushes leave theirs.
  auto* w = new rocksdb::SstFileWriter(rocksdb::EnvOptions(), opts, nullptr, false);
  rocksdb::Status s = w->Open(path);
  if (!s.ok()) {
    set_err(s, err);
    delete w;
    return nullptr;
  }
  return new helios_tablewriter{w, std::string()};
}

// helios_tablewriter_put adds k with the value h followed by v.
extern "C" void helios_tablewriter_put(helios_tablewriter* w, const char* k, size_t klen, const char* h, size_t hlen, const char* v, size_t vlen, char** err) {
  if (hlen == 0) {
    set_err(w->w->Put(rocksdb::Slice(k, klen), rocksdb::Slice(v, vlen)), err);
    return;
  }
  w->joined.assign(h, hlen);
  w->joined.append(v, vlen);
  set_err(w->w->Put(rocksdb::Slice(k, klen), rocksdb::Slice(w->joined)), err);
}

extern "C" void helios_tablewriter_finish(helios_tablewriter* w, char** err) {
  set_err(w->w->Finish(), err);
}

extern "C" void helios_tablewriter_destroy(helios_tablewriter* w) {
  delete w->w;
  delete w;
}
