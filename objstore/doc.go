// Package objstore is Helios's content-addressed, copy-on-write state store.
//
// # Objects
//
// Every object is named by an ID: 32 bytes of keyed BLAKE3 whose key is
// derived from the object's kind (chunk, blob, tree, state) and, in an
// encrypted store, from the store's secret (see Hasher). IDs print as
// "b3:<64 hex>" and ParseID accepts only that.
//
//   - A chunk is raw bytes.
//   - A blob is a file's content. Its ID hashes the whole content. Below
//     Chunking.Threshold it is stored inline; above, as a list of
//     content-defined chunks (Rabin/CDC, ~16 KiB), so versions of a large
//     file share their unchanged chunks.
//   - A tree is a directory: entries (name, mode, ID) in git's order, with
//     git's five modes. Gitlink entries carry a git commit id (see Entry).
//   - A state is a snapshot: root tree, parents, author, committer, message.
//
// # Key layout
//
// One ordered KV (RocksDB in production, see objstore/rocksdb) holds it all.
// The first key byte says what a key holds:
//
//	'c' ID              chunk bytes
//	'C' ID              location of a chunk kept in the block tier (tier.go)
//	'b' ID              blob: 0x00 + content, or 0x01 + chunk list (blob.go)
//	't' ID              tree encoding (tree.go), or a delta against another tree (treedelta.go)
//	's' ID              state encoding (state.go)
//	'r' name            ref: 0x00 kind ID (direct), or 0x01 target (symbolic)
//	'm' name            store metadata: "format", "settings" (JSON)
//	'W' wkey            worktree: the state a directory holds (worktree.go)
//	'w' wkey path       worktree stat cache entry (worktree.go)
//	'g' 'o'|'i'|'r' ... git object mapping: objects, reverse ids, ref values (gitmap.go)
//	'a' ...             audit log (reserved)
//
// In an encrypted store (SealKV) every value is sealed, and the keys of
// the spaces that would name things ('r', 'W', 'w', 'g' 'o', 'g' 'r') are
// stored as keyed MACs with the key inside the sealed value; see SealKV
// for that layout and what it still reveals.
//
// Each encoding starts with a format byte, so that formats can live side
// by side: a tree's value is its canonical encoding (format 1, what its ID
// hashes) or a delta against the tree it was made from (format 2, written
// by drafts when much smaller; the ID still hashes the canonical encoding,
// which a read rebuilds and checks).
//
// # Invariants
//
//   - Stored content never changes: a key 'c'/'b'/'t'/'s' + ID is written
//     once with bytes that hash to ID (or, for chunked blobs, whose chunks
//     concatenate to bytes that hash to ID).
//   - An object is written before or with anything that refers to it; a
//     Writer flushes objects in dependency order and moves refs last. A
//     flush of IngestBytes or more goes to a KV that can bulk load
//     (Ingester: RocksDB's external table files) instead of through its
//     log; an ingestion is atomic and synced when it returns, so objects
//     that a later commit's refs reach are durable before those refs are.
//   - Refs change only by compare-and-swap, in the same atomic batch as the
//     objects they need (Writer.Commit, Draft.Commit). A ref never points at
//     a missing state.
//   - Reads from the KV verify the ID (trees, states, blobs and their
//     chunks); what the L1 cache holds was verified when it was read or
//     written. A mismatch is a *CorruptError, never data.
//   - A crash at any point leaves a store that Fsck finds clean apart from
//     unreferenced objects, which GC removes.
//
// # The state engine
//
// Draft is how states are made: open one on a state, Put and Delete files,
// Commit. A commit after editing k files hashes the k new contents, encodes
// the trees on their paths, and writes those, the state and the ref in one
// batch; unchanged subtrees keep their IDs without being read. Snapshot does
// the same for a directory on disk, reading only files whose stat changed
// (the stat cache); Checkout moves a directory between states writing only
// what differs; Materialize writes a state into an empty directory. All
// writes into a directory go through os.Root, so no path or symlink can lead
// outside it.
//
// Paths are slash-separated and relative; CleanPath rejects "..", ".",
// empty components, absolute paths, NUL, and ".git" in any letter case and
// in the forms other filesystems fold to it.
package objstore
