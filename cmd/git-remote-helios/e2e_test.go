package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/helios-vcs/helios/cmd/internal/storedir"
	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/storeremote"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
	"github.com/helios-vcs/helios/objstore/server"
)

// TestMain doubles as git-remote-helios: the tests put a script of that
// name on PATH that re-executes this binary with HELIOS_TEST_HELPER=1.
// HELIOS_TEST_KILL_AFTER (a duration) makes the helper SIGKILL itself
// that long after it starts; HELIOS_TEST_PUSH_DELAY holds a push (and
// the store's write lock) that long before it starts.
func TestMain(m *testing.M) {
	if os.Getenv("HELIOS_TEST_HELPER") == "1" {
		if d, err := time.ParseDuration(os.Getenv("HELIOS_TEST_KILL_AFTER")); err == nil {
			time.AfterFunc(d, func() { syscall.Kill(os.Getpid(), syscall.SIGKILL) })
		}
		var wrap func(helper.Remote) helper.Remote
		if d, err := time.ParseDuration(os.Getenv("HELIOS_TEST_PUSH_DELAY")); err == nil {
			wrap = func(r helper.Remote) helper.Remote { return slowPush{r, d} }
		}
		os.Exit(runWith(context.Background(), os.Args[1:], os.Getenv("GIT_DIR"), os.Stdin, os.Stdout, os.Stderr, wrap))
	}
	code := m.Run()
	if heliosBin.dir != "" {
		os.RemoveAll(heliosBin.dir)
	}
	os.Exit(code)
}

// heliosBin is the helios executable the served-mode tests start servers
// with, built once per test binary.
var heliosBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func buildHelios(t testing.TB) string {
	t.Helper()
	heliosBin.once.Do(func() {
		heliosBin.dir, heliosBin.err = os.MkdirTemp("", "helios-bin-")
		if heliosBin.err != nil {
			return
		}
		heliosBin.path = filepath.Join(heliosBin.dir, "helios")
		out, err := exec.Command("go", "build", "-o", heliosBin.path, "github.com/helios-vcs/helios/cmd/helios").CombinedOutput()
		if err != nil {
			heliosBin.err = fmt.Errorf("go build cmd/helios: %v\n%s", err, out)
		}
	})
	if heliosBin.err != nil {
		t.Fatal(heliosBin.err)
	}
	return heliosBin.path
}

// eachMode runs fn on a store opened by the helper itself (HELIOS_NO_SERVER=1)
// and on one reached through helios serve, started on demand by the helper.
func eachMode(t *testing.T, fn func(t *testing.T, e *e2e)) {
	for _, served := range []bool{false, true} {
		name := "direct"
		if served {
			name = "served"
		}
		t.Run(name, func(t *testing.T) { fn(t, newE2EMode(t, served)) })
	}
}

type slowPush struct {
	helper.Remote
	d time.Duration
}

func (s slowPush) Push(ctx context.Context, u []helper.RefUpdate, o helper.PushOptions, p helper.PushObjects) ([]error, error) {
	time.Sleep(s.d)
	return s.Remote.Push(ctx, u, o, p)
}

// e2e is a scratch area with git-remote-helios on PATH and an empty store.
type e2e struct {
	t      *testing.T
	home   string
	env    []string
	store  string
	served bool // through helios serve (else HELIOS_NO_SERVER=1)
}

func newE2E(t *testing.T) *e2e { return newE2EMode(t, false) }

func newE2EMode(t *testing.T, served bool) *e2e {
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
	writeFile(t, filepath.Join(bin, "git-remote-helios"), fmt.Sprintf("#!/bin/sh\nHELIOS_TEST_HELPER=1 exec %q \"$@\"\n", self))
	if err := os.Chmod(filepath.Join(bin, "git-remote-helios"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"GIT_AUTHOR_NAME=A U Thor", "GIT_AUTHOR_EMAIL=author@example.com", "GIT_AUTHOR_DATE=1700000000 +0100",
		"GIT_COMMITTER_NAME=C O Mitter", "GIT_COMMITTER_EMAIL=committer@example.com", "GIT_COMMITTER_DATE=1700000000 +0100",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + filepath.Join(home, ".gitconfig"), "HOME=" + home,
		"LC_ALL=C", "GIT_TERMINAL_PROMPT=0",
	}
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "GIT_"), strings.HasPrefix(kv, "HOME="), strings.HasPrefix(kv, "LC_ALL="):
		case strings.HasPrefix(kv, "PATH="):
			env = append(env, "PATH="+bin+string(os.PathListSeparator)+strings.TrimPrefix(kv, "PATH="))
		default:
			env = append(env, kv)
		}
	}
	if served {
		if err := os.Symlink(buildHelios(t), filepath.Join(bin, "helios")); err != nil {
			t.Fatal(err)
		}
		env = append(env, "HELIOS_SERVE_IDLE_TIMEOUT=2m")
	} else {
		env = append(env, "HELIOS_NO_SERVER=1")
	}
	e := &e2e{t: t, home: home, env: env, store: filepath.Join(home, "store"), served: served}
	initStore(t, e.store)
	if served {
		t.Cleanup(func() {
			if _, err := os.Stat(filepath.Join(e.store, "serve.log")); err != nil {
				t.Errorf("served mode, but the helper never started a server: %v", err)
			}
			e.stopServer()
		})
	}
	return e
}

// stopServer stops the store's server, if one runs, so that the test can
// open the store for writing (and so that none outlives the test).
func (e *e2e) stopServer() {
	if !e.served {
		return
	}
	if err := storedir.StopServer(e.store, time.Minute); err != nil {
		e.t.Errorf("stop server: %v", err)
	}
}

func initStore(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	kv, err := rocksdb.Open(filepath.Join(dir, "db"), rocksdb.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := objstore.Init(kv, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
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

func (e *e2e) run(dir string, extraEnv []string, stdin string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(append([]string(nil), e.env...), extraEnv...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *e2e) git(dir string, args ...string) string {
	e.t.Helper()
	out, err := e.run(dir, nil, "", args...)
	if err != nil {
		e.t.Fatalf("git %v in %s: %v\n%s", args, dir, err, out)
	}
	return strings.TrimSpace(out)
}

func (e *e2e) gitIn(dir, stdin string, args ...string) string {
	e.t.Helper()
	out, err := e.run(dir, nil, stdin, args...)
	if err != nil {
		e.t.Fatalf("git %v in %s: %v\n%s", args, dir, err, out)
	}
	return strings.TrimSpace(out)
}

func (e *e2e) gitFail(dir string, args ...string) string {
	e.t.Helper()
	out, err := e.run(dir, nil, "", args...)
	if err == nil {
		e.t.Fatalf("git %v: want failure, got success:\n%s", args, out)
	}
	return out
}

// push pushes and then checks the store.
func (e *e2e) push(dir string, args ...string) string {
	e.t.Helper()
	out := e.git(dir, append([]string{"push"}, args...)...)
	e.fsck()
	return out
}

// openStore opens the store read-only, as a clone would. In served mode
// it first stops the server, after its requests in flight: a read-only
// instance opened beside a writer that is ingesting table files can read
// the MANIFEST before an ingestion and the log after the ref commit that
// follows it, and see a ref whose objects it does not see yet.
func (e *e2e) openStore() *objstore.Store {
	e.t.Helper()
	e.stopServer()
	s, err := openStore(e.store, false, os.Stderr)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// fsck asserts the store is clean.
func (e *e2e) fsck() {
	e.t.Helper()
	s := e.openStore()
	defer s.Close()
	rep, err := s.Fsck(context.Background(), false)
	if err != nil {
		e.t.Fatal(err)
	}
	if !rep.Clean() {
		e.t.Fatalf("store fsck: %v", rep.Problems)
	}
}

// storeRefs lists the store's refs as git sees them: name → hex id.
func (e *e2e) storeRefs() map[string]string {
	e.t.Helper()
	e.stopServer()
	r := storeremote.New(func(bool) (*objstore.Store, error) { return openStore(e.store, false, os.Stderr) })
	defer r.Close()
	refs, err := r.List(context.Background(), true)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, ref := range refs {
		if ref.Symref == "" {
			out[ref.Name] = ref.OID.String()
		}
	}
	return out
}

// checkClone asserts git's invariants on a repository that fetched from
// the store and that it has exactly src's objects.
func (e *e2e) checkClone(dir, src string) {
	e.t.Helper()
	e.git(dir, "fsck", "--full", "--strict", "--no-dangling")
	gitDir := e.git(dir, "rev-parse", "--absolute-git-dir")
	left, _ := filepath.Glob(filepath.Join(gitDir, "objects", "pack", "*.keep"))
	tmps, _ := filepath.Glob(filepath.Join(gitDir, "objects", "pack", "tmp_*"))
	if len(left)+len(tmps) != 0 {
		e.t.Fatalf("left behind: %v %v", left, tmps)
	}
	if src != "" {
		if got, want := e.git(dir, "rev-list", "--objects", "--all"), e.git(src, "rev-list", "--objects", "--all"); got != want {
			e.t.Fatalf("objects differ:\n%s\nvs\n%s", got, want)
		}
	}
}

func (e *e2e) commit(dir, msg string, files map[string]string) string {
	e.t.Helper()
	names := []string{"add", "--"}
	for name, content := range files {
		writeFile(e.t, filepath.Join(dir, name), content)
		names = append(names, name)
	}
	if len(files) > 0 {
		e.git(dir, names...)
	}
	e.git(dir, "commit", "-q", "--allow-empty", "-m", msg)
	return e.git(dir, "rev-parse", "HEAD")
}

func TestEmptyStoreCloneThenPush(t *testing.T) { eachMode(t, testEmptyStoreCloneThenPush) }

func testEmptyStoreCloneThenPush(t *testing.T, e *e2e) {
	if ls := e.git(e.home, "ls-remote", "helios::"+e.store); ls != "" {
		t.Fatalf("ls-remote of an empty store: %q", ls)
	}
	out := e.git(e.home, "clone", "helios::"+e.store, "empty")
	if !strings.Contains(out, "You appear to have cloned an empty repository") {
		t.Fatalf("got %q", out)
	}
	dir := filepath.Join(e.home, "empty")
	e.commit(dir, "first", map[string]string{"f": "x\n"})
	// A first branch that is not main becomes the store's HEAD.
	e.push(dir, "origin", "HEAD:refs/heads/trunk")
	again := filepath.Join(e.home, "again")
	e.git(e.home, "clone", "-q", "helios:///"+strings.TrimPrefix(e.store, "/"), again)
	e.checkClone(again, dir)
	if got := e.git(again, "symbolic-ref", "HEAD"); got != "refs/heads/trunk" {
		t.Fatalf("got HEAD %q, want refs/heads/trunk", got)
	}
	if got := e.git(again, "log", "--format=%s"); got != "first" {
		t.Fatalf("got log %q, want first", got)
	}
}

func TestNoStore(t *testing.T) {
	e := newE2E(t)
	out := e.gitFail(e.home, "clone", "helios::"+filepath.Join(e.home, "nowhere"), "x")
	if !strings.Contains(out, "no helios store at") || !strings.Contains(out, "helios init --store") {
		t.Fatalf("got %s", out)
	}
	for _, url := range []string{"helios://host/x", "helios::../x"} {
		if out := e.gitFail(e.home, "ls-remote", url); !strings.Contains(out, "error: helper: open") {
			t.Fatalf("%s: got %s", url, out)
		}
	}
}

// rawObject writes an object with exact bytes and returns its id.
func (e *e2e) rawObject(dir, typ, content string) string {
	e.t.Helper()
	return e.gitIn(dir, content, "hash-object", "-t", typ, "-w", "--stdin", "--literally")
}

func TestRoundTrip(t *testing.T) { eachMode(t, testRoundTrip) }

func testRoundTrip(t *testing.T, e *e2e) {
	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	writeFile(t, filepath.Join(src, "with space.txt"), "space\n")
	writeFile(t, filepath.Join(src, "naïve-ü/日本.txt"), "unicode\n")
	writeFile(t, filepath.Join(src, "dir", "sub", "deep.txt"), "deep\n")
	writeFile(t, filepath.Join(src, "run.sh"), "#!/bin/sh\necho hi\n")
	os.Chmod(filepath.Join(src, "run.sh"), 0o755)
	os.Symlink("with space.txt", filepath.Join(src, "link"))
	e.git(src, "add", ".")
	e.git(src, "update-index", "--add", "--cacheinfo", "160000,1111111111111111111111111111111111111111,vendor/lib")
	e.git(src, "commit", "-q", "-m", "one")
	e.commit(src, "two", map[string]string{"with space.txt": "space 2\n"})
	e.commit(src, "three", map[string]string{"3.txt": "3\n"})
	e.git(src, "tag", "-a", "-m", "release 1", "v1", "HEAD~1")
	e.git(src, "tag", "light")
	e.git(src, "branch", "side", "HEAD~2")
	// A commit with headers the state cannot hold (encoding, a signature)
	// and an odd time zone, a tag of a tree and a lightweight tag of a
	// blob: all must come back byte for byte.
	tree := e.git(src, "rev-parse", "HEAD^{tree}")
	head := e.git(src, "rev-parse", "HEAD")
	odd := e.rawObject(src, "commit", "tree "+tree+"\nparent "+head+
		"\nauthor Ünïcode <u@example.com> 1700000000 -0000\ncommitter C <c@example.com> 1700000001 +1345\nencoding ISO-8859-1\n"+
		"gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n\nodd\x01 message without newline")
	e.git(src, "update-ref", "refs/heads/odd", odd)
	treeTag := e.rawObject(src, "tag", "object "+tree+"\ntype tree\ntag treetag\ntagger T <t@example.com> 1700000000 +0000\n\ntag of a tree\n")
	e.git(src, "update-ref", "refs/tags/treetag", treeTag)
	e.git(src, "update-ref", "refs/tags/blobtag", e.git(src, "rev-parse", "HEAD:3.txt"))
	e.git(src, "remote", "add", "origin", "helios::"+e.store)

	t.Run("first push", func(t *testing.T) {
		out := e.push(src, "origin", "main", "side", "odd", "--tags")
		for _, want := range []string{"* [new branch]      main -> main", "* [new tag]         v1 -> v1", "* [new tag]         light -> light", "* [new tag]         treetag -> treetag"} {
			if !strings.Contains(out, want) {
				t.Errorf("push output lacks %q:\n%s", want, out)
			}
		}
		refs := e.storeRefs()
		for _, name := range []string{"refs/heads/main", "refs/heads/odd", "refs/tags/v1", "refs/tags/treetag", "refs/tags/blobtag"} {
			if got, want := refs[name], e.git(src, "rev-parse", name); got != want {
				t.Errorf("store %s = %s, want %s", name, got, want)
			}
		}
	})

	clone := filepath.Join(e.home, "clone")
	t.Run("clone", func(t *testing.T) {
		e.git(e.home, "clone", "-q", "helios::"+e.store, clone)
		e.checkClone(clone, src)
		if got := e.git(clone, "symbolic-ref", "HEAD"); got != "refs/heads/main" {
			t.Fatalf("got HEAD %q", got)
		}
		ls := e.git(clone, "ls-tree", "-r", "HEAD")
		for _, want := range []string{"100755 blob", "120000 blob", "160000 commit 1111111111111111111111111111111111111111\tvendor/lib", "with space.txt"} {
			if !strings.Contains(ls, want) {
				t.Fatalf("ls-tree lacks %q:\n%s", want, ls)
			}
		}
		if got := e.git(clone, "cat-file", "commit", "origin/odd"); !strings.Contains(got, "gpgsig") || !strings.Contains(got, "+1345") {
			t.Fatalf("odd commit changed: %s", got)
		}
		remote := e.git(clone, "ls-remote", "origin")
		local := e.git(src, "show-ref", "-d", "--tags")
		for _, line := range strings.Split(local, "\n") {
			f := strings.Fields(line)
			if !strings.Contains(remote, f[0]+"\t"+f[1]) {
				t.Errorf("ls-remote lacks %s:\n%s", line, remote)
			}
		}
	})

	t.Run("fetch incremental and auto-follow tags", func(t *testing.T) {
		e.commit(src, "four", map[string]string{"dir/sub/deep.txt": "deeper\n"})
		e.git(src, "tag", "-a", "-m", "release 2", "v2")
		e.push(src, "-q", "origin", "main")
		e.push(src, "-q", "origin", "v2")
		before, _ := filepath.Glob(filepath.Join(clone, ".git", "objects", "pack", "*.idx"))
		out := e.git(clone, "fetch", "origin")
		if !strings.Contains(out, "main       -> origin/main") {
			t.Fatalf("fetch: %s", out)
		}
		e.checkClone(clone, "")
		if got, want := e.git(clone, "rev-parse", "origin/main"), e.git(src, "rev-parse", "main"); got != want {
			t.Fatalf("origin/main %s, want %s", got, want)
		}
		if got := e.git(clone, "cat-file", "-t", "v2"); got != "tag" {
			t.Fatalf("annotated tag v2 not followed: %q", got)
		}
		// The new objects came in one pack.
		after, _ := filepath.Glob(filepath.Join(clone, ".git", "objects", "pack", "*.idx"))
		if len(after) != len(before)+1 {
			t.Fatalf("got packs %v after the fetch, %v before: want one more", after, before)
		}
		var added string
		for _, p := range after {
			if !slices.Contains(before, p) {
				added = p
			}
		}
		idx, err := os.ReadFile(added)
		if err != nil {
			t.Fatal(err)
		}
		index := e.gitIn(clone, string(idx), "show-index")
		for _, want := range []string{e.git(src, "rev-parse", "main"), e.git(src, "rev-parse", "v2")} {
			if !strings.Contains(index, want) {
				t.Fatalf("the fetched pack lacks %s:\n%s", want, index)
			}
		}
		e.git(clone, "merge", "-q", "--ff-only", "origin/main")
	})

	t.Run("non-fast-forward rejected, force accepted", func(t *testing.T) {
		e.git(clone, "commit", "-q", "--amend", "-m", "four amended")
		out := e.gitFail(clone, "push", "origin", "main")
		if !strings.Contains(out, "[rejected]") || !strings.Contains(out, "non-fast-forward") {
			t.Fatalf("got %s", out)
		}
		out = e.push(clone, "--force", "origin", "main")
		if !strings.Contains(out, "(forced update)") {
			t.Fatalf("got %s", out)
		}
		if got, want := e.storeRefs()["refs/heads/main"], e.git(clone, "rev-parse", "main"); got != want {
			t.Fatalf("store main %s, want %s", got, want)
		}
	})

	t.Run("force-with-lease", func(t *testing.T) {
		e.commit(src, "five", nil)
		out := e.gitFail(src, "push", "--force-with-lease", "origin", "main")
		if !strings.Contains(out, "stale info") {
			t.Fatalf("got %s", out)
		}
		e.git(src, "fetch", "-q", "origin")
		e.push(src, "-q", "--force-with-lease=main:origin/main", "origin", "main")
		e.git(clone, "fetch", "-q", "origin")
		e.git(clone, "reset", "-q", "--hard", "origin/main")
	})

	t.Run("tags are not moved without force", func(t *testing.T) {
		e.git(src, "tag", "-f", "light", "HEAD")
		out := e.gitFail(src, "push", "origin", "light")
		if !strings.Contains(out, "already exists") {
			t.Fatalf("got %s", out)
		}
		e.push(src, "-q", "--force", "origin", "light")
		if got, want := e.storeRefs()["refs/tags/light"], e.git(src, "rev-parse", "HEAD"); got != want {
			t.Fatalf("light = %s, want %s", got, want)
		}
	})

	t.Run("push expression and delete", func(t *testing.T) {
		e.push(src, "-q", "origin", "HEAD~2:refs/heads/x")
		if got, want := e.storeRefs()["refs/heads/x"], e.git(src, "rev-parse", "HEAD~2"); got != want {
			t.Fatalf("x = %s, want %s", got, want)
		}
		e.push(src, "-q", "origin", "--delete", "x")
		if _, ok := e.storeRefs()["refs/heads/x"]; ok {
			t.Fatal("x not deleted")
		}
		// Deleting a ref that is not there is not an error, like receive-pack.
		e.push(src, "-q", "origin", ":refs/heads/never")
	})

	t.Run("dry-run changes nothing", func(t *testing.T) {
		before := e.storeRefs()
		out := e.git(src, "push", "--dry-run", "origin", "main:refs/heads/dry", ":refs/heads/side")
		if !strings.Contains(out, "[new branch]") || !strings.Contains(out, "[deleted]") {
			t.Fatalf("got %s", out)
		}
		if after := e.storeRefs(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("store changed by dry-run: %v", after)
		}
	})

	t.Run("atomic all or nothing", func(t *testing.T) {
		before := e.storeRefs()
		e.commit(src, "six", nil)
		out := e.gitFail(src, "push", "--atomic", "origin", "main:refs/heads/new", "side:refs/heads/main")
		if !strings.Contains(out, "atomic push failed") && !strings.Contains(out, "non-fast-forward") {
			t.Fatalf("got %s", out)
		}
		if after := e.storeRefs(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("atomic push changed the store: %v", after)
		}
		e.push(src, "-q", "--atomic", "origin", "main:refs/heads/new", "main")
		refs := e.storeRefs()
		if refs["refs/heads/new"] != refs["refs/heads/main"] || refs["refs/heads/main"] != e.git(src, "rev-parse", "main") {
			t.Fatalf("atomic push: %v", refs)
		}
	})

	t.Run("mirror", func(t *testing.T) {
		mirror := filepath.Join(e.home, "mirror.git")
		e.git(e.home, "clone", "-q", "--mirror", "helios::"+e.store, mirror)
		e.checkClone(mirror, "")
		e.git(mirror, "update-ref", "-d", "refs/heads/new")
		e.git(mirror, "update-ref", "refs/heads/made-in-mirror", "refs/heads/side")
		e.push(mirror, "-q", "--mirror")
		refs := e.storeRefs()
		if _, ok := refs["refs/heads/new"]; ok {
			t.Fatal("mirror push did not delete refs/heads/new")
		}
		if refs["refs/heads/made-in-mirror"] != refs["refs/heads/side"] {
			t.Fatalf("mirror push: %v", refs)
		}
		// A mirror push into a second, empty store gives the same refs.
		other := filepath.Join(e.home, "store2")
		initStore(t, other)
		e.git(mirror, "push", "-q", "--mirror", "helios::"+other)
		back := filepath.Join(e.home, "back.git")
		e.git(e.home, "clone", "-q", "--mirror", "helios::"+other, back)
		e.checkClone(back, mirror)
		if a, b := e.git(back, "show-ref"), e.git(mirror, "show-ref"); a != b {
			t.Fatalf("refs differ:\n%s\nvs\n%s", a, b)
		}
	})

	t.Run("hostile trees rejected with the reason", func(t *testing.T) {
		blob := e.git(src, "rev-parse", "HEAD:3.txt")
		for _, c := range []struct{ entries, reason string }{
			{"100644 blob " + blob + "\t.GIT\n", "hasDotgit"},
			{"100644 blob " + blob + "\t.git.\n", "hasDotgit"},
			{"100664 blob " + blob + "\tgroup\n", "badFilemode"},
		} {
			tree := e.gitIn(src, c.entries, "mktree")
			commit := e.git(src, "commit-tree", "-m", "evil", tree)
			out := e.gitFail(src, "push", "origin", commit+":refs/heads/evil")
			if !strings.Contains(out, "[remote rejected]") || !strings.Contains(out, c.reason) {
				t.Fatalf("%s: got %s", c.entries, out)
			}
		}
		// Trees git's own mktree refuses to write: "..", a '/' in a name,
		// duplicate entries.
		raw, _ := hex.DecodeString(blob)
		for _, c := range []struct{ name, reason string }{{"..", "hasDotdot"}, {"a/b", "fullPathname"}, {"dup", "duplicateEntries"}} {
			var tr bytes.Buffer
			n := 1
			if c.name == "dup" {
				n = 2
			}
			for i := 0; i < n; i++ {
				tr.WriteString("100644 " + c.name + "\x00")
				tr.Write(raw)
			}
			tree := e.gitIn(src, tr.String(), "hash-object", "-t", "tree", "-w", "--stdin", "--literally")
			commit := e.git(src, "commit-tree", "-m", "evil", tree)
			out := e.gitFail(src, "push", "origin", commit+":refs/heads/evil")
			if !strings.Contains(out, c.reason) {
				t.Fatalf("%s: got %s", c.name, out)
			}
		}
		if _, ok := e.storeRefs()["refs/heads/evil"]; ok {
			t.Fatal("evil ref landed")
		}
		e.fsck()
	})

	t.Run("fresh clone matches", func(t *testing.T) {
		final := filepath.Join(e.home, "final")
		e.git(e.home, "clone", "-q", "--mirror", "helios::"+e.store, final)
		e.checkClone(final, "")
		ls := e.git(final, "show-ref")
		for name, id := range e.storeRefs() {
			if !strings.Contains(ls, id+" "+name) {
				t.Errorf("clone lacks %s %s", id, name)
			}
		}
	})
}

// States made inside helios (a Draft here, MCTS in real life) come out as
// ordinary commits, and pushing on top of them records their git ids.
func TestHeliosStatesExported(t *testing.T) { eachMode(t, testHeliosStatesExported) }

func testHeliosStatesExported(t *testing.T, e *e2e) {
	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	e.commit(src, "base", map[string]string{"a.txt": "a\n", "d/b.txt": "b\n", "d/e/c.txt": "c\n"})
	os.Chmod(filepath.Join(src, "d/b.txt"), 0o755)
	e.git(src, "add", ".")
	e.git(src, "commit", "-q", "-m", "exec bit")
	e.push(src, "-q", "helios::"+e.store, "main")

	s, err := openStore(e.store, true, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	base, _, err := s.Resolve("refs/heads/main")
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.NewDraft(base)
	if err != nil {
		t.Fatal(err)
	}
	for i, content := range []string{"a 1\n", "a 2\n"} {
		if err := d.Put("a.txt", objstore.ModeFile, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if err := d.Put("new/n.txt", objstore.ModeFile, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		opts := objstore.CommitOptions{Ref: "refs/heads/mcts/run1", Message: fmt.Sprintf("mcts step %d", i),
			Author: objstore.Signature{Name: "helios mcts", Email: "mcts@helios", When: time.Unix(1700000100, 0).In(time.FixedZone("", -5*3600))}}
		if i == 0 {
			opts.CreateRef = true
		}
		if _, err := d.Commit(opts); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	e.git(src, "remote", "add", "origin", "helios::"+e.store)
	e.git(src, "fetch", "origin")
	e.git(src, "fsck", "--full", "--strict", "--no-dangling")
	if got := e.git(src, "log", "--format=%an <%ae> %ad %s", "--date=raw", "origin/mcts/run1"); !strings.Contains(got, "helios mcts <mcts@helios> 1700000100 -0500 mcts step 1") {
		t.Fatalf("exported log:\n%s", got)
	}
	if got := e.git(src, "show", "origin/mcts/run1:a.txt"); got != "a 2" {
		t.Fatalf("a.txt = %q", got)
	}
	if got := e.git(src, "ls-tree", "origin/mcts/run1", "d/b.txt"); !strings.HasPrefix(got, "100755") {
		t.Fatalf("mode lost: %q", got)
	}
	exported := e.git(src, "rev-parse", "origin/mcts/run1")
	// The same ids every time, from a fresh clone too.
	clone := filepath.Join(e.home, "clone")
	e.git(e.home, "clone", "-q", "helios::"+e.store, clone)
	e.checkClone(clone, "")
	if got := e.git(clone, "rev-parse", "origin/mcts/run1"); got != exported {
		t.Fatalf("export not stable: %s vs %s", got, exported)
	}
	// Build on the exported state and push: the mapping is recorded and
	// the ref values stay what git saw.
	e.git(src, "checkout", "-q", "-b", "work", "origin/mcts/run1")
	e.commit(src, "human on top", map[string]string{"h.txt": "h\n"})
	e.push(src, "-q", "origin", "work:refs/heads/mcts/run1")
	refs := e.storeRefs()
	if refs["refs/heads/mcts/run1"] != e.git(src, "rev-parse", "work") {
		t.Fatalf("refs %v", refs)
	}
	s = e.openStore()
	defer s.Close()
	st, _, _ := s.Resolve("refs/heads/mcts/run1")
	state, _ := s.State(st)
	if oid, err := s.GitOID(objstore.KindState, state.Parents[0]); err != nil || oid.String() != exported {
		t.Fatalf("exported state's git id not recorded: %v %v", oid, err)
	}
}

func TestLargeFileDedup(t *testing.T) {
	e := newE2E(t)
	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	rng := rand.New(rand.NewSource(1))
	t.Logf("seed 1")
	big := make([]byte, 50<<20)
	rng.Read(big)
	for i := 0; i < 3; i++ {
		// Each commit changes a few bytes in one place and inserts some.
		at := (i + 1) * 12 << 20
		copy(big[at:], fmt.Sprintf("edit %d", i))
		big = append(big[:at+100], append([]byte("inserted bytes "+fmt.Sprint(i)), big[at+100:]...)...)
		if err := os.WriteFile(filepath.Join(src, "big.bin"), big, 0o644); err != nil {
			t.Fatal(err)
		}
		e.git(src, "add", "big.bin")
		e.git(src, "commit", "-q", "-m", fmt.Sprint("big ", i))
	}
	before := storeBytes(t, e)
	e.push(src, "-q", "helios::"+e.store, "main")
	grew := storeBytes(t, e) - before
	t.Logf("store grew by %d bytes for 3 versions of a 50 MB file", grew)
	if grew > 60<<20 {
		t.Fatalf("store grew by %d MB, want < 60 MB (3 × 50 MB without chunk dedup)", grew>>20)
	}
	clone := filepath.Join(e.home, "clone")
	e.git(e.home, "clone", "-q", "helios::"+e.store, clone)
	e.checkClone(clone, src)
}

// storeBytes is the store's logical size: every key and value.
func storeBytes(t *testing.T, e *e2e) int64 {
	s := e.openStore()
	defer s.Close()
	var n int64
	if err := s.KV().Scan(nil, func(k, v []byte) error { n += int64(len(k) + len(v)); return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestManyRefs(t *testing.T) { eachMode(t, testManyRefs) }

func testManyRefs(t *testing.T, e *e2e) {
	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	var ids []string
	for i := 0; i < 10; i++ {
		ids = append(ids, e.commit(src, fmt.Sprint("c", i), map[string]string{fmt.Sprintf("f%d", i%3): fmt.Sprint(i)}))
	}
	var in strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&in, "create refs/heads/b/%04d %s\n", i, ids[i%len(ids)])
	}
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&in, "create refs/tags/t%03d %s\n", i, ids[i%len(ids)])
	}
	e.gitIn(src, in.String(), "update-ref", "--stdin")
	e.push(src, "-q", "helios::"+e.store, "--all")
	e.push(src, "-q", "helios::"+e.store, "--tags")
	if n := len(e.storeRefs()); n != 1101 {
		t.Fatalf("got %d refs, want 1101", n)
	}
	clone := filepath.Join(e.home, "clone.git")
	e.git(e.home, "clone", "-q", "--mirror", "helios::"+e.store, clone)
	e.checkClone(clone, src)
	if a, b := e.git(clone, "show-ref"), e.git(src, "show-ref"); a != b {
		t.Fatal("refs differ after clone")
	}
}

func TestConcurrentPushes(t *testing.T) { eachMode(t, testConcurrentPushes) }

func testConcurrentPushes(t *testing.T, e *e2e) {
	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	e.commit(src, "base", map[string]string{"a": "a\n"})
	e.push(src, "-q", "helios::"+e.store, "main")
	var clones []string
	for i := 0; i < 2; i++ {
		c := filepath.Join(e.home, fmt.Sprint("c", i))
		e.git(e.home, "clone", "-q", "helios::"+e.store, c)
		e.commit(c, fmt.Sprint("from ", i), map[string]string{fmt.Sprint("f", i): "x\n"})
		clones = append(clones, c)
	}
	parallel := func(args func(i int) []string, env []string) []error {
		var wg sync.WaitGroup
		errs := make([]error, len(clones))
		outs := make([]string, len(clones))
		for i, c := range clones {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[i], errs[i] = e.run(c, env, "", args(i)...)
			}()
		}
		wg.Wait()
		for i := range outs {
			t.Logf("push %d: %v\n%s", i, errs[i], outs[i])
		}
		return errs
	}
	delay := []string{"HELIOS_TEST_PUSH_DELAY=300ms"}
	t.Run("different refs both land", func(t *testing.T) {
		errs := parallel(func(i int) []string { return []string{"push", "origin", fmt.Sprintf("HEAD:refs/heads/b%d", i)} }, delay)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("push %d failed: %v", i, err)
			}
		}
		refs := e.storeRefs()
		for i, c := range clones {
			if refs[fmt.Sprintf("refs/heads/b%d", i)] != e.git(c, "rev-parse", "HEAD") {
				t.Fatalf("push %d lost: %v", i, refs)
			}
		}
		e.fsck()
	})
	t.Run("same ref: one lands, the other fetches first", func(t *testing.T) {
		var outs [2]string
		var errs [2]error
		var wg sync.WaitGroup
		for i, c := range clones {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[i], errs[i] = e.run(c, delay, "", "push", "origin", "HEAD:refs/heads/main")
			}()
		}
		wg.Wait()
		winners := 0
		for i := range clones {
			if errs[i] == nil {
				winners++
				if got := e.storeRefs()["refs/heads/main"]; got != e.git(clones[i], "rev-parse", "HEAD") {
					t.Fatalf("winner %d not in the store: %s", i, got)
				}
			} else if !strings.Contains(outs[i], "fetch first") {
				t.Fatalf("loser %d: %s", i, outs[i])
			}
		}
		if winners != 1 {
			t.Fatalf("%d pushes landed, want 1:\n%s\n%s", winners, outs[0], outs[1])
		}
		e.fsck()
	})
	t.Run("fetch during a push", func(t *testing.T) {
		e.commit(clones[0], "slow", map[string]string{"slow": "s\n"})
		done := make(chan error, 1)
		var out string
		go func() {
			var err error
			out, err = e.run(clones[0], []string{"HELIOS_TEST_PUSH_DELAY=2s"}, "", "push", "-f", "origin", "HEAD:refs/heads/slow")
			done <- err
		}()
		time.Sleep(500 * time.Millisecond) // the push holds the store's write lock now
		start := time.Now()
		e.git(clones[1], "fetch", "origin")
		third := filepath.Join(e.home, "third")
		e.git(e.home, "clone", "-q", "helios::"+e.store, third)
		e.checkClone(third, "")
		if err := <-done; err != nil {
			t.Fatalf("push: %v\n%s", err, out)
		}
		t.Logf("fetch and clone during the push took %v", time.Since(start))
		if e.storeRefs()["refs/heads/slow"] != e.git(clones[0], "rev-parse", "HEAD") {
			t.Fatal("slow push lost")
		}
	})
}

// The helper killed with SIGKILL at many points of a push leaves a store
// that fsck finds clean, with the ref at its old or its new value, and a
// retry succeeds.
func TestKilledPush(t *testing.T) { eachMode(t, testKilledPush) }

func testKilledPush(t *testing.T, e *e2e) {
	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	e.commit(src, "base", map[string]string{"a": "a\n"})
	e.push(src, "-q", "helios::"+e.store, "main")
	old := e.git(src, "rev-parse", "HEAD")
	rng := rand.New(rand.NewSource(2))
	t.Logf("seed 2")
	for i := 0; i < 40; i++ {
		files := map[string]string{}
		for j := 0; j < 50; j++ {
			files[fmt.Sprintf("d%d/f%d", j%7, j)] = fmt.Sprint(i, j, rng.Int())
		}
		if i%5 == 0 {
			blob := make([]byte, 3<<20)
			rng.Read(blob)
			files["blob.bin"] = string(blob)
		}
		e.commit(src, fmt.Sprint("c", i), files)
	}
	newID := e.git(src, "rev-parse", "HEAD")
	// How long an undisturbed push takes, into a scratch store.
	scratch := filepath.Join(e.home, "scratch")
	initStore(t, scratch)
	start := time.Now()
	e.git(src, "push", "-q", "helios::"+scratch, "main")
	full := time.Since(start)
	t.Logf("an undisturbed push takes %v", full)
	landed := false
	for k := 0; k < 12 && !landed; k++ {
		d := full * time.Duration(k+1) / 12
		out, err := e.run(src, []string{"HELIOS_TEST_KILL_AFTER=" + d.String()}, "", "push", "helios::"+e.store, "main")
		e.fsck()
		got := e.storeRefs()["refs/heads/main"]
		switch {
		case got == old:
		case got == newID:
			landed = true
		default:
			t.Fatalf("kill after %v: main = %s, want %s or %s", d, got, old, newID)
		}
		t.Logf("kill after %v: err %v, landed %v", d, err, landed)
		_ = out
	}
	e.push(src, "-q", "helios::"+e.store, "main")
	if got := e.storeRefs()["refs/heads/main"]; got != newID {
		t.Fatalf("retry: main = %s, want %s", got, newID)
	}
	clone := filepath.Join(e.home, "clone")
	e.git(e.home, "clone", "-q", "helios::"+e.store, clone)
	e.checkClone(clone, src)
}

func TestStorePath(t *testing.T) {
	dir := t.TempDir()
	initStore(t, dir)
	for _, c := range []struct {
		url, want string
	}{
		{dir, dir},
		{"helios://" + dir, dir},
	} {
		got, err := storePath(c.url)
		if err != nil || got != c.want {
			t.Errorf("storePath(%q) = %q, %v; want %q", c.url, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "-x", "helios://host/x", dir + "/../x", "a\nb", filepath.Join(dir, "missing")} {
		if _, err := storePath(bad); err == nil {
			t.Errorf("storePath(%q): want an error", bad)
		}
	}
}

// Malformed input is a clear error and a non-zero exit; a blank line ends
// the session cleanly.
func TestMalformedInput(t *testing.T) {
	// The protocol is what is tested: no server, which would outlive the
	// test (until its idle timeout) on a store directory that is gone.
	t.Setenv("HELIOS_NO_SERVER", "1")
	dir := t.TempDir()
	initStore(t, dir)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"origin", dir}, "", strings.NewReader("capabilities\nbogus\n"), &out, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), `unknown command "bogus"`) {
		t.Fatalf("got %d %q", code, errOut.String())
	}
	out.Reset()
	errOut.Reset()
	code = run(context.Background(), []string{"origin", dir}, "", strings.NewReader("list\n\n"), &out, &errOut)
	if code != 0 || out.String() != "\n" {
		t.Fatalf("got %d %q %q", code, out.String(), errOut.String())
	}
}

// TestThinHelper: the thin build (no cgo, make build's) pushes and clones
// through a server it starts, and with HELIOS_NO_SERVER=1 hands the store
// to `helios git-remote-helios`, which opens it itself.
func TestThinHelper(t *testing.T) {
	e := newE2EMode(t, true)
	thin := filepath.Join(e.home, "bin", "git-remote-helios")
	os.Remove(thin)
	cmd := exec.Command("go", "build", "-tags", "thin", "-o", thin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("thin build: %v\n%s", err, out)
	}
	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	e.commit(src, "one", map[string]string{"f": "1\n"})
	e.git(src, "remote", "add", "origin", "helios::"+e.store)
	e.git(src, "push", "-q", "origin", "main")
	if _, err := os.Stat(filepath.Join(e.store, "serve.log")); err != nil {
		t.Fatalf("the thin helper started no server: %v", err)
	}
	e.stopServer()
	e.commit(src, "two", map[string]string{"f": "2\n"})
	out, err := e.run(src, []string{"HELIOS_NO_SERVER=1"}, "", "push", "origin", "main")
	if err != nil {
		t.Fatalf("push without a server: %v\n%s", err, out)
	}
	if server.Running(e.store) {
		t.Errorf("HELIOS_NO_SERVER=1 started a server")
	}
	clone := filepath.Join(e.home, "clone")
	e.git(e.home, "clone", "-q", "helios::"+e.store, clone)
	e.checkClone(clone, src)
	e.fsck()
}

// TestServerKilledDuringPush: the server a push goes through is killed
// with SIGKILL at points across the push; the push fails or lands, the
// store stays clean with main at its old or new value, and the next push
// starts a fresh server and lands.
func TestServerKilledDuringPush(t *testing.T) {
	e := newE2EMode(t, true)
	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	e.commit(src, "base", map[string]string{"a": "a\n"})
	e.git(src, "push", "-q", "helios::"+e.store, "main")
	old := e.git(src, "rev-parse", "HEAD")
	rng := rand.New(rand.NewSource(3))
	for i := 0; i < 30; i++ {
		files := map[string]string{}
		for j := 0; j < 40; j++ {
			files[fmt.Sprintf("d%d/f%d", j%5, j)] = fmt.Sprint(i, j, rng.Int())
		}
		if i%6 == 0 {
			blob := make([]byte, 2<<20)
			rng.Read(blob)
			files["blob.bin"] = string(blob)
		}
		e.commit(src, fmt.Sprint("c", i), files)
	}
	newID := e.git(src, "rev-parse", "HEAD")
	serverPID := func() int {
		c, err := server.Dial(e.store, "")
		if err != nil {
			return 0
		}
		defer c.Close()
		return c.ServerPID
	}
	// How long an undisturbed push takes, into a scratch store.
	scratch := filepath.Join(e.home, "scratch")
	initStore(t, scratch)
	e.git(src, "ls-remote", "helios::"+scratch) // its server starts
	start := time.Now()
	e.git(src, "push", "-q", "helios::"+scratch, "main")
	full := time.Since(start)
	if err := storedir.StopServer(scratch, time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("an undisturbed push takes %v", full)
	landed := false
	for k := 0; k < 12 && !landed; k++ {
		// A server is running (the last command started one); kill it a
		// little later each round, while the push is under way.
		e.git(src, "ls-remote", "helios::"+e.store)
		pid := serverPID()
		if pid == 0 {
			t.Fatal("no server after ls-remote")
		}
		cmd := exec.Command("git", "push", "-q", "helios::"+e.store, "main")
		cmd.Dir, cmd.Env = src, e.env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(full * time.Duration(k+1) / 10)
		syscall.Kill(pid, syscall.SIGKILL)
		err := cmd.Wait()
		if err := storedir.StopServer(e.store, time.Minute); err != nil {
			t.Fatal(err)
		}
		e.fsck()
		switch got := e.storeRefs()["refs/heads/main"]; got {
		case old:
		case newID:
			landed = true
		default:
			t.Fatalf("round %d: main = %s, want %s or %s", k, got, old, newID)
		}
		t.Logf("round %d: push %v, landed %v", k, err, landed)
	}
	e.git(src, "push", "-q", "helios::"+e.store, "main")
	if got := e.storeRefs()["refs/heads/main"]; got != newID {
		t.Fatalf("after the kills: main = %s, want %s", got, newID)
	}
	clone := filepath.Join(e.home, "clone")
	e.git(e.home, "clone", "-q", "helios::"+e.store, clone)
	e.checkClone(clone, src)
}

// TestPushThroughPipe: a big push to the store's server on this machine
// hands it a pipe that git cat-file writes into (the objects skip the
// helper); it lands whole, the progress counts every object, a missing
// local object fails it with the reason, and a small push still streams.
func TestPushThroughPipe(t *testing.T) {
	e := newE2EMode(t, true)
	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	for i := 0; i < 30; i++ {
		files := map[string]string{}
		for j := 0; j < 10; j++ {
			files[fmt.Sprintf("d%d/f%d", j%3, j)] = fmt.Sprint(i, " ", j, "\n")
		}
		e.commit(src, fmt.Sprint("c", i), files)
	}
	piped := func() int {
		c, err := server.Dial(e.store, "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		st, err := c.Status()
		if err != nil {
			t.Fatal(err)
		}
		return st.PipedPushes
	}
	objects := len(strings.Fields(e.git(src, "rev-list", "--objects", "--no-object-names", "main")))
	out, err := e.run(src, nil, "", "push", "--progress", "helios::"+e.store, "main")
	if err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("writing objects: %d, done.", objects); !strings.Contains(out, want) {
		t.Errorf("progress does not say %q:\n%s", want, out)
	}
	if n := piped(); n != 1 {
		t.Fatalf("%d piped pushes, want 1", n)
	}
	clone := filepath.Join(e.home, "clone")
	e.git(e.home, "clone", "-q", "helios::"+e.store, clone)
	e.checkClone(clone, src)

	// A small push streams.
	e.commit(src, "small", map[string]string{"small": "x\n"})
	e.git(src, "push", "-q", "helios::"+e.store, "main")
	if n := piped(); n != 1 {
		t.Fatalf("%d piped pushes after a small one, want still 1", n)
	}

	// A local repository with a corrupt object (git rev-list does not
	// read blobs; git cat-file fails on it): the push fails with what git
	// said, and moves nothing.
	broken := filepath.Join(e.home, "broken")
	e.git(e.home, "init", "-q", "-b", "main", broken)
	for i := 0; i < 30; i++ {
		files := map[string]string{}
		for j := 0; j < 10; j++ {
			files[fmt.Sprintf("e%d/g%d", j%3, j)] = fmt.Sprint("b", i, " ", j, "\n")
		}
		e.commit(broken, fmt.Sprint("b", i), files)
	}
	blob := e.git(broken, "rev-parse", "HEAD~5:e0/g0")
	loose := filepath.Join(broken, ".git", "objects", blob[:2], blob[2:])
	os.Chmod(loose, 0o644)
	writeFile(t, loose, "not zlib")
	out, err = e.run(broken, nil, "", "push", "helios::"+e.store, "main:refs/heads/broken")
	if err == nil || !strings.Contains(out, blob) || !strings.Contains(out, "cat-file: error: inflate") {
		t.Fatalf("push of a repository with %s corrupt: %v\n%s", blob, err, out)
	}
	if _, ok := e.storeRefs()["refs/heads/broken"]; ok {
		t.Fatal("the broken push moved its ref")
	}
}
