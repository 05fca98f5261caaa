package helper_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/fakeremote"
	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/helper/gitrepo"
)

// TestMain doubles as git-remote-helios: the e2e tests put a script named
// git-remote-helios on PATH that re-executes this binary with
// HELIOS_TEST_HELPER=1, wired to a directory-backed fakeremote.
func TestMain(m *testing.M) {
	if os.Getenv("HELIOS_TEST_HELPER") == "1" {
		open := func(url string) (helper.Remote, error) {
			r, err := fakeremote.Open(url)
			if err != nil || os.Getenv("HELIOS_TEST_REMOTE_CHECKS") != "1" {
				return r, err
			}
			return checkingRemote{r}, nil
		}
		os.Exit(helper.Main(context.Background(), os.Args[1:], os.Getenv("GIT_DIR"), os.Stdin, os.Stdout, os.Stderr, open))
	}
	os.Exit(m.Run())
}

// checkingRemote says it checks pushed objects itself (as helios serve
// does), so the helper leaves them unchecked; this fake checks nothing.
type checkingRemote struct{ helper.Remote }

func (checkingRemote) ChecksPushedObjects() bool { return true }

// gitEnv is a deterministic, isolated git environment.
func gitEnv(home string) []string {
	env := []string{
		"GIT_AUTHOR_NAME=A U Thor", "GIT_AUTHOR_EMAIL=author@example.com", "GIT_AUTHOR_DATE=1700000000 +0000",
		"GIT_COMMITTER_NAME=C O Mitter", "GIT_COMMITTER_EMAIL=committer@example.com", "GIT_COMMITTER_DATE=1700000000 +0000",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + filepath.Join(home, ".gitconfig"), "HOME=" + home,
		"LC_ALL=C", "GIT_TERMINAL_PROMPT=0",
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GIT_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "LC_ALL=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// runGit runs git in dir and returns combined output and the error.
func runGit(t testing.TB, env []string, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustGit(t testing.TB, env []string, dir string, args ...string) string {
	t.Helper()
	out, err := runGit(t, env, dir, args...)
	if err != nil {
		t.Fatalf("git %v in %s: %v\n%s", args, dir, err, out)
	}
	return strings.TrimSpace(out)
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fixture is a local repository and a remote that has part of it:
//
//	A --- B   local main (remote main = A, tag v1 -> A annotated)
//	 \
//	  C       local side
type fixture struct {
	env    []string
	dir    string // work tree of the local repository
	gitDir string
	remote *fakeremote.Remote
	ids    map[string]string // $A, $B, $C, $V1 (tag object), $Z (null)
}

func newFixture(t testing.TB, kind string) *fixture {
	t.Helper()
	home := t.TempDir()
	env := gitEnv(home)
	dir := filepath.Join(home, "local")
	f := &fixture{env: env, dir: dir, gitDir: filepath.Join(dir, ".git"), remote: fakeremote.New(gitobj.SHA1),
		ids: map[string]string{"$Z": strings.Repeat("0", 40)}}
	mustGit(t, env, home, "init", "-q", "-b", "main", dir)
	writeFile(t, filepath.Join(dir, "a.txt"), "hello\n")
	mustGit(t, env, dir, "add", ".")
	mustGit(t, env, dir, "commit", "-q", "-m", "A")
	f.ids["$A"] = mustGit(t, env, dir, "rev-parse", "HEAD")
	mustGit(t, env, dir, "tag", "-a", "-m", "v1", "v1")
	f.ids["$V1"] = mustGit(t, env, dir, "rev-parse", "v1")
	if kind == "basic" || kind == "clone" {
		f.copyToRemote(t, []string{f.ids["$V1"]})
		f.remote.SetRef("refs/heads/main", gitobj.MustParseOID(f.ids["$A"]))
		f.remote.SetRef("refs/tags/v1", gitobj.MustParseOID(f.ids["$V1"]))
		f.remote.SetHead("refs/heads/main")
	}
	writeFile(t, filepath.Join(dir, "b.txt"), "bee\n")
	mustGit(t, env, dir, "add", ".")
	mustGit(t, env, dir, "commit", "-q", "-m", "B")
	f.ids["$B"] = mustGit(t, env, dir, "rev-parse", "HEAD")
	mustGit(t, env, dir, "checkout", "-q", "-b", "side", f.ids["$A"])
	writeFile(t, filepath.Join(dir, "c.txt"), "sea\n")
	mustGit(t, env, dir, "add", ".")
	mustGit(t, env, dir, "commit", "-q", "-m", "C")
	f.ids["$C"] = mustGit(t, env, dir, "rev-parse", "HEAD")
	mustGit(t, env, dir, "checkout", "-q", "main")
	if kind == "clone" {
		// A fresh, empty repository fetching from the basic remote.
		fresh := filepath.Join(home, "fresh")
		mustGit(t, env, home, "init", "-q", "-b", "main", fresh)
		f.dir, f.gitDir = fresh, filepath.Join(fresh, ".git")
	}
	return f
}

// copyToRemote stores the closure of tips in the fake remote.
func (f *fixture) copyToRemote(t testing.TB, tips []string) {
	t.Helper()
	ctx := context.Background()
	r, err := gitrepo.Open(ctx, f.gitDir)
	if err != nil {
		t.Fatal(err)
	}
	var ids, tipIDs []gitobj.OID
	for _, s := range tips {
		tipIDs = append(tipIDs, gitobj.MustParseOID(s))
	}
	if err := r.ListObjects(ctx, tipIDs, nil, func(id gitobj.OID) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	cf, err := r.CatFile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	if err := cf.Stream(ctx, ids, func(o gitobj.Object) error {
		_, err := f.remote.AddObject(o.Type, o.Data)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) expand(s string) string {
	for k, v := range f.ids {
		s = strings.ReplaceAll(s, k, v)
	}
	return strings.ReplaceAll(s, "$GIT_DIR", f.gitDir)
}

func (f *fixture) unexpand(s string) string {
	s = strings.ReplaceAll(s, f.gitDir, "$GIT_DIR")
	for k, v := range f.ids {
		if k != "$Z" {
			s = strings.ReplaceAll(s, v, k)
		}
	}
	return s
}

func (f *fixture) String() string { return fmt.Sprintf("fixture(%s)", f.dir) }
