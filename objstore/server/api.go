package server

import (
	"context"
	"io"

	"github.com/helios-vcs/helios/objstore"
)

// Store is the store's API as commands use it. *Client implements it
// through a server; Local implements it on a *objstore.Store open in this
// process (the --no-server path). Both give the same results and the same
// errors: errors.Is and errors.As see objstore's sentinels and
// *objstore.RefConflictError through a server too.
//
// A Store is safe for concurrent use. Close releases it (the connection, or
// the database for Local).
type Store interface {
	// Snapshot records the directory r.Dir as a new state on r.Ref.
	Snapshot(r SnapshotRequest) (objstore.SnapshotResult, error)
	// Checkout switches dir to state to (see objstore.Store.Checkout).
	Checkout(dir string, to objstore.ID, o objstore.CheckoutOptions) (objstore.MaterializeStats, error)
	// WorktreeState is the state dir was last synced to.
	WorktreeState(dir string) (objstore.ID, error)

	ResolveState(rev string) (objstore.ID, error)
	Resolve(name string) (objstore.ID, string, error)
	State(id objstore.ID) (*objstore.State, error)
	Log(start objstore.ID, n int) ([]objstore.ID, []*objstore.State, error)
	DiffStates(a, b objstore.ID) ([]objstore.Change, error)
	Stat(state objstore.ID, path string) (objstore.Entry, error)
	ListTree(state objstore.ID, path string) ([]objstore.Entry, error)
	// ReadFile writes the content of the file at path in state to w (in
	// pieces, as it arrives) and returns its entry. On an error part of
	// the content may have been written.
	ReadFile(state objstore.ID, path string, w io.Writer) (objstore.Entry, error)

	Refs(prefix string) ([]objstore.Ref, error)
	// UpdateRefs applies updates atomically by compare-and-swap; with
	// durable it returns only once they are fsynced.
	UpdateRefs(durable bool, updates ...objstore.RefUpdate) error
	SetSymbolicRef(name, target string) error

	Fsck(ctx context.Context, full bool) (*objstore.FsckReport, error)
	GC(ctx context.Context, compact bool) (*objstore.GCReport, error)
	// Stats counts objects by kind and adds the engine's statistics (see
	// StoreStats).
	Stats() (map[string]int64, error)

	Close() error
}

// SnapshotRequest is a Snapshot's options. Dir should be absolute (the
// client makes it so: the server's working directory is not the caller's).
type SnapshotRequest struct {
	Dir     string
	Ref     string
	Message string
	Author  objstore.Signature
	// Durable returns only once the state is fsynced, even in a store
	// opened without Options.Durable.
	Durable bool
}

var _ Store = (*Local)(nil)

// Local is the Store API on a store open in this process.
type Local struct {
	S *objstore.Store
	// Durable says S was opened with objstore.Options.Durable: every
	// write already syncs, and durable requests need no extra sync.
	Durable bool
}

// syncWAL makes every write so far durable: an empty synced batch fsyncs
// the engine's log, joining concurrent synced writes in one group commit.
func syncWAL(s *objstore.Store) error {
	var b objstore.Batch
	return s.KV().Write(&b, true)
}

func (l Local) Snapshot(r SnapshotRequest) (objstore.SnapshotResult, error) {
	return l.snapshot(r, nil)
}

// snapshot is Snapshot limited to paths when they are not nil (the
// watcher's change set; see watch.go).
func (l Local) snapshot(r SnapshotRequest, paths []string) (objstore.SnapshotResult, error) {
	res, err := l.S.Snapshot(r.Dir, objstore.SnapshotOptions{Ref: r.Ref, Message: r.Message, Author: r.Author, Paths: paths})
	if err == nil && r.Durable && !l.Durable {
		err = syncWAL(l.S)
	}
	return res, err
}

func (l Local) Checkout(dir string, to objstore.ID, o objstore.CheckoutOptions) (objstore.MaterializeStats, error) {
	return l.S.Checkout(dir, to, o)
}

func (l Local) WorktreeState(dir string) (objstore.ID, error) { return l.S.WorktreeState(dir) }
func (l Local) ResolveState(rev string) (objstore.ID, error)  { return l.S.ResolveState(rev) }
func (l Local) Resolve(name string) (objstore.ID, string, error) {
	return l.S.Resolve(name)
}
func (l Local) State(id objstore.ID) (*objstore.State, error) { return l.S.State(id) }
func (l Local) Log(start objstore.ID, n int) ([]objstore.ID, []*objstore.State, error) {
	return l.S.Log(start, n)
}
func (l Local) DiffStates(a, b objstore.ID) ([]objstore.Change, error) { return l.S.DiffStates(a, b) }
func (l Local) Stat(state objstore.ID, path string) (objstore.Entry, error) {
	return l.S.Stat(state, path)
}
func (l Local) ListTree(state objstore.ID, path string) ([]objstore.Entry, error) {
	return l.S.ListTree(state, path)
}

func (l Local) ReadFile(state objstore.ID, path string, w io.Writer) (objstore.Entry, error) {
	e, b, err := l.S.ReadFile(state, path)
	if err != nil {
		return e, err
	}
	_, err = w.Write(b)
	return e, err
}

func (l Local) Refs(prefix string) ([]objstore.Ref, error) { return l.S.Refs(prefix) }

func (l Local) UpdateRefs(durable bool, updates ...objstore.RefUpdate) error {
	err := l.S.UpdateRefs(updates...)
	if err == nil && durable && !l.Durable {
		err = syncWAL(l.S)
	}
	return err
}

func (l Local) SetSymbolicRef(name, target string) error { return l.S.SetSymbolicRef(name, target) }

func (l Local) Fsck(ctx context.Context, full bool) (*objstore.FsckReport, error) {
	return l.S.Fsck(ctx, full)
}

func (l Local) GC(ctx context.Context, compact bool) (*objstore.GCReport, error) {
	return l.S.GC(ctx, compact)
}

func (l Local) Stats() (map[string]int64, error) { return StoreStats(l.S) }

func (l Local) Close() error { return l.S.Close() }

// StoreStats counts the store's keys and their bytes by kind (states,
// trees, blobs, chunks, refs, stat cache entries) and adds the engine's own
// statistics prefixed "rocksdb_" when it has them.
func StoreStats(s *objstore.Store) (map[string]int64, error) {
	out := map[string]int64{}
	for _, p := range []struct {
		name   string
		prefix byte
	}{{"states", 's'}, {"trees", 't'}, {"blobs", 'b'}, {"chunks", 'c'}, {"refs", 'r'}, {"stat_cache_entries", 'w'}} {
		var n, bytes int64
		err := s.KV().Scan([]byte{p.prefix}, func(k, v []byte) error { n++; bytes += int64(len(k) + len(v)); return nil })
		if err != nil {
			return nil, err
		}
		out[p.name] = n
		out[p.name+"_bytes"] = bytes
	}
	if st, ok := s.KV().(objstore.Statser); ok {
		for k, v := range st.Stats() {
			out["rocksdb_"+k] = v
		}
	}
	return out, nil
}
