package server

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helios-vcs/helios/objstore"
)

var watchSeed = flag.Uint64("watch.seed", 0, "seed of TestWatchRandomized (0: from the clock)")

const mainRef = "refs/heads/main"

// watchFixture is a served store, a client, and a worktree.
type watchFixture struct {
	*fixture
	c  *Client
	wt string
}

func newWatchFixture(t *testing.T, o Options, files map[string]string) *watchFixture {
	t.Helper()
	f := newFixture(t, o)
	wf := &watchFixture{fixture: f, c: f.client(t), wt: filepath.Join(t.TempDir(), "wt")}
	os.MkdirAll(wf.wt, 0o777)
	writeTree(t, wf.wt, files)
	return wf
}

// snap takes a snapshot through the server and checks it against a full
// scan: a full snapshot (in process, without the watcher) right after it
// must find nothing changed.
func (f *watchFixture) snap(t *testing.T) objstore.SnapshotResult {
	t.Helper()
	res, err := f.c.Snapshot(SnapshotRequest{Dir: f.wt, Ref: mainRef, Message: "watched"})
	if err != nil {
		t.Fatalf("snapshot through the server: %v", err)
	}
	full, err := f.store.Snapshot(f.wt, objstore.SnapshotOptions{Ref: mainRef, Message: "full"})
	if err != nil {
		t.Fatalf("full snapshot: %v", err)
	}
	if full.Changed {
		t.Fatalf("a full scan after the watched snapshot found changes %v: the watcher missed them", changePaths(full.Changes))
	}
	return res
}

// kinds returns the partial and full snapshots the server has taken.
func (f *watchFixture) kinds() (partial, full int64) {
	return f.srv.watch.partial.Load(), f.srv.watch.full.Load()
}

func changePaths(cs []objstore.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Path)
	}
	sort.Strings(out)
	return out
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestWatchEdits runs one kind of change per step and checks that the
// watched snapshot sees exactly it, without a full scan.
func TestWatchEdits(t *testing.T) {
	f := newWatchFixture(t, Options{}, map[string]string{
		"a.txt": "a\n", "b.txt": "b\n", "src/x.go": "package x\n", "src/y.go": "package y\n",
		"src/deep/z.go": "package z\n", "docs/d.md": "d\n", ".git/HEAD": "ref: refs/heads/main\n",
	})
	first := f.snap(t)
	if p, full := f.kinds(); p != 0 || full != 1 || first.Scanned != 6 {
		t.Fatalf("first snapshot: %d partial, %d full, scanned %d; want 0, 1, 6", p, full, first.Scanned)
	}
	wt := func(p string) string { return filepath.Join(f.wt, filepath.FromSlash(p)) }
	steps := []struct {
		name string
		do   func() error
		want []string // changed paths
	}{
		{"edit", func() error { return os.WriteFile(wt("a.txt"), []byte("a2\n"), 0o644) }, []string{"a.txt"}},
		{"nothing", func() error { return nil }, nil},
		{"create", func() error { return os.WriteFile(wt("src/new.go"), []byte("package x\n"), 0o644) }, []string{"src/new.go"}},
		{"delete", func() error { return os.Remove(wt("b.txt")) }, []string{"b.txt"}},
		{"rename file", func() error { return os.Rename(wt("src/y.go"), wt("docs/y.go")) }, []string{"docs/y.go", "src/y.go"}},
		{"chmod", func() error { return os.Chmod(wt("src/x.go"), 0o755) }, []string{"src/x.go"}},
		{"new subdirectories", func() error {
			if err := os.MkdirAll(wt("n1/n2/n3"), 0o777); err != nil {
				return err
			}
			return os.WriteFile(wt("n1/n2/n3/f"), []byte("f\n"), 0o644)
		}, []string{"n1/n2/n3/f"}},
		{"write in the new subdirectory", func() error { return os.WriteFile(wt("n1/n2/n3/g"), []byte("g\n"), 0o644) }, []string{"n1/n2/n3/g"}},
		{"rename directory", func() error { return os.Rename(wt("src/deep"), wt("moved")) }, []string{"moved/z.go", "src/deep/z.go"}},
		{"write in the renamed directory", func() error { return os.WriteFile(wt("moved/z.go"), []byte("package z // 2\n"), 0o644) }, []string{"moved/z.go"}},
		{"new directory at the old name", func() error {
			if err := os.Mkdir(wt("src/deep"), 0o777); err != nil {
				return err
			}
			return os.WriteFile(wt("src/deep/w"), []byte("w\n"), 0o644)
		}, []string{"src/deep/w"}},
		{"remove directory", func() error { return os.RemoveAll(wt("n1")) }, []string{"n1/n2/n3/f", "n1/n2/n3/g"}},
		{"file becomes directory", func() error {
			if err := os.Remove(wt("a.txt")); err != nil {
				return err
			}
			if err := os.Mkdir(wt("a.txt"), 0o777); err != nil {
				return err
			}
			return os.WriteFile(wt("a.txt/in"), []byte("in\n"), 0o644)
		}, []string{"a.txt", "a.txt/in"}},
		{"symlink", func() error { return os.Symlink("docs/d.md", wt("link")) }, []string{"link"}},
		{"inside .git", func() error { return os.WriteFile(wt(".git/HEAD"), []byte("x\n"), 0o644) }, nil},
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			mustDo(t, s.do())
			res := f.snap(t)
			if got := changePaths(res.Changes); strings.Join(got, ",") != strings.Join(s.want, ",") {
				t.Errorf("changes %v, want %v", got, s.want)
			}
			if p, full := f.kinds(); p != int64(i+1) || full != 1 {
				t.Errorf("%d partial and %d full snapshots, want %d and 1", p, full, i+1)
			}
			if res.Scanned > 3 {
				t.Errorf("scanned %d files: the watcher did not limit the snapshot", res.Scanned)
			}
		})
	}
}

// TestWatchDirectoryMovedIntoNewDirectory: a watched directory moved into
// a directory so new that the loop has not watched it yet is found by the
// walk of the new directory while its rename is still queued. inotify has
// one watch per inode, so the walk's watch is the old one, under the old
// name; handling the rename must not leave the directory unwatched (edits
// in it missed) nor restart the watcher.
func TestWatchDirectoryMovedIntoNewDirectory(t *testing.T) {
	f := newWatchFixture(t, Options{}, map[string]string{"a/x": "x\n", "a/sub/y": "y\n", "f": "f\n"})
	f.snap(t)
	tr := f.srv.watch.lookup(f.wt)
	if tr == nil {
		t.Fatal("worktree not watched after a snapshot")
	}
	wt := func(p string) string { return filepath.Join(f.wt, filepath.FromSlash(p)) }
	// Held: the loop stops at the first event (f's) until the rename is
	// done, so the walk of n, when n's event comes, finds n/a.
	tr.mu.Lock()
	mustDo(t, os.WriteFile(wt("f"), []byte("f2\n"), 0o644))
	mustDo(t, os.Mkdir(wt("n"), 0o777))
	mustDo(t, os.Rename(wt("a"), wt("n/a")))
	tr.mu.Unlock()
	p0, full0 := f.kinds()
	if got := changePaths(f.snap(t).Changes); strings.Join(got, ",") != "a/sub/y,a/x,f,n/a/sub/y,n/a/x" {
		t.Errorf("changes %v, want [a/sub/y a/x f n/a/sub/y n/a/x]", got)
	}
	steps := []struct {
		do   func() error
		want string
	}{
		{func() error { return os.WriteFile(wt("n/a/x"), []byte("x2\n"), 0o644) }, "n/a/x"},
		{func() error { return os.WriteFile(wt("n/a/sub/z"), []byte("z\n"), 0o644) }, "n/a/sub/z"},
		{func() error { return os.Rename(wt("n/a/sub"), wt("n/a/sub2")) }, "n/a/sub/y,n/a/sub/z,n/a/sub2/y,n/a/sub2/z"},
		{func() error { return os.Rename(wt("n/a"), wt("b")) }, "b/sub2/y,b/sub2/z,b/x,n/a/sub2/y,n/a/sub2/z,n/a/x"},
		{func() error { return os.WriteFile(wt("b/sub2/w"), []byte("w\n"), 0o644) }, "b/sub2/w"},
	}
	for i, s := range steps {
		mustDo(t, s.do())
		if got := changePaths(f.snap(t).Changes); strings.Join(got, ",") != s.want {
			t.Errorf("step %d: changes %v, want [%s]", i, got, strings.ReplaceAll(s.want, ",", " "))
		}
	}
	if p, full := f.kinds(); p != p0+int64(len(steps))+1 || full != full0 {
		t.Errorf("%d partial and %d full snapshots, want %d and %d: the watcher restarted", p-p0, full-full0, len(steps)+1, 0)
	}
}

// TestWatchDirectoryMovedOutAndRemoved: a directory renamed out of the
// tree and removed there before fsnotify handles its IN_MOVE_SELF makes
// fsnotify's reader send an error while it holds its lock, just when the
// loop, handling the rename, removes the directory's watch under that
// lock. The watcher must neither hang nor restart.
func TestWatchDirectoryMovedOutAndRemoved(t *testing.T) {
	files := map[string]string{"f": "f\n"}
	for i := range 10 {
		files[fmt.Sprintf("d%d/sub/x", i)] = "x\n"
	}
	f := newWatchFixture(t, Options{}, files)
	f.snap(t)
	tr := f.srv.watch.lookup(f.wt)
	if tr == nil {
		t.Fatal("worktree not watched after a snapshot")
	}
	out := t.TempDir()
	p0, full0 := f.kinds()
	for i := range 10 {
		d := fmt.Sprintf("d%d", i)
		// Held: the loop stops at f's event until the directory is gone.
		tr.mu.Lock()
		mustDo(t, os.WriteFile(filepath.Join(f.wt, "f"), fmt.Appendf(nil, "%d\n", i), 0o644))
		mustDo(t, os.Rename(filepath.Join(f.wt, d), filepath.Join(out, d)))
		mustDo(t, os.RemoveAll(filepath.Join(out, d)))
		tr.mu.Unlock()
		if got, want := strings.Join(changePaths(f.snap(t).Changes), ","), d+"/sub/x,f"; got != want {
			t.Fatalf("round %d: changes %s, want %s", i, got, want)
		}
	}
	if p, full := f.kinds(); p != p0+10 || full != full0 {
		t.Errorf("%d partial and %d full snapshots, want 10 and 0: the watcher restarted or hung", p-p0, full-full0)
	}
}

// TestWatchCheckoutKeepsLocalEdits: a checkout through the server must not
// make the watcher forget an edit of a path the checkout does not touch,
// nor report the checkout's own writes as changes.
func TestWatchCheckoutKeepsLocalEdits(t *testing.T) {
	f := newWatchFixture(t, Options{}, map[string]string{"a": "1\n", "b": "1\n", "c": "1\n"})
	s1 := f.snap(t).State
	mustDo(t, os.WriteFile(filepath.Join(f.wt, "a"), []byte("2\n"), 0o644))
	f.snap(t)
	mustDo(t, os.WriteFile(filepath.Join(f.wt, "c"), []byte("local\n"), 0o644)) // not in the diff
	if _, err := f.c.Checkout(f.wt, s1, objstore.CheckoutOptions{}); err != nil {
		t.Fatal(err)
	}
	// The worktree is at s1 now, but main is not: move main back so that
	// the next snapshot is on top of the state the worktree holds.
	cur, _, err := f.c.Resolve(mainRef)
	mustDo(t, err)
	mustDo(t, f.c.UpdateRefs(false, objstore.RefUpdate{Name: mainRef, Old: cur, New: s1}))
	p0, _ := f.kinds()
	res := f.snap(t)
	if got := changePaths(res.Changes); strings.Join(got, ",") != "c" {
		t.Errorf("changes after the checkout %v, want [c]", got)
	}
	if p, _ := f.kinds(); p != p0+1 {
		t.Errorf("the snapshot after the checkout was not limited to the watcher's paths")
	}
}

// TestWatchOverflowFallsBack fills the inotify queue while the watcher's
// goroutine is held, so the kernel drops events: the next snapshot must
// be a full scan, and the one after it watched again.
func TestWatchOverflowFallsBack(t *testing.T) {
	f := newWatchFixture(t, Options{}, map[string]string{"a": "a\n", "b": "b\n", "c": "c\n"})
	f.snap(t)
	tr := f.srv.watch.lookup(f.wt)
	if tr == nil {
		t.Fatal("worktree not watched after a snapshot")
	}
	max := 16384
	if b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			max = n
		}
	}
	// Held: the loop blocks in record, fsnotify's reader in its send, and
	// the kernel's queue fills. Alternating files defeats the kernel's
	// merging of identical consecutive events. fsnotify reads up to 4096
	// events at a time before it blocks.
	tr.mu.Lock()
	fa, err := os.OpenFile(filepath.Join(f.wt, "a"), os.O_WRONLY|os.O_APPEND, 0)
	mustDo(t, err)
	fb, err := os.OpenFile(filepath.Join(f.wt, "b"), os.O_WRONLY|os.O_APPEND, 0)
	mustDo(t, err)
	for i := range max + 4096 + 1000 {
		fh := fa
		if i%2 == 1 {
			fh = fb
		}
		fh.Write([]byte("x"))
	}
	fa.Close()
	fb.Close()
	mustDo(t, os.WriteFile(filepath.Join(f.wt, "c"), []byte("dropped\n"), 0o644))
	tr.mu.Unlock()
	p0, full0 := f.kinds()
	res := f.snap(t)
	if p, full := f.kinds(); p != p0 || full != full0+1 {
		t.Errorf("after an overflow: %d partial and %d full snapshots, want %d and %d", p, full, p0, full0+1)
	}
	if got := changePaths(res.Changes); strings.Join(got, ",") != "a,b,c" {
		t.Errorf("changes %v, want [a b c]", got)
	}
	mustDo(t, os.WriteFile(filepath.Join(f.wt, "a"), []byte("again\n"), 0o644))
	f.snap(t)
	if p, _ := f.kinds(); p != p0+1 {
		t.Errorf("the snapshot after the full scan was not watched")
	}
}

// TestWatchFallbacks: a server restart (a new watcher), a ref moved
// elsewhere (ErrNotSynced), too many directories, and an idle worktree
// dropped all give a correct full scan.
func TestWatchFallbacks(t *testing.T) {
	t.Run("restart", func(t *testing.T) {
		s, err := objstore.Init(objstore.NewMemKV(), objstore.Options{})
		mustDo(t, err)
		wt := t.TempDir()
		writeTree(t, wt, map[string]string{"a": "a\n", "d/b": "b\n"})
		srv1 := New(Options{Store: s})
		_, err = srv1.snapshot(SnapshotRequest{Dir: wt, Ref: mainRef})
		mustDo(t, err)
		srv1.Shutdown()
		writeTree(t, wt, map[string]string{"d/b": "edited while no server ran\n"})
		srv2 := New(Options{Store: s})
		defer srv2.Shutdown()
		res, err := srv2.snapshot(SnapshotRequest{Dir: wt, Ref: mainRef})
		mustDo(t, err)
		if got := changePaths(res.Changes); strings.Join(got, ",") != "d/b" || srv2.watch.full.Load() != 1 {
			t.Errorf("first snapshot of a new server: changes %v, %d full; want [d/b], 1", got, srv2.watch.full.Load())
		}
	})
	t.Run("ref moved", func(t *testing.T) {
		f := newWatchFixture(t, Options{}, map[string]string{"a": "a\n", "b": "b\n"})
		first := f.snap(t).State
		mustDo(t, os.WriteFile(filepath.Join(f.wt, "a"), []byte("a2\n"), 0o644))
		f.snap(t)
		// Another writer puts main back to the first state: the worktree
		// is not synced to it any more.
		cur, _, err := f.c.Resolve(mainRef)
		mustDo(t, err)
		mustDo(t, f.c.UpdateRefs(false, objstore.RefUpdate{Name: mainRef, Old: cur, New: first}))
		mustDo(t, os.WriteFile(filepath.Join(f.wt, "b"), []byte("b2\n"), 0o644))
		res := f.snap(t)
		if got := changePaths(res.Changes); strings.Join(got, ",") != "a,b" {
			t.Errorf("changes %v, want [a b]", got)
		}
		if n := f.srv.watch.notSynced.Load(); n != 1 {
			t.Errorf("%d snapshots fell back on ErrNotSynced, want 1", n)
		}
	})
	t.Run("failed snapshot keeps the changes", func(t *testing.T) {
		f := newWatchFixture(t, Options{}, map[string]string{"a": "a\n", "b": "b\n"})
		f.snap(t)
		mustDo(t, os.WriteFile(filepath.Join(f.wt, "a"), []byte("a2\n"), 0o644))
		if _, err := f.c.Snapshot(SnapshotRequest{Dir: f.wt, Ref: "refs/heads/bad..name"}); err == nil {
			t.Fatal("snapshot on a bad ref name succeeded")
		}
		if got := changePaths(f.snap(t).Changes); strings.Join(got, ",") != "a" {
			t.Errorf("changes after a failed snapshot %v, want [a]", got)
		}
		if p, _ := f.kinds(); p != 2 {
			t.Errorf("%d partial snapshots, want 2", p)
		}
	})
	t.Run("too many directories", func(t *testing.T) {
		f := newWatchFixture(t, Options{Watch: WatchOptions{MaxDirs: 3}}, map[string]string{"a/x": "1", "b/x": "1", "c/x": "1"})
		f.snap(t)
		writeTree(t, f.wt, map[string]string{"b/x": "2"})
		res := f.snap(t)
		if trees, dirs := f.srv.watch.counts(); trees != 0 || dirs != 0 || res.Scanned != 3 {
			t.Errorf("tree over the budget: %d trees, %d dirs watched, scanned %d; want 0, 0, 3", trees, dirs, res.Scanned)
		}
	})
	t.Run("idle", func(t *testing.T) {
		f := newWatchFixture(t, Options{IdleTimeout: time.Hour}, map[string]string{"a": "a\n"})
		clock := time.Now()
		var mu sync.Mutex
		// Set under the set's lock, which the server takes before it reads
		// it (a request over the socket is no happens-before edge).
		f.srv.watch.mu.Lock()
		f.srv.watch.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
		f.srv.watch.mu.Unlock()
		f.snap(t)
		mu.Lock()
		clock = clock.Add(2 * time.Hour)
		mu.Unlock()
		f.srv.watch.evictIdle()
		if trees, dirs := f.srv.watch.counts(); trees != 0 || dirs != 0 {
			t.Errorf("after the idle timeout: %d trees, %d dirs watched; want none", trees, dirs)
		}
		writeTree(t, f.wt, map[string]string{"a": "unwatched edit\n"})
		_, full0 := f.kinds()
		if got := changePaths(f.snap(t).Changes); strings.Join(got, ",") != "a" {
			t.Errorf("changes %v, want [a]", got)
		}
		if _, full := f.kinds(); full != full0+1 {
			t.Errorf("the first snapshot after the idle drop was not a full scan")
		}
	})
	t.Run("max trees", func(t *testing.T) {
		f := newWatchFixture(t, Options{Watch: WatchOptions{MaxTrees: 1}}, map[string]string{"a": "a\n"})
		other := t.TempDir()
		writeTree(t, other, map[string]string{"o": "o\n"})
		f.snap(t)
		_, err := f.c.Snapshot(SnapshotRequest{Dir: other, Ref: "refs/heads/other"})
		mustDo(t, err)
		if trees, _ := f.srv.watch.counts(); trees != 1 || f.srv.watch.lookup(f.wt) != nil {
			t.Errorf("%d trees watched; want only the most recent one", trees)
		}
	})
}

// TestWatchConcurrentEdits edits the worktree while snapshots run: edits
// during a snapshot must land in the next one.
func TestWatchConcurrentEdits(t *testing.T) {
	files := map[string]string{}
	for i := range 20 {
		files[fmt.Sprintf("d%d/f%d", i%4, i)] = "0\n"
	}
	f := newWatchFixture(t, Options{}, files)
	f.snap(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := filepath.Join(f.wt, fmt.Sprintf("d%d/f%d", i%4, (i*7+w)%20))
				os.WriteFile(p, fmt.Appendf(nil, "%d %d\n", w, i), 0o644)
				if i%5 == 0 {
					os.MkdirAll(filepath.Join(f.wt, fmt.Sprintf("n%d/%d", w, i%3)), 0o777)
					os.WriteFile(filepath.Join(f.wt, fmt.Sprintf("n%d/%d/g", w, i%3)), fmt.Appendf(nil, "%d\n", i), 0o644)
				}
			}
		})
	}
	for range 30 {
		if _, err := f.c.Snapshot(SnapshotRequest{Dir: f.wt, Ref: mainRef}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	f.snap(t)
	if p, _ := f.kinds(); p < 25 {
		t.Errorf("only %d of 31 snapshots were limited to the watcher's paths", p)
	}
}

// TestWatchRandomized applies random edits and checks after each round
// that the watched snapshot equals a full scan.
func TestWatchRandomized(t *testing.T) {
	seed := *watchSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -watch.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	f := newWatchFixture(t, Options{}, map[string]string{"a": "a\n"})
	f.snap(t)
	rounds := 60
	if testing.Short() {
		rounds = 15
	}
	for round := range rounds {
		for range 1 + rng.IntN(8) {
			randomEdit(t, rng, f.wt)
		}
		f.snap(t)
		if t.Failed() {
			t.Fatalf("round %d (seed %d)", round, seed)
		}
	}
	// Only the first snapshot is a full scan, unless the watcher met what
	// it cannot follow (a directory's inode reused while the removal of
	// the last one is still queued, say) and restarted: rare, about one
	// run in a hundred under load.
	p, full := f.kinds()
	t.Logf("%d partial and %d full snapshots", p, full)
	if p+full != int64(rounds+1) || full > 3 {
		t.Errorf("%d partial and %d full snapshots, want %d in all, at most 3 full", p, full, rounds+1)
	}
}

// randomEdit makes one random change under root: write, append, create
// (in new directories too), delete, rename a file or a directory, remove
// a directory, chmod, symlink, a file replaced by a directory or back.
func randomEdit(t *testing.T, rng *rand.Rand, root string) {
	t.Helper()
	var files, dirs []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == root {
			return nil
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		} else {
			files = append(files, p)
		}
		return nil
	})
	pick := func(s []string) string {
		if len(s) == 0 {
			return ""
		}
		return s[rng.IntN(len(s))]
	}
	anyDir := func() string {
		if d := pick(dirs); d != "" && rng.IntN(3) > 0 {
			return d
		}
		return root
	}
	name := func() string { return fmt.Sprintf("n%d", rng.IntN(40)) }
	content := func() []byte { return fmt.Appendf(nil, "%d\n", rng.Int()) }
	f, d := pick(files), pick(dirs)
	switch op := rng.IntN(11); {
	case op == 0 && f != "":
		os.WriteFile(f, content(), 0o644)
	case op == 1 && f != "":
		if fh, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			fh.Write(content())
			fh.Close()
		}
	case op == 2 && f != "":
		os.Remove(f)
	case op == 3 && f != "":
		os.Rename(f, filepath.Join(anyDir(), name()))
	case op == 4 && d != "":
		dst := filepath.Join(anyDir(), name())
		if !strings.HasPrefix(dst, d+"/") {
			os.Rename(d, dst)
		}
	case op == 5 && d != "":
		os.RemoveAll(d)
	case op == 6 && f != "":
		os.Chmod(f, os.FileMode(0o644|rng.IntN(2)*0o111))
	case op == 7:
		os.Symlink(name(), filepath.Join(anyDir(), name()))
	case op == 8 && f != "":
		if os.Remove(f) == nil && os.Mkdir(f, 0o777) == nil {
			os.WriteFile(filepath.Join(f, name()), content(), 0o644)
		}
	case op == 9 && d != "":
		if os.RemoveAll(d) == nil {
			os.WriteFile(d, content(), 0o644)
		}
	default:
		p := filepath.Join(anyDir(), name())
		for range rng.IntN(3) {
			p = filepath.Join(p, name())
		}
		os.MkdirAll(filepath.Dir(p), 0o777)
		os.WriteFile(p, content(), 0o644)
	}
}
