package helper

import (
	"context"
	"os"

	"github.com/helios-vcs/helios/helper/gitobj"
)

// Remote is the store side of the helper: what `git clone helios::<url>`
// talks to. The protocol layer (Serve) turns git's commands into these
// three calls; everything that needs the local repository (resolving
// <src>, fast-forward checks, reading and writing objects) stays on the
// protocol side and reaches the Remote only as ObjectSink and PushObjects.
//
// One Remote serves one helper process. List, Fetch and Push are called
// one at a time, never concurrently.
type Remote interface {
	// List returns the remote's refs, sorted by name. A symbolic ref
	// (HEAD) has Symref set and is listed only when its target exists,
	// so that an empty remote lists nothing. For forPush=false, annotated
	// tags carry Peeled (their innermost target), which git uses to
	// auto-follow tags. The values List returns pin a read snapshot:
	// Fetch must be able to serve every object reachable from them even if
	// a push moves the refs in between.
	List(ctx context.Context, forPush bool) ([]Ref, error)

	// Fetch writes to sink every object reachable from wants that is not
	// reachable from haves. Wants are values List returned; haves are the
	// local repository's ref values and may name objects the remote has
	// never seen (ignore those). Each object must be written once; order
	// does not matter. An error aborts the fetch and the local repository
	// is left unchanged.
	Fetch(ctx context.Context, wants, haves []gitobj.OID, sink ObjectSink) error

	// Push stores the objects the updates need and then applies every
	// update by compare-and-swap: update.Old is the value the ref must
	// have now (the zero OID: the ref must not exist). A mismatch
	// rejects that update with StaleInfo when update.Lease is set and
	// with FetchFirst otherwise, even for forced updates, so two racing
	// pushes can never silently overwrite each other. Fast-forward and
	// tag checks were already made by the caller against the local
	// repository. The objects are read from objects, typically only those
	// the remote lacks; a new ref value whose closure is not complete in
	// the remote afterwards must be rejected.
	//
	// With opts.Atomic every update lands or none does; the culprit gets
	// its reason and the others AtomicFailed. Without it each update
	// stands alone, but the updates that succeed still land together in
	// one atomic step. With opts.DryRun nothing is written: objects is
	// not read and the result is what a real push would report now.
	//
	// The result has one entry per update, in order: nil for success, a
	// Rejection for git's own reasons, any other error for a reason shown
	// as "remote rejected". A non-nil second result fails the whole batch
	// (every update is reported with that error).
	Push(ctx context.Context, updates []RefUpdate, opts PushOptions, objects PushObjects) ([]error, error)
}

// Ref is one line of `list`.
type Ref struct {
	Name   string     // "HEAD", "refs/heads/main"
	OID    gitobj.OID // unset for a symbolic ref
	Symref string     // target of a symbolic ref ("refs/heads/main")
	Peeled gitobj.OID // for an annotated tag: the object it finally points at
}

// RefUpdate is one ref of a push batch.
type RefUpdate struct {
	Name string     // destination ref, "refs/heads/main"
	Old  gitobj.OID // expected current value; zero: must not exist
	New  gitobj.OID // zero: delete the ref
	// Force is set for "+src:dst" and --force. The remote may use it for
	// policy (force permission); compare-and-swap on Old applies anyway.
	Force bool
	// Lease is set when Old came from --force-with-lease (option cas).
	Lease bool
}

// PushOptions are the batch-wide push options git sent.
type PushOptions struct {
	Atomic bool // option atomic true (--atomic)
	DryRun bool // option dry-run true (--dry-run)
}

// ObjectSink receives fetched objects. The protocol layer's sink writes
// them into one pack in the local repository, recomputing every id.
// WriteObject takes obj.Data over: it may keep the buffer until the pack is
// written, so the caller must not modify it afterwards (a fresh buffer per
// object, or one that never changes).
type ObjectSink interface {
	WriteObject(obj gitobj.Object) error
}

// PushObjects is the local side of a push as the Remote sees it.
type PushObjects interface {
	// IDs lists the objects reachable from the updates' new values and
	// not from any value the remote listed (git rev-list --objects
	// order). The remote may already have some of them.
	IDs(ctx context.Context) ([]gitobj.OID, error)
	// Read calls fn with the content of each id, in order. Every object
	// passed to fn has been verified: its id recomputed with a
	// collision-detecting hash, and commits, trees, tags and the
	// .gitmodules and .gitattributes blobs they name checked like git
	// fsck --strict. A failed check ends Read with a *gitobj.FsckError.
	// Data passed to fn is fn's to keep.
	Read(ctx context.Context, ids []gitobj.OID, fn func(gitobj.Object) error) error
}

// PushObjectLister is PushObjects that hands out its ids as git lists
// them, so that a remote across a connection can look them up while the
// listing still runs instead of after it. An optional ability: a caller
// falls back to IDs.
type PushObjectLister interface {
	// List calls fn with each id IDs returns, in the same order, as they
	// are listed. The first error from fn or the listing ends List.
	List(ctx context.Context, fn func(gitobj.OID) error) error
}

// WantRun is the longest run of ids a PushObjectStreamer hands its want
// at once.
const WantRun = 1024

// PushObjectStreamer is PushObjects that reads objects while it is still
// listing them, so that a big push does not wait for the whole listing
// (git rev-list) before the first object arrives. An optional ability: a
// Remote falls back to IDs and Read.
type PushObjectStreamer interface {
	// Stream lists the objects IDs lists, in the same order, asks want
	// about each once, and reads those want accepts as Read would
	// (verified, in listing order, Data fn's to keep). want gets the ids
	// in runs, as many as the listing has at hand, so that a remote can
	// look a run up in one read; it returns one verdict per id, and may
	// read the run only until it returns. want runs
	// on the listing's goroutine and fn on the caller's, concurrently with
	// each other; each is called in order. The first error from want, fn,
	// the listing or a check ends Stream and is returned.
	Stream(ctx context.Context, want func([]gitobj.OID) ([]bool, error), fn func(gitobj.Object) error) error
}

// PushObjectPiper is PushObjects that can hand objects over as a pipe that
// git cat-file --batch writes into (gitrepo.BatchPipe), for a remote on
// this machine to read itself: helios serve, through its Unix socket. The
// objects then do not pass through the helper. They are not checked on
// the way (the pipe goes to a CheckingRemote, which checks every one).
// An optional ability: a Remote falls back to Read.
type PushObjectPiper interface {
	// Listed lists the objects now if that is cheap (a few commits on top
	// of the remote's refs) and says how many there are; ok false: the
	// listing is long, and comes only as List or IDs runs.
	Listed(ctx context.Context) (n int, ok bool, err error)
	// Pipe starts writing the objects whose ids come on ids, in that
	// order, into a new pipe, until ids is closed: a remote can ask for
	// objects while they are still being listed. The caller takes the
	// pipe and calls wait once the reader is done with it (stop: the
	// reader stopped early, or is gone), which returns what went wrong
	// on this side, if anything did.
	Pipe(ctx context.Context, ids <-chan gitobj.OID) (pipe *os.File, wait func(stop bool) error, err error)
}

// Rejection is a push rejection in git's own words. git maps these exact
// strings to its statuses and prints its usual hints (see
// transport-helper.c push_update_ref_status), so the text is the
// protocol token itself rather than a prefixed error message.
type Rejection string

func (r Rejection) Error() string { return string(r) }

// Reasons git understands in "error <ref> <why>".
const (
	NonFastForward Rejection = "non-fast forward"
	FetchFirst     Rejection = "fetch first"
	AlreadyExists  Rejection = "already exists"
	NeedsForce     Rejection = "needs force"
	StaleInfo      Rejection = "stale info"
	// AtomicFailed is shown as "remote rejected (atomic push failed)".
	AtomicFailed Rejection = "atomic push failed"
)

// CheckingRemote is a Remote that checks every pushed object itself (its
// id, and the rules of git fsck --strict, with the same ObjectChecker)
// before it stores any: helios serve does, since it cannot trust its
// clients. The helper then does not check them twice.
type CheckingRemote interface {
	ChecksPushedObjects() bool
}

// VerifyingRemote is a Remote that checks every object it serves against
// a cryptographic ID of its own before handing it out, so that Fetch need
// not re-check git ids with the (slower) collision-detecting SHA-1.
type VerifyingRemote interface {
	VerifiesObjects() bool
}

// ClonePacker is a Remote that keeps clone packs (package clonepack):
// finished packs of everything reachable from some tips. A clone (a fetch
// with no haves) installs one instead of having every object sent, then
// fetches what the tips lack as an ordinary fetch whose haves are the tips.
type ClonePacker interface {
	// InstallClonePack puts into packDir (a repository's objects/pack) a
	// pack and its index, index last, whose tips are all reachable from
	// wants, building one for wants if the remote has none. It returns
	// nil (and no error) when the remote keeps no clone packs.
	InstallClonePack(ctx context.Context, wants []gitobj.OID, packDir string) (*InstalledPack, error)
}

// InstalledPack is what InstallClonePack installed.
type InstalledPack struct {
	// Tips are the ids whose closure the pack holds.
	Tips []gitobj.OID
	// Wanted are the objects the wants name. The fetch that follows the
	// install writes them again into its own pack, the one the helper
	// locks: git's connectivity check after a clone is skipped only when
	// every ref's value is in that pack (connected.c), and otherwise walks
	// the whole history.
	Wanted []gitobj.Object
}
