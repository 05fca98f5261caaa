package objstore

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
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
	// Paths, if not nil, limits the snapshot to these paths (files or
	// directories, slash-separated, relative; a path that no longer exists
	// is a deletion): everything else is taken to be unchanged since the
	// last sync. A file watcher supplies them. The directory must have been
	// synced to the ref's current state (ErrNotSynced otherwise: take a
	// full snapshot then).
	Paths []string
}

// ErrNotSynced is returned by a Snapshot limited to Paths when the
// directory does not hold the ref's current state.
var ErrNotSynced = errors.New("objstore: directory is not synced to the ref; take a full snapshot")

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
	// If the directory was last synced to the base state, a file whose stat
	// matches its cache entry also matches the base tree: no need to look.
	synced := false
	if v, err := s.kv.Get(worktreeStateKey(k)); err == nil && len(v) >= 32 {
		synced = ID(v[:32]) == base
	}
	scopes := []string{""} // "" is the whole directory
	if o.Paths != nil {
		if !synced || base.IsZero() {
			return res, ErrNotSynced
		}
		if scopes, err = snapshotScopes(o.Paths); err != nil {
			return res, err
		}
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
	sn := &snapshotter{s: s, d: d, k: k, o: o, res: &res, synced: synced, start: time.Now(),
		seen: map[string]bool{}, cache: map[string]statEntry{}}
	for _, scope := range scopes {
		if err := sn.scope(rootfd, scope); err != nil {
			return res, fmt.Errorf("objstore: snapshot %q: %w", dir, err)
		}
	}
	if !d.Dirty() && !base.IsZero() {
		sn.stats.Put(worktreeStateKey(k), worktreeStateValue(base, sn.start))
		return res, s.kv.Write(&sn.stats, false)
	}
	for _, op := range sn.stats.Ops() {
		if op.Delete {
			d.w.extra.Delete(op.Key)
		} else {
			d.w.extra.PutParts(op.Key, op.Head, op.Value)
		}
	}
	// The worktree record names the new state, known only after hashing it;
	// it is written by the hook below in the same batch.
	id, err := d.commitWith(CommitOptions{Ref: o.Ref, Message: o.Message, Author: o.Author}, func(id ID) {
		d.w.extra.Put(worktreeStateKey(k), worktreeStateValue(id, sn.start))
	})
	if err != nil {
		return res, err
	}
	res.State, res.Changed = id, true
	res.Changes, err = s.DiffStates(base, id)
	return res, err
}

// snapshotScopes cleans the paths of a partial snapshot and drops those
// inside another one. "." or "" anywhere means the whole directory.
func snapshotScopes(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		p = strings.TrimSuffix(strings.TrimPrefix(p, "./"), "/")
		if p == "" || p == "." {
			return []string{""}, nil
		}
		if _, err := CleanPath(p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	sort.Strings(out)
	kept := out[:0]
	for _, p := range out {
		if n := len(kept); n > 0 && (p == kept[n-1] || strings.HasPrefix(p, kept[n-1]+"/")) {
			continue
		}
		kept = append(kept, p)
	}
	return kept, nil
}

// snapshotter is one Snapshot's working state.
type snapshotter struct {
	s      *Store
	d      *Draft
	k      wkey
	o      SnapshotOptions
	res    *SnapshotResult
	synced bool
	start  time.Time
	seen   map[string]bool
	cache  map[string]statEntry
	stats  Batch // stat cache updates
}

func inScope(scope, p string) bool {
	return scope == "" || p == scope || strings.HasPrefix(p, scope+"/")
}

// scope snapshots one path (a file, a directory, or gone) of the
// directory open as rootfd; "" is the whole directory.
func (sn *snapshotter) scope(rootfd int, scope string) error {
	// Stat cache entries under the scope (a prefix scan also brings
	// "scope.txt" for "scope": inScope filters).
	err := sn.s.kv.Scan(statKey(sn.k, scope), func(key, v []byte) error {
		p := string(key[17:])
		if e, ok := decodeStat(v); ok && inScope(scope, p) {
			sn.cache[p] = e
		}
		return nil
	})
	if err != nil {
		return err
	}
	if scope == "" {
		err = scanDir(rootfd, "", sn.o.Ignore, sn.file)
	} else {
		err = sn.path(rootfd, scope)
	}
	if err != nil {
		return err
	}
	// Whatever the base holds under the scope that was not seen is gone.
	if base := sn.d.Base(); !base.IsZero() {
		st, err := sn.s.State(base)
		if err != nil {
			return err
		}
		root := st.Root
		var gone []string
		visit := func(p string, e Entry) error {
			if !e.Mode.IsDir() && !sn.seen[p] {
				// Unless the scan already put something else there (a file
				// that became a directory).
				if cur, err := sn.d.Get(p); err == nil && cur == e {
					gone = append(gone, p)
				}
			}
			return nil
		}
		if scope == "" {
			err = sn.s.Walk(root, visit)
		} else if e, lerr := sn.s.lookup(root, scope); lerr == nil {
			if e.Mode.IsDir() {
				err = sn.s.walk(e.ID, scope, visit)
			} else {
				err = visit(scope, e)
			}
		} else if !errors.Is(lerr, ErrNotFound) {
			err = lerr
		}
		if err != nil {
			return err
		}
		sort.Strings(gone)
		for _, p := range gone {
			if err := sn.d.Delete(p); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
	}
	for p := range sn.cache {
		if inScope(scope, p) && !sn.seen[p] {
			sn.stats.Delete(statKey(sn.k, p))
		}
	}
	return nil
}

// path snapshots one named path: it walks to its parent directory by
// descriptor (O_NOFOLLOW at every step), then treats it as a file, a
// directory to scan, or a deletion.
func (sn *snapshotter) path(rootfd int, p string) error {
	parts := strings.Split(p, "/")
	fd := rootfd
	for _, name := range parts[:len(parts)-1] {
		next, err := openDirAt(fd, name)
		if fd != rootfd {
			unix.Close(fd)
		}
		if err != nil {
			return nil // a parent is gone (or not a directory): p is gone
		}
		fd = next
	}
	if fd != rootfd {
		defer unix.Close(fd)
	}
	name := parts[len(parts)-1]
	var st unix.Stat_t
	if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT || err == unix.ENOTDIR {
			return nil // gone
		}
		return &fs.PathError{Op: "fstatat", Path: p, Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if name == ".git" || (sn.o.Ignore != nil && sn.o.Ignore(p, true)) {
			return nil
		}
		sub, err := openDirAt(fd, name)
		if err != nil {
			return err
		}
		defer unix.Close(sub)
		return scanDir(sub, p, sn.o.Ignore, sn.file)
	}
	if sn.o.Ignore != nil && sn.o.Ignore(p, false) {
		return nil
	}
	return sn.file(fd, p, name, &st)
}

// file records one regular file or symlink found in a scan.
func (sn *snapshotter) file(dirfd int, p, name string, st *unix.Stat_t) error {
	if ValidName(name) != nil {
		return nil // a name no tree may hold (".GIT" file, say): leave it out
	}
	cur, mode, ok := statFromUnix(st)
	if !ok {
		return nil // sockets, devices, fifos: not content
	}
	sn.res.Scanned++
	sn.seen[p] = true
	old, cached := sn.cache[p]
	if cached && !old.racy && old.sameFile(cur) {
		// The stat cache says the content is old.id; it is stored unless gc
		// took it, which PutEntry checks.
		cur.id = old.id
		if sn.synced {
			return nil
		}
	} else {
		content, err := readAt(dirfd, name, mode, st.Size)
		if err != nil {
			return err
		}
		sn.res.Read++
		if cur.id, err = sn.d.w.PutBlob(content); err != nil {
			return err
		}
	}
	cur.racy = cur.mtime > sn.start.Add(-racyWindow).UnixNano()
	if !cached || cur != old {
		sn.stats.Put(statKey(sn.k, p), cur.encode())
	}
	e, err := sn.d.Get(p)
	if err == nil && e.Mode == mode && e.ID == cur.id {
		return nil
	}
	return sn.d.PutEntry(p, mode, cur.id)
}
