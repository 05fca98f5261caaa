// Package nvme is Helios's block tier (L3): a Device that reads and writes
// aligned blocks, and an append-only segment Log of checksummed records on
// it. objstore keeps large chunk payloads here and their Locations in its
// index (value separation, as WiscKey and RocksDB's BlobDB do).
//
// # Devices
//
// Device is the seam; its doc comment is the contract. Implementations:
//
//   - Open with Backend Auto or Uring: io_uring through liburing (cgo, in
//     uring_linux.go only), with registered buffers and O_DIRECT. An access
//     or batch larger than one registered buffer becomes several entries of
//     one io_uring_submit.
//   - Open with Backend Pread, or Auto when io_uring cannot be set up (ENOSYS
//     on old kernels, EPERM under seccomp): pread/pwrite, with O_DIRECT.
//   - NewMem: memory, for tests.
//
// Open works on a regular file (created and grown to Options.Size) and on a
// block device. When the filesystem refuses O_DIRECT (EINVAL) it uses the
// page cache. Each fallback is reported once, through Options.Logf and in
// Info.Fallbacks; the package never prints. Optional abilities (BatchWriter,
// BatchReader, Describer) are found by type assertion; the functions
// WriteBatch and ReadBatch fall back to loops. An SPDK bdev would be one
// more Device.
//
// # On-disk format of a Log
//
// All integers are little-endian; checksums are CRC-32C (Castagnoli). B is
// the device's block size, S the segment size, both fixed at format time.
//
//	offset 0      superblock copy A (one block)
//	offset B      superblock copy B (one block)
//	offset 2B     segment 0, then segment 1, ... each S bytes
//
// Superblock, in the first 44 bytes of its block, the rest zero:
//
//	0  magic "LSB1"   4 version (1)   8 block size B   12 reserved (0)
//	16 segment size S (8)   24 segment count (8)   32 epoch (8)
//	40 CRC-32C of bytes 0..40
//
// OpenLog formats a device whose first two blocks are all zero (epoch 0 in
// copy A) and refuses a device where neither copy is valid but something is
// written. Each open takes epoch = highest valid copy's epoch + 1 and writes
// it to copy epoch%2, so a torn superblock write leaves the other copy.
//
// A segment in use starts with a header block, 28 bytes then zeros:
//
//	0 magic "LSG1"   4 version (1)   8 sequence number (8, never 0)
//	16 epoch of creation (8)   24 CRC-32C of bytes 0..24
//
// A segment whose first block is not a valid header is free. Sequence
// numbers grow by one per new segment; the valid segment with the highest
// one is the head, the only segment that receives appends. Freeing a
// segment zeroes its header block.
//
// Records follow the header block, back to back. Each is a 64-byte header
// and its payload:
//
//	0  magic "HLR1" (record) or "HLP1" (pad)   4 payload length (4)
//	8  segment sequence number (8)   16 epoch of the writing open (8)
//	24 key (32 bytes, the caller's; zero for a pad)
//	56 CRC-32C of the payload (0 for a pad)   60 CRC-32C of bytes 0..60
//
// Every Append writes from a block boundary and ends with a pad record that
// runs to the next block boundary (a pad never shorter than its header, so
// it may reach into one more block), unless the records end on a boundary or
// the segment ends: no write ever touches a block holding records of an
// earlier write, so a torn write cannot damage acknowledged records. When a
// new segment starts, the header block and the first records go in one
// write. A Location is (segment sequence number, device offset of the record
// header, payload length, CRC-32C of the record header) and encodes to 24
// bytes; the header checksum ties it to one record, so a Location whose
// place was later reused gives ErrNoRecord, never another record's bytes.
//
// # Recovery and its invariants
//
// The chain of a segment is the longest run of records from its first
// record where each has a valid header checksum, the segment's sequence
// number, an epoch no lower than the record before it, a length that fits
// the segment and (for records) a valid payload checksum. The end of the
// chain is the end of the segment's data.
//
//  1. Only the head can have a torn tail: the device is synced before a new
//     segment's header is written.
//  2. OpenLog scans the head's chain. If it ends inside a block, OpenLog
//     rewrites that block with a pad from the chain's end to the next block
//     boundary, where appends resume. Torn records are never served: Walk
//     and compaction follow the chain, and Read checks both checksums. An
//     intact record stranded after a torn one (its Append never returned,
//     or returned but was not synced before a power cut) may still be read
//     through its Location, with exactly the bytes appended, until appends
//     reuse its place.
//  3. The epoch makes stale bytes harmless: anything beyond the chain's end
//     was written by an earlier open, with a lower epoch, so it can never
//     chain after a record written by this open, even if a later append ends
//     exactly where a stale record begins. A segment reused after being
//     freed has a new sequence number, so its previous records never chain.
//  4. Read checks the in-memory segment table, so a Location in a freed
//     segment gives ErrNoRecord and never another record's bytes.
//  5. A record is durable once Sync returns after its Append.
//
// A checksum failure in the middle of the head segment looks like a torn
// tail: the records after it drop out of the chain and are overwritten by
// later appends. objstore detects that as missing chunks (fsck), as it
// detects any corruption by the chunk's BLAKE3 ID.
//
// # Compaction
//
// Compact asks a liveness predicate about every record of every sealed
// segment, copies the live records of mostly-dead segments to the head,
// syncs, hands the relocations to the caller's commit function, and only
// then frees the old segments. See Log.Compact for the crash argument.
//
// # Measuring
//
// Bench measures a Device's write and read latency (P50/P95/P99) and
// throughput at given sizes and queue depths; `go test -bench . ./nvme`
// runs the same comparisons for io_uring, pread and memory.
package nvme
