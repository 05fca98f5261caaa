package objstore

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// SnapshotOptions describe a Snapshot.
type SnapshotOptions struct {
	// Ref is the ref to move to the new state (required). Its current state
	// is the parent, and the ref moves by compare-and-swap from it.
	Ref     string
	Message string
	Author  Signature
	// Ignore reports paths (slash-separated, relative) to leave out; ".git"
	// directories are always left out.
	Ignore func(path string, isDir bool) bool
}

// SnapshotResult says what a Snapshot did.
type SnapshotResult struct {
	State   ID       `json:"state"`
	Parent  ID       `json:"parent"`
	Changed bool     `json:"changed"`
	Scanned int      `json:"scanned"`
	Read    int      `json:"read"` // files read and hashed (the rest came from the stat cache)
	Changes []Change `json:"changes"`
}

// Snapshot records the directory dir as a new state on o.Ref. Files whose
// stat matches the store's stat cache are not read; the others are read,
// hashed and stored if new. The commit, the ref move and the refreshed stat
// cache are one atomic batch. If nothing changed, no state is made and the
// result's State is the ref's current state.
func (s *Store) Snapshot(dir string, o SnapshotOptions) (SnapshotResult, error) {
	var res SnapshotResult
	if err := ValidRefName(o.Ref); err != nil {
		return res, err
	}
	base, _, err := s.Resolve(o.Ref)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return res, err
	}
	res.Parent, res.State = base, base
	k, _, err := worktreeKey(dir)
	if err != nil {
		return res, err
	}
	cache, err := s.loadStatCache(k)
	if err != nil {
		return res, err
	}
	// If the directory was last synced to the base state, a file whose stat
	// matches its cache entry also matches the base tree: no need to look.
	synced := false
	if v, err := s.kv.Get(worktreeStateKey(k)); err == nil && len(v) >= 32 {
		synced = ID(v[:32]) == base
	}
	rootfd, err := unix.Open(dir, dirFlags, 0)
	if err != nil {
		return res, fmt.Errorf("objstore: snapshot: %w", &fs.PathError{Op: "open", Path: dir, Err: err})
	}
	defer unix.Close(rootfd)
	d, err := s.NewDraft(base)
	if err != nil {
		return res, err
	}
	start := time.Now()
	seen := make(map[string]bool, len(cache))
	var statBatch Batch
	err = scanDir(rootfd, "", o.Ignore, func(dirfd int, p, name string, st *unix.Stat_t) error {
		if ValidName(name) != nil {
			return nil // a name no tree may hold (".GIT" file, say): leave it out
		}
		cur, mode, ok := statFromUnix(st)
		if !ok {
			return nil // sockets, devices, fifos: not content
		}
		res.Scanned++
		seen[p] = true
		old, cached := cache[p]
		if cached && !old.racy && old.sameFile(cur) {
			// The stat cache says the content is old.id; it is stored unless
			// gc took it, which PutEntry checks.
			cur.id = old.id
			if synced {
				return nil
			}
		} else {
			content, err := readAt(dirfd, name, mode, st.Size)
			if err != nil {
				return err
			}
			res.Read++
			if cur.id, err = d.w.PutBlob(content); err != nil {
				return err
			}
		}
		cur.racy = cur.mtime > start.Add(-racyWindow).UnixNano()
		if !cached || cur != old {
			statBatch.Put(statKey(k, p), cur.encode())
		}
		e, err := d.Get(p)
		if err == nil && e.Mode == mode && e.ID == cur.id {
			return nil
		}
		return d.PutEntry(p, mode, cur.id)
	})
	if err != nil {
		return res, fmt.Errorf("objstore: snapshot %q: %w", dir, err)
	}
	// Whatever the base holds that the walk did not see was deleted.
	var gone []string
	if !base.IsZero() {
		st, err := s.State(base)
		if err != nil {
			return res, err
		}
		err = s.Walk(st.Root, func(p string, e Entry) error {
			if !e.Mode.IsDir() && !seen[p] {
				gone = append(gone, p)
			}
			return nil
		})
		if err != nil {
			return res, err
		}
	}
	sort.Strings(gone)
	for _, p := range gone {
		if err := d.Delete(p); err != nil && !errors.Is(err, ErrNotFound) {
			return res, err
		}
	}
	for p := range cache {
		if !seen[p] {
			statBatch.Delete(statKey(k, p))
		}
	}
	if !d.Dirty() && !base.IsZero() {
		statBatch.Put(worktreeStateKey(k), worktreeStateValue(base, start))
		return res, s.kv.Write(&statBatch, false)
	}
	for _, op := range statBatch.Ops() {
		if op.Delete {
			d.w.extra.Delete(op.Key)
		} else {
			d.w.extra.Put(op.Key, op.Value)
		}
	}
	// The worktree record names the new state, known only after hashing it;
	// it is written by the hook below in the same batch.
	id, err := d.commitWith(CommitOptions{Ref: o.Ref, Message: o.Message, Author: o.Author}, func(id ID) {
		d.w.extra.Put(worktreeStateKey(k), worktreeStateValue(id, start))
	})
	if err != nil {
		return res, err
	}
	res.State, res.Changed = id, true
	res.Changes, err = s.DiffStates(base, id)
	return res, err
}
