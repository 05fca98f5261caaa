package server

// The file watcher: which paths of a worktree changed since its last sync,
// so that a snapshot looks at those alone (objstore.SnapshotOptions.Paths)
// instead of a stat walk of the whole tree.
//
// # What is watched
//
// The first snapshot of a directory through the server starts a watch of
// it: one inotify instance (an fsnotify.Watcher) per worktree, one inotify
// watch per directory, ".git" directories left out as the snapshot leaves
// them out. The watcher's goroutine (loop) records the path of every event
// relative to the root; a directory that appears is watched, with
// everything under it, before the next event is handled, and its path is
// recorded (a snapshot of a directory path scans the whole subtree, so
// whatever was created in it before its watch existed is seen). A
// directory that is removed or renamed away loses its watches and those
// below it (fsnotify keeps reporting a renamed directory's events under the
// old name otherwise), and its path is recorded.
//
// inotify has one watch per inode and instance: adding a watch of a
// directory that is watched already returns the same watch descriptor,
// and fsnotify then keeps its old name. That happens when a walk of a new
// directory meets a watched directory moved into it, before the loop has
// handled the move ("mkdir -p n/m; mv a n/m/a": the move makes no
// IN_MOVED_TO, n/m was not watched yet, and the walk of n finds n/m/a
// while a's IN_MOVED_FROM is still queued). Left alone, events in n/m/a
// would be reported under "a", and the handling of a's IN_MOVED_FROM
// would remove the one inotify watch, leaving n/m/a unwatched: its edits
// missed. So the watcher knows the inode of every directory it watches,
// and a walk that finds one under a new name first drops the watches of
// the old name and everything below it, then watches the new one afresh.
// That loses nothing: the old name's IN_MOVED_FROM is still queued (it
// records the old path), the new name lies under the walked directory,
// whose path is recorded when the walk ends, and the events of the old
// watches that fsnotify now drops are changes made before that.
//
// fsnotify itself drops the watch of a renamed directory when it handles
// the directory's IN_MOVE_SELF, which follows IN_MOVED_FROM (and
// IN_MOVED_TO, if any) and which its reader may handle while the loop
// handles IN_MOVED_FROM: so fsnotify not knowing a renamed directory is
// normal. fsnotify not knowing a directory below it is not: some watch
// may report events under a stale name, so the watcher is restarted (and
// the next snapshot is a full scan).
//
// # The change set and its validity
//
// Per worktree the watcher keeps a set of paths and a flag, valid: "every
// path whose content may differ from the state the worktree was last
// synced to (the store's worktree record) is in the set". A snapshot with
// Paths is correct exactly when valid holds. The set is not per ref:
// objstore checks that the ref's state is the one the worktree was synced
// to and answers ErrNotSynced otherwise, and then the server takes a full
// snapshot.
//
// valid is false after anything the watcher cannot vouch for, and the next
// snapshot is then a full scan: a watch just started (changes since the
// last sync, before the watch, are unknown; a server restart starts here
// too), a queue overflow (IN_Q_OVERFLOW), any watcher error, the root
// removed or renamed, more changed paths than MaxPaths (a scan is cheaper
// then). A worktree that needs more than the directory budget, or whose
// watch cannot be set up (ENOSPC from max_user_watches, say), is not
// watched: its snapshots are full scans until the entry is dropped after
// IdleTimeout without use and a later snapshot tries again.
//
// # Race-freedom
//
// A snapshot, holding the worktree's operation lock (snapshots and
// checkouts of one worktree run one at a time):
//
//  1. flushes: it creates a uniquely named file in a server-owned sentinel
//     directory (not in the worktree) that the same inotify instance
//     watches, and waits until the loop has handled that file's event.
//     An inotify instance has one event queue, in the order the kernel
//     generated the events, whatever the watch; the kernel queues a
//     file's event inside the syscall that changed it, so every change
//     whose syscall returned before the request arrived is queued before
//     the sentinel's event. fsnotify's reader sends errors and events in
//     queue order, on unbuffered channels, to one goroutine (pump) that
//     hands them on in that order; the loop handles them one at a time,
//     each completely (including setting up watches of new directories);
//     so once the sentinel is seen, every earlier change is in the set,
//     or valid is false. If the queue overflows, the sentinel's event may
//     be dropped, but then the overflow comes first and also wakes the
//     waiter; a flush that gets no answer in flushTimeout falls back to a
//     full scan.
//  2. takes the set and valid, and at that moment resets them to empty and
//     true (the reset point);
//  3. snapshots: with Paths = the taken set when it was valid, else (or on
//     ErrNotSynced) in full.
//  4. On failure it puts the taken set back (union with what arrived
//     meanwhile, valid only if both were), since the sync point did not
//     move.
//
// A change before the reset point is in the taken set (by 1) and the
// snapshot reads the file after the reset point, so it sees the change; a
// change after the reset point has its event queued after it, so it lands
// in the new set, even if the snapshot also saw it (then the next snapshot
// looks at the path again and finds it unchanged: examined twice, counted
// once). Hence after a successful snapshot, valid holds again.
//
// A checkout through the server (objstore.Store.Checkout) moves the sync
// point from state A to B and writes exactly the paths that differ between
// A and B, leaving local edits of other paths in place. So the set is NOT
// reset at a checkout: a path edited before the checkout and not touched
// by it still differs from B and must stay in the set. The checkout's own
// writes generate events that add the paths it wrote (their content is B's,
// so the next snapshot finds them unchanged); every other path holds A's
// content = B's. valid thus survives a checkout unchanged, and a failed
// checkout leaves the record at A with a superset of the changes.
//
// # Limits
//
// inotify does not see writes through a shared mmap, changes made through
// a hard link from outside the tree, or changes on network filesystems by
// other hosts; the stat walk does. A worktree where those happen should be
// snapshotted with the watcher off (serve --watch=false).

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/helios-vcs/helios/objstore"
)

// WatchOptions configure the server's file watcher. The zero value watches
// with the default limits.
type WatchOptions struct {
	// Disabled turns the watcher off: every snapshot is a full scan (with
	// the stat cache).
	Disabled bool
	// MaxDirs bounds the directories watched over all worktrees (inotify
	// watches; default 16384). A worktree that would pass it is not watched.
	MaxDirs int
	// MaxTrees bounds the worktrees watched at once, one inotify instance
	// each (default 32); the least recently used goes first.
	MaxTrees int
	// MaxPaths bounds the changed paths kept per worktree (default 4096);
	// past it the next snapshot is a full scan.
	MaxPaths int
	// SentinelDir is a directory the server owns, for the flush markers (see
	// the race-freedom argument above). Empty: a new directory under
	// os.TempDir(), removed at shutdown.
	SentinelDir string
}

// flushTimeout bounds the wait for a sentinel event; past it the snapshot
// is a full scan (the watcher is wedged or overflowed).
const flushTimeout = 5 * time.Second

// errFlush says a flush got no answer: the change set cannot be trusted.
var errFlush = errors.New("server: watcher flush failed")

// watchSet is the server's watchers, one per worktree directory.
type watchSet struct {
	o    WatchOptions
	idle time.Duration
	logf func(string, ...any)
	now  func() time.Time

	mu       sync.Mutex
	trees    map[string]*watchedTree // by absolute clean root
	dirs     int                     // directories watched over all trees
	sentinel string                  // created on first use
	ownDir   bool
	seq      int
	closed   bool

	partial, full, notSynced atomic.Int64 // snapshots by kind
}

func newWatchSet(o WatchOptions, idle time.Duration, logf func(string, ...any)) *watchSet {
	if o.MaxDirs <= 0 {
		o.MaxDirs = 16384
	}
	if o.MaxTrees <= 0 {
		o.MaxTrees = 32
	}
	if o.MaxPaths <= 0 {
		o.MaxPaths = 4096
	}
	return &watchSet{o: o, idle: idle, logf: logf, now: time.Now, trees: map[string]*watchedTree{}}
}

// watchedTree is one worktree's watcher and change set.
type watchedTree struct {
	ws       *watchSet
	root     string
	sentinel string // this tree's directory in the sentinel directory
	made     os.FileInfo

	// op serializes snapshots and checkouts of the worktree: a snapshot's
	// take-and-reset must not interleave with another's.
	op sync.Mutex

	lastUse time.Time // guarded by ws.mu

	// Set up before loop starts, then owned by loop.
	w       *fsnotify.Watcher
	dirs    map[string]dirID // watched directories, relative ("" is the root)
	byInode map[dirID]string // the inverse of dirs (see "What is watched")
	done    chan struct{}    // closed when loop returns

	next  chan struct{}  // loop asks pump for the next item
	items chan watchItem // and gets it here

	// unwatched says why the tree is not watched (too big, ...); such an
	// entry has no watcher. Set before the tree is published.
	unwatched string

	mu         sync.Mutex
	changed    map[string]struct{}
	valid      bool
	dead       bool // the watcher stopped: replace the tree
	waitName   string
	waiter     chan struct{}
	taken      map[string]struct{} // the set an operation took, until it ends
	takenValid bool
	flushSeq   int
}

// counts returns the watched trees and directories (for Stats).
func (ws *watchSet) counts() (trees, dirs int) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, t := range ws.trees {
		if t.unwatched == "" {
			trees++
		}
	}
	return trees, ws.dirs
}

// use returns the watched tree of dir, starting a watch when there is
// none or the old one died; nil when dir is not watched.
func (ws *watchSet) use(dir string) *watchedTree {
	if !filepath.IsAbs(dir) {
		return nil
	}
	dir = filepath.Clean(dir)
	ws.mu.Lock()
	if ws.closed {
		ws.mu.Unlock()
		return nil
	}
	now := ws.now()
	t := ws.trees[dir]
	if t != nil {
		t.lastUse = now
		if t.unwatched != "" {
			ws.mu.Unlock()
			return nil
		}
		t.mu.Lock()
		dead := t.dead
		t.mu.Unlock()
		if !dead {
			ws.mu.Unlock()
			return t
		}
		delete(ws.trees, dir)
	}
	var evict []*watchedTree
	for len(ws.trees) >= ws.o.MaxTrees {
		lru := ws.lru()
		delete(ws.trees, lru.root)
		evict = append(evict, lru)
	}
	ws.mu.Unlock()
	if t != nil {
		t.close()
	}
	for _, e := range evict {
		e.op.Lock() // wait for its operation in flight
		e.close()
		e.op.Unlock()
	}
	t, err := ws.start(dir)
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.closed {
		if t != nil {
			go t.close()
		}
		return nil
	}
	if old := ws.trees[dir]; old != nil {
		// A racing request started one first: use that.
		if t != nil {
			go t.close()
		}
		if old.unwatched != "" {
			return nil
		}
		return old
	}
	if err != nil {
		ws.logf("not watching %s: %v", dir, err)
		ws.trees[dir] = &watchedTree{ws: ws, root: dir, lastUse: now, unwatched: err.Error()}
		return nil
	}
	t.lastUse = now
	ws.trees[dir] = t
	return t
}

// lookup returns the watched tree of dir without starting one.
func (ws *watchSet) lookup(dir string) *watchedTree {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	t := ws.trees[filepath.Clean(dir)]
	if t == nil || t.unwatched != "" {
		return nil
	}
	t.lastUse = ws.now()
	return t
}

// lru is the least recently used tree; ws.mu is held and trees is not empty.
func (ws *watchSet) lru() *watchedTree {
	var old *watchedTree
	for _, t := range ws.trees {
		if old == nil || t.lastUse.Before(old.lastUse) {
			old = t
		}
	}
	return old
}

// evictIdle stops watching the worktrees unused for the idle timeout.
func (ws *watchSet) evictIdle() {
	if ws.idle <= 0 {
		return
	}
	ws.mu.Lock()
	now := ws.now()
	var idle []*watchedTree
	for dir, t := range ws.trees {
		if now.Sub(t.lastUse) >= ws.idle && t.op.TryLock() {
			delete(ws.trees, dir)
			idle = append(idle, t)
		}
	}
	ws.mu.Unlock()
	for _, t := range idle {
		t.close()
		t.op.Unlock()
	}
}

// janitor evicts idle trees until stop is closed.
func (ws *watchSet) janitor(stop <-chan struct{}) {
	if ws.idle <= 0 {
		return
	}
	tick := time.NewTicker(max(ws.idle/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			ws.evictIdle()
		}
	}
}

// close stops every watcher and removes the sentinel directory if the set
// made it.
func (ws *watchSet) close() {
	ws.mu.Lock()
	ws.closed = true
	trees := ws.trees
	ws.trees = map[string]*watchedTree{}
	sentinel, own := ws.sentinel, ws.ownDir
	ws.mu.Unlock()
	for _, t := range trees {
		t.op.Lock()
		t.close()
		t.op.Unlock()
	}
	if own && sentinel != "" {
		os.RemoveAll(sentinel)
	}
}

// sentinelDir makes (once) the directory for flush markers and a fresh
// subdirectory of it for one tree.
func (ws *watchSet) sentinelDir() (string, error) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.sentinel == "" {
		if ws.o.SentinelDir != "" {
			// Left-overs of a killed server: its markers mean nothing now.
			os.RemoveAll(ws.o.SentinelDir)
			if err := os.MkdirAll(ws.o.SentinelDir, 0o700); err != nil {
				return "", err
			}
			ws.sentinel = ws.o.SentinelDir
		} else {
			d, err := os.MkdirTemp("", "helios-watch-")
			if err != nil {
				return "", err
			}
			ws.sentinel, ws.ownDir = d, true
		}
	}
	ws.seq++
	d := filepath.Join(ws.sentinel, "t"+strconv.Itoa(ws.seq))
	return d, os.Mkdir(d, 0o700)
}

// reserve counts n more watched directories against the budget.
func (ws *watchSet) reserve(n int) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.dirs+n > ws.o.MaxDirs {
		return false
	}
	ws.dirs += n
	return true
}

func (ws *watchSet) release(n int) {
	ws.mu.Lock()
	ws.dirs -= n
	ws.mu.Unlock()
}

// errTooManyDirs is why a tree bigger than the directory budget is not
// watched.
var errTooManyDirs = errors.New("server: too many directories to watch")

// start sets up the watch of root: every directory, then the loop. The
// tree starts invalid: its first snapshot is a full scan.
func (ws *watchSet) start(root string) (*watchedTree, error) {
	info, err := os.Lstat(root)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("server: watch %q: not a directory", root)
	}
	sdir, err := ws.sentinelDir()
	if err != nil {
		return nil, fmt.Errorf("server: watch sentinel: %w", err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		os.RemoveAll(sdir)
		return nil, err
	}
	made, _ := os.Lstat(sdir)
	t := &watchedTree{ws: ws, root: root, sentinel: sdir, made: made, w: w, dirs: map[string]dirID{},
		byInode: map[dirID]string{}, done: make(chan struct{}), next: make(chan struct{}), items: make(chan watchItem),
		changed: map[string]struct{}{}}
	if err := w.Add(sdir); err != nil {
		t.stop()
		return nil, err
	}
	if err := t.addDirs(""); err != nil {
		t.stop()
		return nil, err
	}
	go t.pump()
	go t.loop()
	return t, nil
}

// dirID identifies a directory by inode, as inotify's watches do.
type dirID struct{ dev, ino uint64 }

// errStaleWatch stops a watch whose fsnotify bookkeeping cannot be trusted.
var errStaleWatch = errors.New("server: a directory's watch is known under another name")

// addDirs watches the directory rel and every directory under it, each
// before listing it (so that a subdirectory made after the listing has
// its event). A directory watched under another name (moved there, its
// move still queued) is watched afresh under this one. Run before loop
// starts, or by loop.
func (t *watchedTree) addDirs(rel string) error {
	return filepath.WalkDir(filepath.Join(t.root, rel), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // gone meanwhile: its removal has an event
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		r := t.rel(p)
		if d.Name() == ".git" && r != "" {
			return fs.SkipDir
		}
		if _, ok := t.dirs[r]; ok {
			return nil
		}
		// The inode before the watch: if a rename puts another directory
		// here between the two, its IN_MOVED_TO is queued (the parent is
		// watched), and its handling watches r afresh.
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		id, ok := inodeOf(info)
		if old, seen := t.byInode[id]; ok && seen {
			// If the old name is above r, this walk has just watched
			// what is there now: too tangled to follow, as is fsnotify
			// not knowing a directory under the old name.
			if old == "" || strings.HasPrefix(r, old+"/") || !t.unwatchDirs(old, true) {
				return fmt.Errorf("%w: %q was %q", errStaleWatch, r, old)
			}
		}
		if !t.ws.reserve(1) {
			return errTooManyDirs
		}
		if err := t.w.Add(p); err != nil {
			t.ws.release(1)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("server: watch %q: %w", p, err)
		}
		t.dirs[r] = id
		if ok {
			t.byInode[id] = r
		}
		return nil
	})
}

// inodeOf returns the device and inode of info.
func inodeOf(info fs.FileInfo) (dirID, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return dirID{}, false
	}
	return dirID{dev: uint64(st.Dev), ino: st.Ino}, true
}

// rel is p relative to the root ("" for the root itself), slash-separated.
func (t *watchedTree) rel(p string) string {
	if p == t.root {
		return ""
	}
	return filepath.ToSlash(strings.TrimPrefix(p, t.root+string(filepath.Separator)))
}

// unwatchDirs drops the watches of rel and every directory below it. It
// reports false when fsnotify no longer knew a directory below rel
// although rel was renamed, not removed: fsnotify's bookkeeping lost
// track, so a watch may report under a stale name. (A removed directory's
// watch is gone already, and so may be a renamed directory's own: see
// "What is watched".)
func (t *watchedTree) unwatchDirs(rel string, renamed bool) bool {
	n, ok := 0, true
	for d, id := range t.dirs {
		if d == rel || strings.HasPrefix(d, rel+"/") {
			err := t.w.Remove(filepath.Join(t.root, filepath.FromSlash(d)))
			if renamed && d != rel && errors.Is(err, fsnotify.ErrNonExistentWatch) {
				ok = false
			}
			delete(t.dirs, d)
			if t.byInode[id] == d {
				delete(t.byInode, id)
			}
			n++
		}
	}
	t.ws.release(n)
	return ok
}

// stop closes the watcher and returns the tree's directories to the budget.
func (t *watchedTree) stop() {
	if t.w != nil {
		t.w.Close()
	}
	t.ws.release(len(t.dirs))
	t.dirs = nil
	removeIfSame(t.sentinel, t.made)
}

// removeIfSame removes path if it still is the file or directory made
// (os.SameFile): a server left on a store that was removed and made again
// at the same path must not remove the next server's files, which have
// the same names.
func removeIfSame(path string, made os.FileInfo) {
	if stillSame(path, made) {
		os.RemoveAll(path)
	}
}

// stillSame reports whether path is still the file or directory made.
func stillSame(path string, made os.FileInfo) bool {
	now, err := os.Lstat(path)
	return err == nil && made != nil && os.SameFile(now, made)
}

// close stops the tree's watcher and waits for its loop.
func (t *watchedTree) close() {
	if t.w == nil {
		return
	}
	t.w.Close()
	<-t.done
}

// loop handles the watcher's events and errors, one at a time, in the
// order fsnotify delivers them.
func (t *watchedTree) loop() {
	defer close(t.done)
	defer func() {
		t.mu.Lock()
		t.dead, t.valid = true, false
		t.wake()
		t.mu.Unlock()
		t.stop()
	}()
	for {
		t.next <- struct{}{}
		it := <-t.items
		if it.closed || !t.handle(it) {
			return
		}
	}
}

// handle handles one event or error; false stops the watch.
func (t *watchedTree) handle(it watchItem) bool {
	switch err := it.err; {
	case err == nil:
		return t.event(it.ev)
	case errors.Is(err, syscall.EINVAL):
		// fsnotify's handling of a renamed directory's IN_MOVE_SELF
		// removes its watch; EINVAL is the kernel saying it had dropped
		// it already (the directory was removed since). Nothing is lost.
		// (fsnotify's reads, the other place an error comes from, are of
		// a buffer big enough for any event: never EINVAL.)
		return true
	default:
		t.mu.Lock()
		t.valid = false
		t.changed = map[string]struct{}{}
		t.wake()
		t.mu.Unlock()
		if !errors.Is(err, fsnotify.ErrEventOverflow) {
			t.ws.logf("watcher of %s: %v", t.root, err)
			return false
		}
		return true
	}
}

// watchItem is one thing fsnotify sent: an event, an error, or the end.
type watchItem struct {
	ev     fsnotify.Event
	err    error
	closed bool
}

// pump is loop's receiver of what fsnotify sends. fsnotify's reader may
// send an error while it holds the lock that Add, Remove and Close take
// (when it handles IN_MOVE_SELF and the watch is gone already): were the
// loop, inside one of those, its only receiver, both would wait for ever.
// So pump takes errors whenever they come, and an event only when the
// loop asks for the next item, after the errors that came first: the
// order is fsnotify's, and fsnotify's reader stays where it was without
// pump, at most one event ahead of the loop (blocked sending it).
func (t *watchedTree) pump() {
	events, errs := t.w.Events, t.w.Errors
	var pending []watchItem // errors (or the end) the loop has yet to take
	for {
		select {
		case <-t.done:
			return
		case err, ok := <-errs:
			if !ok {
				// fsnotify is done: its Events are closed next.
				errs, events = nil, nil
				pending = append(pending, watchItem{closed: true})
				continue
			}
			pending = append(pending, watchItem{err: err})
		case <-t.next:
			if len(pending) > 0 {
				t.items <- pending[0]
				pending = pending[1:]
				continue
			}
			var it watchItem
			select {
			case <-t.done:
				return
			case ev, ok := <-events:
				it = watchItem{ev: ev, closed: !ok}
			case err, ok := <-errs:
				it = watchItem{err: err, closed: !ok}
				if !ok {
					errs, events = nil, nil
				}
			}
			t.items <- it
		}
	}
}

// wake answers a flush in progress; t.mu is held.
func (t *watchedTree) wake() {
	if t.waiter != nil {
		close(t.waiter)
		t.waiter, t.waitName = nil, ""
	}
}

// event handles one event; false stops the watch.
func (t *watchedTree) event(ev fsnotify.Event) bool {
	if strings.HasPrefix(ev.Name, t.sentinel+string(filepath.Separator)) {
		if ev.Has(fsnotify.Create) {
			t.mu.Lock()
			if ev.Name == t.waitName {
				t.wake()
			}
			t.mu.Unlock()
			os.Remove(ev.Name)
		}
		return true
	}
	if ev.Name == t.root {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			t.ws.logf("watched worktree %s was removed or renamed", t.root)
			return false
		}
		return true
	}
	if !strings.HasPrefix(ev.Name, t.root+string(filepath.Separator)) {
		return true // the sentinel directory itself, or a stale name
	}
	rel := t.rel(ev.Name)
	if hasDotGit(rel) {
		return true
	}
	switch {
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		// fsnotify keeps reporting a moved directory under its old name:
		// drop the watches of whatever was at rel (a new directory there
		// gets its own watches from its Create event, which comes after).
		if !t.unwatchDirs(rel, !ev.Has(fsnotify.Remove)) {
			// A watch may go on reporting under a stale name: start over
			// (the next snapshot is a full scan with a new watcher).
			t.ws.logf("watcher of %s lost track of %q; restarting it", t.root, rel)
			return false
		}
	case ev.Has(fsnotify.Create):
		if info, err := os.Lstat(ev.Name); err == nil && info.IsDir() {
			if _, ok := t.dirs[rel]; ok {
				// Replaced by a new directory of that name: rewatch it.
				t.unwatchDirs(rel, false)
			}
			if err := t.addDirs(rel); err != nil {
				t.ws.logf("watcher of %s: %v", t.root, err)
				return false
			}
		}
	case ev.Op == fsnotify.Chmod:
		// A directory's mode is not in a tree; a file's is.
		if _, ok := t.dirs[rel]; ok {
			return true
		}
	}
	t.record(rel)
	return true
}

// hasDotGit reports a path inside a ".git" directory (which snapshots
// leave out).
func hasDotGit(rel string) bool {
	for c := range strings.SplitSeq(rel, "/") {
		if c == ".git" {
			return true
		}
	}
	return false
}

// record adds rel to the change set. A path that no tree may hold (a
// ".GIT" file, say) is recorded as its parent directory, which the
// snapshot scans (and leaves such names out of); at the root that means a
// full scan.
func (t *watchedTree) record(rel string) {
	parts := strings.Split(rel, "/")
	for i, c := range parts {
		if objstore.ValidName(c) != nil {
			rel = strings.Join(parts[:i], "/")
			break
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.valid {
		// Only a snapshot's reset makes the set valid again, and it
		// empties it: no point in collecting until then.
		return
	}
	if rel == "" || len(t.changed) >= t.ws.o.MaxPaths {
		t.valid = false
		t.changed = map[string]struct{}{}
		return
	}
	t.changed[rel] = struct{}{}
}

// flush waits until every event queued before it has been handled (see
// the race-freedom argument above).
func (t *watchedTree) flush() error {
	t.mu.Lock()
	if t.dead {
		t.mu.Unlock()
		return errFlush
	}
	t.flushSeq++
	name := filepath.Join(t.sentinel, "s"+strconv.Itoa(t.flushSeq))
	ch := make(chan struct{})
	t.waiter, t.waitName = ch, name
	t.mu.Unlock()
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err == nil {
		err = f.Close()
	}
	if err == nil {
		timer := time.NewTimer(flushTimeout)
		defer timer.Stop()
		select {
		case <-ch:
			return nil
		case <-timer.C:
			err = errFlush
		}
	}
	t.mu.Lock()
	if t.waiter == ch {
		t.waiter, t.waitName = nil, ""
	}
	t.mu.Unlock()
	return fmt.Errorf("%w: %w", errFlush, err)
}

// begin starts a snapshot of the tree, t.op held: it flushes, takes the
// change set and resets it (the reset point). paths is the sorted set, not
// nil, when it can be trusted; nil means a full scan.
func (t *watchedTree) begin() (paths []string) {
	if err := t.flush(); err != nil {
		t.ws.logf("watcher of %s: %v", t.root, err)
		t.mu.Lock()
		t.valid = false
		t.changed = map[string]struct{}{}
		t.mu.Unlock()
		// No reset: the tree stays invalid until a flush succeeds.
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dead {
		return nil
	}
	t.taken, t.takenValid = t.changed, t.valid
	t.changed, t.valid = map[string]struct{}{}, true
	if !t.takenValid {
		return nil
	}
	paths = make([]string, 0, len(t.taken))
	for p := range t.taken {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// end finishes what begin started: a failed snapshot did not move the
// sync point, so what it took is put back.
func (t *watchedTree) end(ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	taken, takenValid := t.taken, t.takenValid
	t.taken = nil
	if ok || taken == nil {
		return
	}
	if !takenValid {
		t.valid = false
	}
	if !t.valid {
		t.changed = map[string]struct{}{}
		return
	}
	for p := range taken {
		if len(t.changed) >= t.ws.o.MaxPaths {
			t.valid = false
			t.changed = map[string]struct{}{}
			return
		}
		t.changed[p] = struct{}{}
	}
}

// snapshot is a Snapshot request through the watcher: limited to the
// changed paths when the change set can be trusted, in full otherwise.
func (s *Server) snapshot(r SnapshotRequest) (objstore.SnapshotResult, error) {
	var t *watchedTree
	if s.watch != nil {
		t = s.watch.use(r.Dir)
	}
	if t == nil {
		return s.local.Snapshot(r)
	}
	t.op.Lock()
	defer t.op.Unlock()
	paths := t.begin()
	var res objstore.SnapshotResult
	var err error
	if paths != nil {
		res, err = s.local.snapshot(r, paths)
		if errors.Is(err, objstore.ErrNotSynced) {
			s.watch.notSynced.Add(1)
			paths = nil
		} else {
			s.watch.partial.Add(1)
		}
	}
	if paths == nil {
		s.watch.full.Add(1)
		res, err = s.local.Snapshot(r)
	}
	t.end(err == nil)
	return res, err
}

// checkout is a Checkout request: it waits for the worktree's snapshot in
// flight, and leaves the change set alone (see "Race-freedom").
func (s *Server) checkout(dir string, to objstore.ID, o objstore.CheckoutOptions) (objstore.MaterializeStats, error) {
	if s.watch != nil {
		if t := s.watch.lookup(dir); t != nil {
			t.op.Lock()
			defer t.op.Unlock()
		}
	}
	return s.local.Checkout(dir, to, o)
}
