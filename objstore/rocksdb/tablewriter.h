// tablewriter.h: a RocksDB table file writer that leaves the file in the
// page cache (see tablewriter.go).
#ifndef HELIOS_TABLEWRITER_H
#define HELIOS_TABLEWRITER_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef struct helios_tablewriter helios_tablewriter;
helios_tablewriter* helios_tablewriter_open(const char* path, size_t block_size, double bloom_bits, char** err);
void helios_tablewriter_put(helios_tablewriter* w, const char* k, size_t klen, const char* h, size_t hlen, const char* v, size_t vlen, char** err);
void helios_tablewriter_finish(helios_tablewriter* w, char** err);
void helios_tablewriter_destroy(helios_tablewriter* w);
#ifdef __cplusplus
}
#endif
#endif
