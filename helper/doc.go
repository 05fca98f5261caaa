// Package helper implements git-remote-helios: the gitremote-helpers(7)
// protocol between git and a Helios store.
//
// # Protocol subset
//
// Capabilities: fetch, push, option, check-connectivity. Not connect,
// stateless-connect, import or export (see DESIGN.md "The remote helper").
//
//   - list, list for-push: "<oid> <ref>" lines, "@<target> HEAD" for the
//     default branch, "<oid> <tag>^{}" after annotated tags (list only), a
//     blank line. An empty remote lists nothing, so cloning it works.
//     The for-push values are remembered: they are the expected old values
//     of the push that follows (compare-and-swap).
//   - fetch <oid> <name> ... blank: one pack of the missing objects, its
//     .idx and a .keep are written into $GIT_DIR/objects/pack; the answer
//     is "lock <keep>", "connectivity-ok" when git asked for it, a blank
//     line. git then runs neither index-pack nor a connectivity walk.
//   - push [+]<src>:<dst> ... blank: <src> is resolved in the local
//     repository (a ref, "HEAD~2", an abbreviated id) or is empty for a
//     delete; fast-forward and tag rules are checked locally; the objects
//     the remote lacks are listed with git rev-list and read with git
//     cat-file while the listing runs (PushObjectStreamer), verified (ids
//     with a collision-detecting hash, git fsck --strict rules) and handed
//     to the Remote, which moves all refs in one compare-and-swap step. A
//     served store gets the ids as git lists them (PushObjectLister) and,
//     on this machine, a pipe that cat-file writes into (PushObjectPiper):
//     it asks for each object it lacks as the id arrives, the helper hands
//     the ask to cat-file, and the store verifies the objects itself.
//     Several full ref names are resolved with one git for-each-ref. Answers
//     are "ok <dst>" or "error <dst> <why>" in git's own words
//     (Rejection), then a blank line.
//   - option: verbosity, progress, dry-run, atomic, cas, check-connectivity,
//     cloning, force-if-includes, refetch are "ok"; a bad value is
//     "error <why>"; everything else (depth, filter, followtags,
//     push-option, pushcert, ...) is "unsupported", which makes git either
//     continue without it or stop with its own message.
//
// stdout carries the protocol only; progress and diagnostics go to
// stderr. Malformed input (an unknown command, a line with NUL or CR, a
// bad object id, a ref name check-ref-format rejects) ends Serve with an
// error; the caller prints it and exits non-zero, which is the documented
// way for a helper to fail. A blank line or EOF at top level ends Serve
// with nil.
//
// The store is behind the Remote interface (remote.go). The package
// fakeremote has an in-memory and a directory-backed implementation used
// by the tests.
package helper
