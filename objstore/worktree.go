package objstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A worktree is a directory on disk that holds a state. The store keeps,
// per worktree (keyed by a hash of its absolute path, which anyone who
// guesses the path can compute: an encrypted store stores these keys under
// MACs, see SealKV):
//
//	'W' wkey            → the state the directory was last synced to (32
//	                      bytes) and the time of that sync (8 bytes, ns)
//	'w' wkey path       → a stat cache entry: size, mtime, ctime, inode,
//	                      mode, blob ID and a "racy" flag
//
// Snapshot trusts a cache entry only when the file's size, mtime, ctime,
// inode and mode all match and the entry is not racy; otherwise it reads
// and hashes the file. An entry is racy when the file's mtime was within
// racyWindow of the scan that recorded it: a later write in the same
// filesystem timestamp tick could leave the stat unchanged (git's "racy
// clean" problem), so such a file is re-read next time.
const racyWindow = 50 * time.Millisecond

// Worktree writes are confined to the directory with os.Root: no path,
// however crafted, and no symlink, inside or planted, leads a write out of
// it.

type wkey [16]byte

func worktreeKey(dir string) (wkey, string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return wkey{}, "", err
	}
	abs = filepath.Clean(abs)
	id := plainHasher.Sum(KindChunk, []byte("worktree\x00"+abs))
	var k wkey
	copy(k[:], id[:16])
	return k, abs, nil
}

func statKey(k wkey, path string) []byte {
	b := make([]byte, 0, 17+len(path))
	b = append(b, prefixStatSet)
	b = append(b, k[:]...)
	return append(b, path...)
}

func worktreeStateKey(k wkey) []byte { return append([]byte{prefixWorktree}, k[:]...) }

type statEntry struct {
	size, mtime, ctime int64
	ino                uint64
	mode               Mode
	id                 ID
	racy               bool
}

func statOf(info fs.FileInfo) (statEntry, Mode, bool) {
	var m Mode
	switch {
	case info.Mode().IsRegular():
		m = ModeFile
		if info.Mode().Perm()&0o111 != 0 {
			m = ModeExec
		}
	case info.Mode()&fs.ModeSymlink != 0:
		m = ModeSymlink
	default:
		return statEntry{}, 0, false
	}
	e := statEntry{size: info.Size(), mtime: info.ModTime().UnixNano(), mode: m}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		e.ino = st.Ino
		e.ctime = st.Ctim.Sec*1e9 + st.Ctim.Nsec
	}
	return e, m, true
}

func (e statEntry) encode() []byte {
	b := make([]byte, 0, 4*binary.MaxVarintLen64+1+32+1)
	b = binary.AppendVarint(b, e.size)
	b = binary.AppendVarint(b, e.mtime)
	b = binary.AppendVarint(b, e.ctime)
	b = binary.AppendUvarint(b, e.ino)
	b = binary.AppendUvarint(b, uint64(e.mode))
	b = append(b, e.id[:]...)
	if e.racy {
		return append(b, 1)
	}
	return append(b, 0)
}

func decodeStat(b []byte) (statEntry, bool) {
	d := decoder{b: b}
	e := statEntry{size: d.varint(""), mtime: d.varint(""), ctime: d.varint(""), ino: d.uvarint(""), mode: Mode(d.uvarint(""))}
	copy(e.id[:], d.bytes(32, ""))
	fl := d.bytes(1, "")
	if d.err != nil || len(d.b) != 0 {
		return statEntry{}, false
	}
	e.racy = fl[0] == 1
	return e, true
}

func (e statEntry) sameFile(o statEntry) bool {
	return e.size == o.size && e.mtime == o.mtime && e.ctime == o.ctime && e.ino == o.ino && e.mode == o.mode
}

// WorktreeState returns the state a directory was last synced to by
// Materialize, Checkout or Snapshot (ZeroID if never).
func (s *Store) WorktreeState(dir string) (ID, error) {
	k, _, err := worktreeKey(dir)
	if err != nil {
		return ZeroID, err
	}
	v, err := s.kv.Get(worktreeStateKey(k))
	if errors.Is(err, ErrNotFound) {
		return ZeroID, nil
	}
	if err != nil || len(v) < 32 {
		return ZeroID, err
	}
	var id ID
	copy(id[:], v[:32])
	return id, nil
}

func worktreeStateValue(id ID, at time.Time) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), id[:]...), uint64(at.UnixNano()))
}

// MaterializeStats counts what a materialize or checkout wrote.
type MaterializeStats struct {
	Files   int   `json:"files"`
	Dirs    int   `json:"dirs"`
	Deleted int   `json:"deleted"`
	Bytes   int64 `json:"bytes"`
}

// Materialize writes state into dir, which must be empty or not exist, and
// records dir as a worktree at that state.
func (s *Store) Materialize(state ID, dir string) (MaterializeStats, error) {
	var ms MaterializeStats
	st, err := s.State(state)
	if err != nil {
		return ms, err
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return ms, err
	}
	if ents, err := os.ReadDir(dir); err != nil {
		return ms, err
	} else if len(ents) > 0 {
		return ms, fmt.Errorf("objstore: materialize: %q is not empty", dir)
	}
	k, _, err := worktreeKey(dir)
	if err != nil {
		return ms, err
	}
	fd, err := unix.Open(dir, dirFlags, 0)
	if err != nil {
		return ms, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	start := time.Now()
	var b Batch
	if err := s.materializeDir(fd, st.Root, "", &b, k, start, &ms); err != nil {
		return ms, fmt.Errorf("objstore: materialize: %w", err)
	}
	b.Put(worktreeStateKey(k), worktreeStateValue(state, start))
	return ms, s.kv.Write(&b, false)
}

// writeEntry creates the file or symlink e at p (nothing may be there) and
// records its stat cache entry in b.
func (s *Store) writeEntry(root *os.Root, p string, e Entry, b *Batch, k wkey, scan time.Time) (int64, error) {
	content, err := s.Blob(e.ID)
	if err != nil {
		return 0, err
	}
	if e.Mode == ModeSymlink {
		if err := root.Symlink(string(content), p); err != nil {
			return 0, err
		}
	} else {
		perm := os.FileMode(0o666)
		if e.Mode == ModeExec {
			perm = 0o777
		}
		f, err := root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			return 0, err
		}
		_, werr := f.Write(content)
		cerr := f.Close()
		if werr != nil {
			return 0, werr
		}
		if cerr != nil {
			return 0, cerr
		}
		if e.Mode == ModeExec {
			// The umask may have cleared bits; exec must survive it.
			if err := root.Chmod(p, 0o755); err != nil {
				return 0, err
			}
		}
	}
	info, err := root.Lstat(p)
	if err != nil {
		return 0, err
	}
	if se, _, ok := statOf(info); ok {
		se.id = e.ID
		se.racy = info.ModTime().After(scan.Add(-racyWindow))
		b.Put(statKey(k, p), se.encode())
	}
	return int64(len(content)), nil
}

// ErrLocalChanges is wrapped when a checkout would overwrite edits in the
// worktree that no state holds.
var ErrLocalChanges = errors.New("objstore: local changes would be overwritten")

// CheckoutOptions control Checkout.
type CheckoutOptions struct {
	// Force overwrites local changes to the paths that differ.
	Force bool
}

// Checkout switches dir from the state it holds to state to, writing only
// the paths that differ. A path whose file was edited since the last sync
// is not overwritten unless Force: Checkout fails before writing anything.
// An empty or missing dir is materialized.
func (s *Store) Checkout(dir string, to ID, o CheckoutOptions) (MaterializeStats, error) {
	var ms MaterializeStats
	from, err := s.WorktreeState(dir)
	if err != nil {
		return ms, err
	}
	if from.IsZero() {
		return s.Materialize(to, dir)
	}
	changes, err := s.DiffStates(from, to)
	if err != nil {
		return ms, err
	}
	k, _, err := worktreeKey(dir)
	if err != nil {
		return ms, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return ms, err
	}
	defer root.Close()
	// First pass: refuse if any path to be touched holds local edits.
	if !o.Force {
		for _, c := range changes {
			if err := s.checkClean(root, k, c); err != nil {
				return ms, err
			}
		}
	}
	start := time.Now()
	var b Batch
	// Deletions first: a directory may have to go before a file of the same
	// name can be written, and git's order can list the file first.
	for _, c := range changes {
		if c.Op != Deleted {
			continue
		}
		if err := root.Remove(c.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return ms, fmt.Errorf("objstore: checkout: %w", err)
		}
		b.Delete(statKey(k, c.Path))
		ms.Deleted++
		s.pruneEmptyDirs(root, c.Path)
	}
	for _, c := range changes {
		if c.Op == Deleted {
			continue
		}
		if c.Op != Added {
			if err := root.Remove(c.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return ms, fmt.Errorf("objstore: checkout: %w", err)
			}
		}
		if dir := parentDir(c.Path); dir != "" {
			if err := root.MkdirAll(dir, 0o777); err != nil {
				return ms, fmt.Errorf("objstore: checkout: %w", err)
			}
		}
		if c.To.Mode == ModeGitlink {
			if err := root.Mkdir(c.Path, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
				return ms, err
			}
			continue
		}
		if err := s.removeDirInWay(root, c.Path); err != nil {
			return ms, err
		}
		n, err := s.writeEntry(root, c.Path, c.To, &b, k, start)
		if err != nil {
			return ms, fmt.Errorf("objstore: checkout %q: %w", c.Path, err)
		}
		ms.Files++
		ms.Bytes += n
	}
	b.Put(worktreeStateKey(k), worktreeStateValue(to, start))
	return ms, s.kv.Write(&b, false)
}

// removeDirInWay removes an empty directory (a left-over gitlink, or the
// shell of a directory whose files were deleted) where a file must go.
func (s *Store) removeDirInWay(root *os.Root, p string) error {
	info, err := root.Lstat(p)
	if err == nil && info.IsDir() {
		return root.Remove(p)
	}
	return nil
}

func parentDir(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// pruneEmptyDirs removes the now-empty directories above a deleted path.
func (s *Store) pruneEmptyDirs(root *os.Root, p string) {
	for d := parentDir(p); d != ""; d = parentDir(d) {
		if root.Remove(d) != nil { // fails when not empty: stop
			return
		}
	}
}

// checkClean fails if the worktree's file at c.Path differs from c.From.
func (s *Store) checkClean(root *os.Root, k wkey, c Change) error {
	info, err := root.Lstat(c.Path)
	if c.Op == Added {
		if err == nil && !info.IsDir() {
			return fmt.Errorf("%w: untracked %q is in the way", ErrLocalChanges, c.Path)
		}
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil // deleted locally: nothing to lose
	}
	if err != nil {
		return err
	}
	cur, mode, ok := statOf(info)
	if !ok {
		return fmt.Errorf("%w: %q is not a file", ErrLocalChanges, c.Path)
	}
	if v, err := s.kv.Get(statKey(k, c.Path)); err == nil {
		if se, ok := decodeStat(v); ok && !se.racy && se.sameFile(cur) && se.id == c.From.ID {
			return nil
		}
	}
	id, err := s.hashFile(root, c.Path, mode)
	if err != nil {
		return err
	}
	if id != c.From.ID || mode != c.From.Mode {
		return fmt.Errorf("%w: %q", ErrLocalChanges, c.Path)
	}
	return nil
}

func (s *Store) readWorktreeFile(root *os.Root, p string, mode Mode) ([]byte, error) {
	if mode == ModeSymlink {
		t, err := root.Readlink(p)
		return []byte(t), err
	}
	return root.ReadFile(p)
}

func (s *Store) hashFile(root *os.Root, p string, mode Mode) (ID, error) {
	b, err := s.readWorktreeFile(root, p, mode)
	if err != nil {
		return ZeroID, err
	}
	return s.hash.Sum(KindBlob, b), nil
}
