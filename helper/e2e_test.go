package helper_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/helper/fakeremote"
)

// e2e is a scratch area with git-remote-helios on PATH.
type e2e struct {
	t     *testing.T
	home  string
	env   []string
	store string
}

func newE2E(t *testing.T) *e2e {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	home := t.TempDir()
	bin := filepath.Join(home, "bin")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\nHELIOS_TEST_HELPER=1 exec %q \"$@\"\n", self)
	writeFile(t, filepath.Join(bin, "git-remote-helios"), script)
	if err := os.Chmod(filepath.Join(bin, "git-remote-helios"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := gitEnv(home)
	for i, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			env[i] = "PATH=" + bin + string(os.PathListSeparator) + strings.TrimPrefix(kv, "PATH=")
		}
	}
	return &e2e{t: t, home: home, env: env, store: filepath.Join(home, "store")}
}

func (e *e2e) git(dir string, args ...string) string {
	e.t.Helper()
	return mustGit(e.t, e.env, dir, args...)
}

func (e *e2e) gitFail(dir string, args ...string) string {
	e.t.Helper()
	out, err := runGit(e.t, e.env, dir, args...)
	if err == nil {
		e.t.Fatalf("git %v: want failure, got success:\n%s", args, out)
	}
	return out
}

func (e *e2e) storeRefs() map[string]string {
	e.t.Helper()
	r, err := fakeremote.Open(e.store)
	if err != nil {
		e.t.Fatal(err)
	}
	refs, err := r.Refs()
	if err != nil {
		e.t.Fatal(err)
	}
	out := make(map[string]string, len(refs))
	for k, v := range refs {
		out[k] = v.String()
	}
	return out
}

// checkClone asserts git's invariants on a repository that fetched from
// the store: fsck clean, no .keep left behind.
func (e *e2e) checkClone(dir string) {
	e.t.Helper()
	e.git(dir, "fsck", "--full", "--strict", "--no-dangling")
	keeps, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.keep"))
	tmps, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "tmp_*"))
	if len(keeps)+len(tmps) != 0 {
		e.t.Fatalf("left behind: %v %v", keeps, tmps)
	}
}

func TestE2EEmptyStore(t *testing.T) {
	e := newE2E(t)
	out := e.git(e.home, "clone", "helios::"+e.store, "empty")
	if !strings.Contains(out, "You appear to have cloned an empty repository") {
		t.Fatalf("got %q", out)
	}
	dir := filepath.Join(e.home, "empty")
	writeFile(t, filepath.Join(dir, "f"), "x\n")
	e.git(dir, "add", ".")
	e.git(dir, "commit", "-q", "-m", "first")
	e.git(dir, "push", "origin", "HEAD:refs/heads/main")
	e.git(e.home, "clone", "-q", "helios::"+e.store, "again")
	e.checkClone(filepath.Join(e.home, "again"))
	if got := e.git(filepath.Join(e.home, "again"), "log", "--format=%s"); got != "first" {
		t.Fatalf("got log %q, want first", got)
	}
}

func TestE2E(t *testing.T) {
	e := newE2E(t)
	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	// Paths with spaces and non-ASCII names, a symlink, an executable, a
	// gitlink, a nested directory.
	writeFile(t, filepath.Join(src, "with space.txt"), "space\n")
	writeFile(t, filepath.Join(src, "naïve-ü.txt"), "unicode\n")
	writeFile(t, filepath.Join(src, "dir", "sub", "deep.txt"), "deep\n")
	writeFile(t, filepath.Join(src, "run.sh"), "#!/bin/sh\necho hi\n")
	os.Chmod(filepath.Join(src, "run.sh"), 0o755)
	os.Symlink("with space.txt", filepath.Join(src, "link"))
	e.git(src, "add", ".")
	e.git(src, "update-index", "--add", "--cacheinfo", "160000,1111111111111111111111111111111111111111,vendor/lib")
	e.git(src, "commit", "-q", "-m", "one")
	writeFile(t, filepath.Join(src, "with space.txt"), "space 2\n")
	e.git(src, "add", "with space.txt")
	e.git(src, "commit", "-q", "-m", "two")
	e.git(src, "tag", "-a", "-m", "release 1", "v1")
	e.git(src, "tag", "light")
	e.git(src, "branch", "side", "HEAD~1")
	e.git(src, "remote", "add", "origin", "helios::"+e.store)

	t.Run("first push", func(t *testing.T) {
		out := e.git(src, "push", "origin", "main", "side", "--tags")
		for _, want := range []string{"* [new branch]      main -> main", "* [new tag]         v1 -> v1", "* [new tag]         light -> light"} {
			if !strings.Contains(out, want) {
				t.Errorf("push output lacks %q:\n%s", want, out)
			}
		}
		refs := e.storeRefs()
		if refs["refs/heads/main"] != e.git(src, "rev-parse", "main") || refs["refs/tags/v1"] != e.git(src, "rev-parse", "v1") {
			t.Fatalf("got store refs %v", refs)
		}
	})

	clone := filepath.Join(e.home, "clone")
	t.Run("clone", func(t *testing.T) {
		e.git(e.home, "clone", "-q", "helios::"+e.store, clone)
		e.checkClone(clone)
		if got, want := e.git(clone, "rev-list", "--objects", "--all"), e.git(src, "rev-list", "--objects", "--all"); got != want {
			t.Fatalf("objects differ:\n%s\nvs\n%s", got, want)
		}
		if got := e.git(clone, "symbolic-ref", "HEAD"); got != "refs/heads/main" {
			t.Fatalf("got HEAD %q", got)
		}
		if got := e.git(clone, "ls-tree", "-r", "HEAD"); !strings.Contains(got, "100755") || !strings.Contains(got, "120000") || !strings.Contains(got, "160000") {
			t.Fatalf("modes lost: %s", got)
		}
		ls := e.git(clone, "ls-remote", "origin")
		if !strings.Contains(ls, "refs/tags/v1^{}") || !strings.Contains(ls, "HEAD") {
			t.Fatalf("ls-remote: %s", ls)
		}
	})

	t.Run("fetch and auto-follow tags", func(t *testing.T) {
		writeFile(t, filepath.Join(src, "three.txt"), "3\n")
		e.git(src, "add", ".")
		e.git(src, "commit", "-q", "-m", "three")
		e.git(src, "tag", "-a", "-m", "release 2", "v2")
		e.git(src, "push", "-q", "origin", "main")
		e.git(src, "push", "-q", "origin", "v2")
		e.git(clone, "fetch", "-q", "origin")
		e.checkClone(clone)
		if got, want := e.git(clone, "rev-parse", "origin/main"), e.git(src, "rev-parse", "main"); got != want {
			t.Fatalf("origin/main %s, want %s", got, want)
		}
		if got := e.git(clone, "cat-file", "-t", "v2"); got != "tag" {
			t.Fatalf("annotated tag v2 not followed: %q", got)
		}
		e.git(clone, "merge", "-q", "--ff-only", "origin/main")
	})

	t.Run("non-fast-forward rejected, force accepted", func(t *testing.T) {
		e.git(clone, "commit", "-q", "--amend", "-m", "three amended")
		out := e.gitFail(clone, "push", "origin", "main")
		if !strings.Contains(out, "[rejected]") || !strings.Contains(out, "non-fast-forward") {
			t.Fatalf("got %s", out)
		}
		out = e.git(clone, "push", "--force", "origin", "main")
		if !strings.Contains(out, "(forced update)") {
			t.Fatalf("got %s", out)
		}
		if got, want := e.storeRefs()["refs/heads/main"], e.git(clone, "rev-parse", "main"); got != want {
			t.Fatalf("store main %s, want %s", got, want)
		}
	})

	t.Run("force-with-lease stale", func(t *testing.T) {
		// src's origin/main is behind the forced update.
		e.git(src, "commit", "-q", "--allow-empty", "-m", "four")
		out := e.gitFail(src, "push", "--force-with-lease", "origin", "main")
		if !strings.Contains(out, "stale info") {
			t.Fatalf("got %s", out)
		}
		e.git(src, "fetch", "-q", "origin")
		e.git(src, "push", "-q", "--force-with-lease=main:origin/main", "origin", "main")
		e.git(clone, "fetch", "-q", "origin")
		e.git(clone, "reset", "-q", "--hard", "origin/main")
	})

	t.Run("tags are not moved without force", func(t *testing.T) {
		e.git(src, "tag", "-f", "light", "HEAD")
		out := e.gitFail(src, "push", "origin", "light")
		if !strings.Contains(out, "already exists") {
			t.Fatalf("got %s", out)
		}
		e.git(src, "push", "-q", "--force", "origin", "light")
	})

	t.Run("push expression and delete", func(t *testing.T) {
		e.git(src, "push", "-q", "origin", "HEAD~1:refs/heads/x")
		if got, want := e.storeRefs()["refs/heads/x"], e.git(src, "rev-parse", "HEAD~1"); got != want {
			t.Fatalf("x = %s, want %s", got, want)
		}
		e.git(src, "push", "-q", "origin", "--delete", "x")
		if _, ok := e.storeRefs()["refs/heads/x"]; ok {
			t.Fatal("x not deleted")
		}
	})

	t.Run("dry-run changes nothing", func(t *testing.T) {
		before := e.storeRefs()
		out := e.git(src, "push", "--dry-run", "origin", "main:refs/heads/dry")
		if !strings.Contains(out, "[new branch]") {
			t.Fatalf("got %s", out)
		}
		if after := e.storeRefs(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("store changed by dry-run: %v", after)
		}
	})

	t.Run("atomic all or nothing", func(t *testing.T) {
		before := e.storeRefs()
		e.git(src, "branch", "-f", "side", "HEAD~1")
		e.git(src, "commit", "-q", "--allow-empty", "-m", "five")
		// side moved sideways is fine, but a non-ff of main fails the batch.
		e.git(src, "branch", "-f", "main2", "HEAD")
		out := e.gitFail(src, "push", "--atomic", "origin", "main2:refs/heads/new", "side:refs/heads/main")
		if !strings.Contains(out, "atomic push failed") && !strings.Contains(out, "non-fast-forward") {
			t.Fatalf("got %s", out)
		}
		if after := e.storeRefs(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("atomic push changed the store: %v", after)
		}
		e.git(src, "push", "-q", "--atomic", "origin", "main2:refs/heads/new", "main")
	})

	t.Run("mirror", func(t *testing.T) {
		mirror := filepath.Join(e.home, "mirror")
		e.git(e.home, "clone", "-q", "--mirror", "helios::"+e.store, mirror)
		e.git(mirror, "fsck", "--full", "--strict")
		e.git(mirror, "update-ref", "-d", "refs/heads/new")
		e.git(mirror, "push", "-q", "--mirror")
		if _, ok := e.storeRefs()["refs/heads/new"]; ok {
			t.Fatal("mirror push did not delete refs/heads/new")
		}
	})

	t.Run("hostile tree rejected with reason", func(t *testing.T) {
		blob := e.git(src, "rev-parse", "HEAD:three.txt")
		for _, c := range []struct{ entry, reason string }{
			{"100644 blob " + blob + "\t.GIT", "hasDotgit"},
			{"100644 blob " + blob + "\t.git.", "hasDotgit"},
			{"100664 blob " + blob + "\tgroup", "badFilemode"},
		} {
			cmd := exec.Command("git", "mktree")
			cmd.Dir, cmd.Env = src, e.env
			cmd.Stdin = strings.NewReader(c.entry + "\n")
			tree, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			commit := e.git(src, "commit-tree", "-m", "evil", strings.TrimSpace(string(tree)))
			out := e.gitFail(src, "push", "origin", commit+":refs/heads/evil")
			if !strings.Contains(out, "[remote rejected]") || !strings.Contains(out, c.reason) {
				t.Fatalf("%s: got %s", c.entry, out)
			}
		}
		// A .gitmodules blob with a command as its update strategy.
		cmd := exec.Command("git", "hash-object", "-w", "--stdin")
		cmd.Dir, cmd.Env = src, e.env
		cmd.Stdin = strings.NewReader("[submodule \"x\"]\n\tpath = x\n\tupdate = !touch pwned\n")
		mod, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command("git", "mktree")
		cmd.Dir, cmd.Env = src, e.env
		cmd.Stdin = strings.NewReader("100644 blob " + strings.TrimSpace(string(mod)) + "\t.gitmodules\n")
		tree, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		commit := e.git(src, "commit-tree", "-m", "evil", strings.TrimSpace(string(tree)))
		if out := e.gitFail(src, "push", "origin", commit+":refs/heads/evil"); !strings.Contains(out, "gitmodulesUpdate") {
			t.Fatalf("got %s", out)
		}
		if _, ok := e.storeRefs()["refs/heads/evil"]; ok {
			t.Fatal("evil ref landed")
		}
	})

	t.Run("fresh clone matches", func(t *testing.T) {
		final := filepath.Join(e.home, "final")
		e.git(e.home, "clone", "-q", "helios::"+e.store, final)
		e.checkClone(final)
		ls := e.git(final, "ls-remote", "origin")
		for name, id := range e.storeRefs() {
			if !strings.Contains(ls, id+"\t"+name) {
				t.Errorf("ls-remote lacks %s %s", id, name)
			}
		}
	})
}

// A malformed command from git is a clear error and a non-zero exit.
func TestE2EMalformedInput(t *testing.T) {
	e := newE2E(t)
	cmd := exec.Command(filepath.Join(e.home, "bin", "git-remote-helios"), "origin", e.store)
	cmd.Env = e.env
	cmd.Stdin = strings.NewReader("capabilities\nbogus\n")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `error: helper: unknown command "bogus"`) {
		t.Fatalf("got %v %q", err, out)
	}
}

// TestE2EChecksLeftToACheckingRemote: the helper checks what it pushes
// (git fsck --strict rules) unless the remote says it checks every object
// itself (helper.CheckingRemote, as helios serve does); then the objects
// are not checked twice, and this fake remote, which checks nothing, takes
// a tree the helper would have refused.
func TestE2EChecksLeftToACheckingRemote(t *testing.T) {
	e := newE2E(t)
	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	writeFile(t, filepath.Join(src, "f"), "x\n")
	e.git(src, "add", ".")
	e.git(src, "commit", "-q", "-m", "one")
	blob := e.git(src, "rev-parse", "HEAD:f")
	cmd := exec.Command("git", "mktree")
	cmd.Dir, cmd.Env = src, e.env
	cmd.Stdin = strings.NewReader("100644 blob " + blob + "\t.GIT\n")
	tree, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	commit := e.git(src, "commit-tree", "-m", "evil", strings.TrimSpace(string(tree)))
	e.git(src, "remote", "add", "origin", "helios::"+e.store)
	if out := e.gitFail(src, "push", "origin", commit+":refs/heads/evil"); !strings.Contains(out, "hasDotgit") {
		t.Fatalf("the helper let a .GIT tree through: %s", out)
	}
	e.env = append(e.env, "HELIOS_TEST_REMOTE_CHECKS=1")
	e.git(src, "push", "origin", commit+":refs/heads/evil")
	if got := e.storeRefs()["refs/heads/evil"]; got != commit {
		t.Fatalf("with a remote that checks for itself, evil is %q, want %s", got, commit)
	}
}
