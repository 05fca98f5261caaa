// multiget.h: RocksDB's batched MultiGet for many keys at once (see
// multiget.go).
#ifndef HELIOS_MULTIGET_H
#define HELIOS_MULTIGET_H
#include <stddef.h>
#include <rocksdb/c.h>
#ifdef __cplusplus
extern "C" {
#endif
// helios_multi_get looks up n keys, packed one after another in keys with
// their lengths in lens. lens[i] becomes the length of key i's value, or
// HELIOS_MISSING. With want_values, *values is a malloc'd buffer of the
// values found, one after another (NULL when there are none).
#define HELIOS_MISSING ((size_t)-1)
void helios_multi_get(rocksdb_t* db, const rocksdb_readoptions_t* ro, size_t n, const char* keys, size_t* lens, int want_values, char** values, char** err);
#ifdef __cplusplus
}
#endif
#endif
