package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/helper/gitobj"
)

func TestConfigFormat(t *testing.T) {
	for _, format := range []string{"sha1", "sha256"} {
		dir, r := newRepo(t, format)
		want, _ := gitobj.ParseFormat(format)
		if r.Format() != want {
			t.Errorf("%s: Open read %v", format, r.Format())
		}
		if f, ok := configFormat(filepath.Join(dir, ".git")); !ok || f != want {
			t.Errorf("%s: configFormat = %v %v", format, f, ok)
		}
		// A linked worktree's git directory names its common directory.
		wt := filepath.Join(t.TempDir(), "wt")
		gitIn(t, dir, "worktree", "add", "-q", wt)
		gd := gitIn(t, wt, "rev-parse", "--absolute-git-dir")
		if f, ok := configFormat(gd); !ok || f != want {
			t.Errorf("%s worktree %s: configFormat = %v %v", format, gd, f, ok)
		}
		r2, err := Open(context.Background(), gd)
		if err != nil || r2.Format() != want {
			t.Errorf("%s worktree: Open = %v %v", format, r2, err)
		}
	}
	// Files this reader does not fully understand are left to git.
	for name, text := range map[string]string{
		"quoted":              "[core]\n\tbare = false\n[extensions]\n\tobjectformat = \"sha256\"\n",
		"continued":           "[extensions]\n\tobjectformat = sha\\\n256\n",
		"key on header":       "[extensions] objectformat = sha256\n",
		"unknown value":       "[extensions]\n\tobjectformat = md5\n",
		"unclosed":            "[extensions\n",
		"continued elsewhere": "[core]\n\tx = a \\\n[extensions]\n",
	} {
		gd := t.TempDir()
		os.WriteFile(filepath.Join(gd, "config"), []byte(text), 0o644)
		if f, ok := configFormat(gd); ok {
			t.Errorf("%s: configFormat = %v, want it left to git", name, f)
		}
	}
	for text, want := range map[string]gitobj.Format{
		"[core]\n\tbare = true\n":                                         gitobj.SHA1,
		"[Extensions]\n\tObjectFormat = SHA256 ; comment\n":               gitobj.SHA256,
		"[extensions]\n# objectformat = sha256\n[core]\nobjectformat=x\n": gitobj.SHA1,
	} {
		gd := t.TempDir()
		os.WriteFile(filepath.Join(gd, "config"), []byte(text), 0o644)
		if f, ok := configFormat(gd); !ok || f != want {
			t.Errorf("%q: configFormat = %v %v, want %v", text, f, ok, want)
		}
	}
	t.Setenv("GIT_COMMON_DIR", t.TempDir())
	if _, ok := configFormat(t.TempDir()); ok {
		t.Error("with $GIT_COMMON_DIR set: want it left to git")
	}
}

func TestCatFileResolve(t *testing.T) {
	ctx := context.Background()
	dir, r := newRepo(t, "sha1")
	cat, err := r.CatFile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	for _, expr := range []string{"HEAD", "main", "refs/heads/main", "HEAD~1", "v1", "v1^{commit}", "HEAD:sub"} {
		id, typ, err := cat.Resolve(expr)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", expr, err)
		}
		if want := gitIn(t, dir, "rev-parse", "--verify", expr); id.String() != want {
			t.Errorf("Resolve(%q) = %s, rev-parse says %s", expr, id, want)
		}
		if wt := gitIn(t, dir, "cat-file", "-t", expr); typ.String() != wt {
			t.Errorf("Resolve(%q) type %v, want %s", expr, typ, wt)
		}
	}
	for _, bad := range []string{"", "-n", "nope", "HEAD x", "HEAD\tx", "a\x00b", "refs/heads/nope"} {
		if _, _, err := cat.Resolve(bad); !errors.Is(err, ErrBadRevision) {
			t.Errorf("Resolve(%q): got %v, want ErrBadRevision", bad, err)
		}
	}
	// The reader is still usable after refusals.
	if _, _, err := cat.Resolve("HEAD"); err != nil {
		t.Fatal(err)
	}
}

// TestAncestorWalk checks the in-process walk against git merge-base on a
// history with merges, and that it hands over to git when unsure.
func TestAncestorWalk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	gitIn(t, dir, "init", "-q", "-b", "main")
	commit := func(msg string) string {
		os.WriteFile(filepath.Join(dir, "f"), []byte(msg), 0o644)
		gitIn(t, dir, "add", "f")
		gitIn(t, dir, "commit", "-q", "-m", msg)
		return gitIn(t, dir, "rev-parse", "HEAD")
	}
	var ids []string
	for i := range 5 {
		ids = append(ids, commit(fmt.Sprint("main ", i)))
	}
	gitIn(t, dir, "checkout", "-q", "-b", "side", ids[1])
	side := commit("side")
	gitIn(t, dir, "checkout", "-q", "main")
	gitIn(t, dir, "merge", "-q", "--no-edit", "-s", "ours", "side")
	merge := gitIn(t, dir, "rev-parse", "HEAD")
	ids = append(ids, side, merge)
	r, cat := openWithReader(t, filepath.Join(dir, ".git"))
	for _, a := range ids {
		for _, b := range ids {
			ao, bo := gitobj.MustParseOID(a), gitobj.MustParseOID(b)
			want, err := r.IsAncestor(ctx, nil, ao, bo)
			if err != nil {
				t.Fatal(err)
			}
			found, sure, err := cat.WalkTo(ctx, ao, bo, walkLimit)
			if err != nil || !sure || found != want {
				t.Errorf("WalkTo(%.7s, %.7s) = %v %v %v, merge-base says %v", a, b, found, sure, err, want)
			}
			if got, err := r.IsAncestor(ctx, cat, ao, bo); err != nil || got != want {
				t.Errorf("IsAncestor(%.7s, %.7s) = %v %v, want %v", a, b, got, err, want)
			}
		}
	}
	// Past the limit the walk is unsure, and IsAncestor asks git.
	first, last := gitobj.MustParseOID(ids[0]), gitobj.MustParseOID(merge)
	if _, sure, err := cat.WalkTo(ctx, first, last, 2); sure || err != nil {
		t.Errorf("limit 2: sure %v err %v, want unsure", sure, err)
	}
	// A missing parent (a shallow history) makes it unsure too; and in a
	// shallow repository IsAncestor leaves it to git, which applies the
	// shallow boundary.
	shallow := t.TempDir()
	gitIn(t, shallow, "clone", "-q", "--depth", "2", "--no-local", "--branch", "main", "file://"+dir, "s")
	sr, scat := openWithReader(t, filepath.Join(shallow, "s", ".git"))
	tip := gitobj.MustParseOID(strings.TrimSpace(gitIn(t, filepath.Join(shallow, "s"), "rev-parse", "HEAD")))
	if _, sure, err := scat.WalkTo(ctx, first, tip, walkLimit); sure || err != nil {
		t.Errorf("shallow history: sure %v err %v, want unsure", sure, err)
	}
	if !sr.grafted() {
		t.Error("a shallow clone is not seen as grafted")
	}
	if ok, err := sr.IsAncestor(ctx, scat, first, tip); ok || err == nil {
		t.Errorf("shallow: IsAncestor of a commit beyond the boundary = %v %v, want git's error", ok, err)
	}
}

// openWithReader opens the repository at gitDir and a cat-file reader on it,
// closed when the test ends.
func openWithReader(t *testing.T, gitDir string) (*Repo, *CatFile) {
	t.Helper()
	r, err := Open(context.Background(), gitDir)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := r.CatFile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return r, cat
}
