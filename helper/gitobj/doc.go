// Package gitobj reads, writes and checks git objects exactly.
//
// Every decoded object keeps enough to reproduce its bytes: commits and tags
// keep their raw bytes and expose parsed views of the headers git needs
// (tree, parents, author, committer, object, type), so unknown headers such
// as gpgsig, mergetag or encoding survive untouched; trees keep zero-padded
// mode text when a historical tree has it. Encode(Decode(b)) == b for every
// object git accepts.
//
// Object ids are computed for a Format: SHA-1 (with SHAttered-style
// collision detection through github.com/pjbgf/sha1cd, as git's sha1dc does)
// or SHA-256. OID is a comparable value type; ParseOID is strict (lower-case
// hex of exactly the format's length).
//
// The checks in fsck.go follow git fsck in strict mode (every WARN is an
// error, as receive.fsckObjects does): see CheckTree, CheckCommit, CheckTag,
// CheckGitmodules and CheckGitattributes. Each failure is a *FsckError that
// names git's message id (hasDotgit, badFilemode, ...) so the protocol layer
// can answer "error <ref> <why>" with git's own vocabulary.
package gitobj
