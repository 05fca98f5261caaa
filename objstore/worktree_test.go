package objstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/helios-vcs/helios/objstore"
	"golang.org/x/sys/unix"
)

// readDir returns every file under dir as path → content ("-> target" for
// symlinks, "+x " prefix for executables), skipping .git.
func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if info.IsDir() {
			if info.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		rel = filepath.ToSlash(rel)
		if info.Mode()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			out[rel] = "-> " + target
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o100 != 0 {
			out[rel] = "+x " + string(b)
		} else {
			out[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if c == "" {
			os.Remove(full)
			continue
		}
		os.MkdirAll(filepath.Dir(full), 0o777)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// age sets a file's mtime into the past, so it is not racy (as files are
// after any real pause between edits).
func age(t *testing.T, dir string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	ts := []unix.Timespec{unix.NsecToTimespec(old.UnixNano()), unix.NsecToTimespec(old.UnixNano())}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil {
			unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
		}
		return nil
	})
}

func TestSnapshotCheckoutRoundTrip(t *testing.T) {
	engines(t, func(t *testing.T, ns func(t *testing.T) *objstore.Store) {
		s := ns(t)
		wt := t.TempDir()
		writeFiles(t, wt, map[string]string{"a.txt": "A\n", "src/main.go": "package main\n", "src/lib/x.go": "package lib\n", "dir with space/ü.txt": "unicode\n"})
		os.Symlink("../a.txt", filepath.Join(wt, "src/link"))
		os.WriteFile(filepath.Join(wt, "run.sh"), []byte("#!/bin/sh\n"), 0o755)
		os.MkdirAll(filepath.Join(wt, ".git/objects"), 0o777)
		os.WriteFile(filepath.Join(wt, ".git/HEAD"), []byte("ignored"), 0o644)
		age(t, wt)

		r1, err := s.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/main", Message: "import"})
		if err != nil {
			t.Fatal(err)
		}
		if !r1.Changed || r1.Scanned != 6 || r1.Read != 6 || len(r1.Changes) != 6 {
			t.Fatalf("first snapshot: %+v", r1)
		}
		// Nothing changed: no state, nothing read.
		r2, err := s.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/main"})
		if err != nil || r2.Changed || r2.Read != 0 || r2.State != r1.State {
			t.Fatalf("idle snapshot: %+v, %v", r2, err)
		}
		// Edit one file, delete one, add one: only the edited/new are read.
		writeFiles(t, wt, map[string]string{"src/main.go": "package main // edited\n", "a.txt": "", "new.txt": "new\n"})
		os.Remove(filepath.Join(wt, "src/link"))
		r3, err := s.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/main", Message: "edit"})
		if err != nil {
			t.Fatal(err)
		}
		if r3.Read != 2 || len(r3.Changes) != 4 || r3.Parent != r1.State {
			t.Fatalf("edit snapshot read %d files, changes %v", r3.Read, r3.Changes)
		}
		// Materialize each state elsewhere: identical to what was recorded.
		want1 := map[string]string{"a.txt": "A\n", "src/main.go": "package main\n", "src/lib/x.go": "package lib\n", "dir with space/ü.txt": "unicode\n", "src/link": "-> ../a.txt", "run.sh": "+x #!/bin/sh\n"}
		out := filepath.Join(t.TempDir(), "out")
		if _, err := s.Materialize(r1.State, out); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want1, readDir(t, out)); diff != "" {
			t.Errorf("materialized state 1 (-want +got):\n%s", diff)
		}
		if _, err := s.Materialize(r1.State, out); err == nil {
			t.Error("materialize into a non-empty dir succeeded")
		}
		// Switch out to state 3 writing only the difference, and back.
		ms, err := s.Checkout(out, r3.State, objstore.CheckoutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ms.Files != 2 || ms.Deleted != 2 {
			t.Errorf("switch wrote %d files, deleted %d; want 2, 2", ms.Files, ms.Deleted)
		}
		if diff := cmp.Diff(readDir(t, wt), readDir(t, out)); diff != "" {
			t.Errorf("after switch (-want +got):\n%s", diff)
		}
		if _, err := s.Checkout(out, r1.State, objstore.CheckoutOptions{}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want1, readDir(t, out)); diff != "" {
			t.Errorf("switch back (-want +got):\n%s", diff)
		}
		if got, _ := s.WorktreeState(out); got != r1.State {
			t.Errorf("worktree state = %v, want %v", got, r1.State)
		}
	})
}

func TestCheckoutRefusesLocalChanges(t *testing.T) {
	s := newStore(t, objstore.NewMemKV())
	a := commitFiles(t, s, objstore.ZeroID, "refs/heads/main", map[string]string{"f": "1", "g": "1"})
	b := commitFiles(t, s, a, "refs/heads/main", map[string]string{"f": "2"})
	wt := filepath.Join(t.TempDir(), "wt")
	if _, err := s.Checkout(wt, a, objstore.CheckoutOptions{}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(wt, "f"), []byte("my edit"), 0o644)
	if _, err := s.Checkout(wt, b, objstore.CheckoutOptions{}); !errors.Is(err, objstore.ErrLocalChanges) {
		t.Fatalf("got %v, want ErrLocalChanges", err)
	}
	if got, _ := os.ReadFile(filepath.Join(wt, "f")); string(got) != "my edit" {
		t.Fatal("local edit was overwritten")
	}
	// An edit to a file the switch does not touch is kept and allowed.
	os.WriteFile(filepath.Join(wt, "f"), []byte("1"), 0o644)
	os.WriteFile(filepath.Join(wt, "g"), []byte("mine"), 0o644)
	if _, err := s.Checkout(wt, b, objstore.CheckoutOptions{}); err != nil {
		t.Fatalf("switch with unrelated edit: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(wt, "g")); string(got) != "mine" {
		t.Error("unrelated local edit lost")
	}
	os.WriteFile(filepath.Join(wt, "f"), []byte("again"), 0o644)
	if _, err := s.Checkout(wt, a, objstore.CheckoutOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(wt, "f")); string(got) != "1" {
		t.Errorf("forced checkout left %q", got)
	}
}

func TestCheckoutNeverWritesOutside(t *testing.T) {
	s := newStore(t, objstore.NewMemKV())
	top := t.TempDir()
	outside := filepath.Join(top, "outside")
	os.MkdirAll(outside, 0o777)
	// State a has a directory "d"; b has d/f. A worktree at a where the user
	// (or an attacker) replaced d with a symlink to outside: switching to b
	// must not write through it.
	a := commitFiles(t, s, objstore.ZeroID, "refs/heads/main", map[string]string{"d/keep": "k"})
	b := commitFiles(t, s, a, "refs/heads/main", map[string]string{"d/f": "payload"})
	wt := filepath.Join(top, "wt")
	if _, err := s.Checkout(wt, a, objstore.CheckoutOptions{}); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(wt, "d"))
	os.Symlink(outside, filepath.Join(wt, "d"))
	_, err := s.Checkout(wt, b, objstore.CheckoutOptions{Force: true})
	if err == nil {
		t.Log("checkout succeeded; checking nothing escaped")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("checkout wrote %d entries outside the worktree", len(ents))
	}
	// A state with a symlink pointing out, then a file under the same name:
	// materialize creates the link but never follows it.
	d, _ := s.NewDraft(objstore.ZeroID)
	d.Put("esc", objstore.ModeSymlink, []byte(outside))
	c, _ := d.Commit(objstore.CommitOptions{})
	out := filepath.Join(top, "m")
	if _, err := s.Materialize(c, out); err != nil {
		t.Fatal(err)
	}
	if target, _ := os.Readlink(filepath.Join(out, "esc")); target != outside {
		t.Errorf("link target = %q", target)
	}
}

func TestSnapshotRacyFileIsReread(t *testing.T) {
	s := newStore(t, objstore.NewMemKV())
	wt := t.TempDir()
	f := filepath.Join(wt, "f")
	os.WriteFile(f, []byte("aaaa"), 0o644)
	if _, err := s.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/main"}); err != nil {
		t.Fatal(err)
	}
	// Same size, same mtime as recorded: only the racy flag saves us.
	info, _ := os.Stat(f)
	os.WriteFile(f, []byte("bbbb"), 0o644)
	os.Chtimes(f, info.ModTime(), info.ModTime())
	r, err := s.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/main"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Changed {
		t.Fatal("a same-size, same-mtime edit right after a snapshot was missed")
	}
	_, b, _ := s.ReadFile(r.State, "f")
	if string(b) != "bbbb" {
		t.Errorf("recorded %q", b)
	}
}

func TestSnapshotIgnoresAndSkips(t *testing.T) {
	s := newStore(t, objstore.NewMemKV())
	wt := t.TempDir()
	writeFiles(t, wt, map[string]string{"keep": "k", "build/out.o": "o", "tmp.log": "l"})
	r, err := s.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/main", Ignore: func(p string, dir bool) bool {
		return p == "build" || filepath.Ext(p) == ".log"
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Scanned != 1 {
		t.Errorf("scanned %d files, want 1", r.Scanned)
	}
	if _, err := s.Snapshot(wt, objstore.SnapshotOptions{Ref: "bad ref"}); !errors.Is(err, objstore.ErrBadRefName) {
		t.Errorf("bad ref: %v", err)
	}
	if _, err := s.Snapshot(filepath.Join(wt, "missing"), objstore.SnapshotOptions{Ref: "refs/heads/x"}); err == nil {
		t.Error("snapshot of a missing dir succeeded")
	}
}

// TestSnapshotPaths checks a snapshot limited to the paths a watcher
// reports against a full snapshot of the same directory.
func TestSnapshotPaths(t *testing.T) {
	s := newStore(t, objstore.NewMemKV())
	wt := t.TempDir()
	writeFiles(t, wt, map[string]string{"a.txt": "a", "src/x.go": "x", "src/y.go": "y", "docs/r.md": "r", "keep": "k"})
	age(t, wt)
	if _, err := s.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/main", Paths: []string{"a.txt"}}); !errors.Is(err, objstore.ErrNotSynced) {
		t.Fatalf("partial snapshot of a never-synced dir: %v, want ErrNotSynced", err)
	}
	if _, err := s.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/main"}); err != nil {
		t.Fatal(err)
	}
	// Edit a file, add a directory, delete a directory, turn a file into a
	// directory; an unreported edit (keep) must not be picked up.
	writeFiles(t, wt, map[string]string{"a.txt": "a2", "new/n1": "n1", "new/sub/n2": "n2", "keep": "unreported"})
	os.RemoveAll(filepath.Join(wt, "docs"))
	os.Remove(filepath.Join(wt, "src/y.go"))
	writeFiles(t, wt, map[string]string{"src/y.go/inner": "now a dir"})
	r, err := s.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/main",
		Paths: []string{"a.txt", "new", "new/sub/n2", "docs", "./src/y.go/", "missing/never"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range r.Changes {
		got[c.Path] = c.Op.String()
	}
	want := map[string]string{"a.txt": "modified", "new/n1": "added", "new/sub/n2": "added", "docs/r.md": "deleted", "src/y.go": "deleted", "src/y.go/inner": "added"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("partial snapshot changes (-want +got):\n%s", diff)
	}
	if r.Scanned != 4 {
		t.Errorf("partial snapshot scanned %d files, want 4", r.Scanned)
	}
	// A full snapshot now finds exactly the unreported edit.
	full, err := s.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/main"})
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Changes) != 1 || full.Changes[0].Path != "keep" {
		t.Errorf("full snapshot after partial: %v", full.Changes)
	}
	if _, err := s.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/main", Paths: []string{"../etc"}}); !errors.Is(err, objstore.ErrBadPath) {
		t.Errorf("partial snapshot of ../etc: %v", err)
	}
	// "." means everything.
	if r, err := s.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/main", Paths: []string{"."}}); err != nil || r.Changed {
		t.Errorf("snapshot of '.' after a full one: %+v %v", r, err)
	}
}

func TestSnapshotFileBecomesDirectory(t *testing.T) {
	s := newStore(t, objstore.NewMemKV())
	wt := t.TempDir()
	writeFiles(t, wt, map[string]string{"x": "file", "d/f": "f"})
	if _, err := s.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/main"}); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(wt, "x"))
	os.RemoveAll(filepath.Join(wt, "d"))
	writeFiles(t, wt, map[string]string{"x/inner": "dir now", "d": "file now"})
	r, err := s.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/main"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"x/inner": "dir now", "d": "file now"}
	if diff := cmp.Diff(want, readAll(t, s, r.State)); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
}
