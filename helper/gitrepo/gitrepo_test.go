package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/helios-vcs/helios/helper/gitobj"
)

// gitIn runs git in dir with a fixed identity and clock.
func gitIn(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=A", "GIT_AUTHOR_EMAIL=a@example.com", "GIT_AUTHOR_DATE=1700000000 +0000",
		"GIT_COMMITTER_NAME=C", "GIT_COMMITTER_EMAIL=c@example.com", "GIT_COMMITTER_DATE=1700000000 +0000",
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// newRepo makes a repository with two commits on main and a tag.
func newRepo(t testing.TB, format string) (string, *Repo) {
	t.Helper()
	dir := t.TempDir()
	gitIn(t, dir, "init", "-q", "-b", "main", "--object-format="+format)
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("one\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "b.txt"), []byte("two\n"), 0o755)
	gitIn(t, dir, "add", ".")
	gitIn(t, dir, "commit", "-q", "-m", "first")
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("one more\n"), 0o644)
	gitIn(t, dir, "commit", "-q", "-am", "second")
	gitIn(t, dir, "tag", "-a", "-m", "v1", "v1")
	r, err := Open(context.Background(), filepath.Join(dir, ".git"))
	if err != nil {
		t.Fatal(err)
	}
	return dir, r
}

func TestRevisionsAndRefs(t *testing.T) {
	ctx := context.Background()
	dir, r := newRepo(t, "sha1")
	if r.Format() != gitobj.SHA1 || !filepath.IsAbs(r.GitDir()) {
		t.Fatalf("got format %v dir %q", r.Format(), r.GitDir())
	}
	head, err := r.ResolveRev(ctx, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if want := gitIn(t, dir, "rev-parse", "HEAD"); head.String() != want {
		t.Fatalf("got %s, want %s", head, want)
	}
	parent, err := r.ResolveRev(ctx, "HEAD~1")
	if err != nil {
		t.Fatal(err)
	}
	short, err := r.ResolveRev(ctx, parent.String()[:8])
	if err != nil || short != parent {
		t.Fatalf("abbreviated: got %s %v, want %s", short, err, parent)
	}
	for _, bad := range []string{"", "-n", "nope", "HEAD\nx"} {
		if _, err := r.ResolveRev(ctx, bad); !errors.Is(err, ErrBadRevision) {
			t.Errorf("ResolveRev(%q): got %v, want ErrBadRevision", bad, err)
		}
	}
	if ok, err := r.IsAncestor(ctx, nil, parent, head); !ok || err != nil {
		t.Fatalf("parent of head: got %v %v", ok, err)
	}
	if ok, err := r.IsAncestor(ctx, nil, head, parent); ok || err != nil {
		t.Fatalf("head of parent: got %v %v", ok, err)
	}
	if _, err := r.IsAncestor(ctx, nil, head, gitobj.MustParseOID(strings.Repeat("1", 40))); err == nil {
		t.Fatal("missing object: want error")
	}
	refs, err := r.Refs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2 || refs[0].Name != "refs/heads/main" || refs[0].OID != head || refs[1].Name != "refs/tags/v1" {
		t.Fatalf("got refs %+v", refs)
	}
	if _, err := Open(ctx, t.TempDir()); err == nil {
		t.Fatal("Open of a non-repository: want error")
	}
}

func TestListObjectsAndCatFile(t *testing.T) {
	ctx := context.Background()
	dir, r := newRepo(t, "sha1")
	head, _ := r.ResolveRev(ctx, "HEAD")
	parent, _ := r.ResolveRev(ctx, "HEAD~1")
	var all, incr []gitobj.OID
	if err := r.ListObjects(ctx, []gitobj.OID{head}, nil, func(id gitobj.OID) error { all = append(all, id); return nil }); err != nil {
		t.Fatal(err)
	}
	// 2 commits, 2 root trees, 1 sub tree, 3 blobs.
	if len(all) != 8 {
		t.Fatalf("got %d objects, want 8", len(all))
	}
	missing := gitobj.MustParseOID(strings.Repeat("1", 40))
	if err := r.ListObjects(ctx, []gitobj.OID{head}, []gitobj.OID{parent, missing, {}}, func(id gitobj.OID) error { incr = append(incr, id); return nil }); err != nil {
		t.Fatal(err)
	}
	// the new commit, its root tree and the new a.txt.
	if len(incr) != 3 || incr[0] != head {
		t.Fatalf("got %v, want head, tree, blob", incr)
	}
	stop := errors.New("stop")
	if err := r.ListObjects(ctx, []gitobj.OID{head}, nil, func(gitobj.OID) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("got %v, want callback error", err)
	}
	if err := r.ListObjects(ctx, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.ListObjects(ctx, []gitobj.OID{missing}, nil, func(gitobj.OID) error { return stop }); err != nil {
		t.Fatalf("missing tip: got %v, want it ignored", err)
	}

	cf, err := r.CatFile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	typ, size, err := cf.Info(head)
	if err != nil || typ != gitobj.Commit || size == 0 {
		t.Fatalf("Info: got %v %d %v", typ, size, err)
	}
	if ok, err := cf.Has(missing); ok || err != nil {
		t.Fatalf("Has(missing): got %v %v", ok, err)
	}
	if _, err := cf.Read(missing); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read(missing): got %v, want ErrNotFound", err)
	}
	// The process survives a missing object.
	obj, err := cf.Read(head)
	if err != nil {
		t.Fatal(err)
	}
	if want := gitIn(t, dir, "cat-file", "commit", "HEAD"); strings.TrimSpace(string(obj.Data)) != want {
		t.Fatalf("got %q, want %q", obj.Data, want)
	}
	if err := gitobj.Verify(gitobj.SHA1, obj); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := cf.Stream(ctx, all, func(o gitobj.Object) error {
		n++
		return gitobj.Verify(gitobj.SHA1, o)
	}); err != nil || n != len(all) {
		t.Fatalf("Stream: got %d objects, %v", n, err)
	}
	n = 0
	if err := cf.Stream(ctx, append([]gitobj.OID{all[0], missing}, all...), func(gitobj.Object) error { n++; return nil }); !errors.Is(err, ErrNotFound) || n != 1 {
		t.Fatalf("Stream with a missing object: got %d calls, %v", n, err)
	}
	if err := cf.Stream(ctx, all, func(gitobj.Object) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("got %v, want stop", err)
	}
	if ok, err := cf.Has(head); !ok || err != nil {
		t.Fatalf("after errors: got %v %v", ok, err)
	}
	// StreamFrom: ids that trickle in, one at a time (each reply must come
	// without waiting for the next id), then the whole list at once.
	ids := make(chan gitobj.OID)
	go func() {
		defer close(ids)
		for _, id := range all {
			ids <- id
			time.Sleep(time.Millisecond)
		}
	}()
	var got []gitobj.OID
	if err := cf.StreamFrom(ctx, ids, func(o gitobj.Object) error {
		got = append(got, o.OID)
		return gitobj.Verify(gitobj.SHA1, o)
	}); err != nil {
		t.Fatalf("StreamFrom: %v", err)
	}
	if diff := cmp.Diff(all, got, cmp.Comparer(func(a, b gitobj.OID) bool { return a == b })); diff != "" {
		t.Fatalf("StreamFrom order (-want +got):\n%s", diff)
	}
	ids = make(chan gitobj.OID, 2*len(all)+1)
	for _, id := range all {
		ids <- id
	}
	ids <- missing
	for _, id := range all {
		ids <- id
	}
	close(ids)
	n = 0
	if err := cf.StreamFrom(ctx, ids, func(gitobj.Object) error { n++; return nil }); !errors.Is(err, ErrNotFound) || n != len(all) {
		t.Fatalf("StreamFrom with a missing object: got %d calls, %v", n, err)
	}
	if ok, err := cf.Has(head); !ok || err != nil {
		t.Fatalf("after StreamFrom errors: got %v %v", ok, err)
	}
	if err := cf.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cf.Read(head); err == nil {
		t.Fatal("read after close: want error")
	}
}

// copyObjects packs every object of src with PackWriter into a fresh
// repository and checks it with git itself.
func TestPackWriterRoundTrip(t *testing.T) {
	for _, format := range []string{"sha1", "sha256"} {
		t.Run(format, func(t *testing.T) {
			ctx := context.Background()
			srcDir, src := newRepo(t, format)
			head, _ := src.ResolveRev(ctx, "refs/tags/v1")
			var ids []gitobj.OID
			if err := src.ListObjects(ctx, []gitobj.OID{head}, nil, func(id gitobj.OID) error { ids = append(ids, id); return nil }); err != nil {
				t.Fatal(err)
			}
			dstDir := t.TempDir()
			gitIn(t, dstDir, "init", "-q", "--bare", "--object-format="+format)
			dst, err := Open(ctx, dstDir)
			if err != nil {
				t.Fatal(err)
			}
			pw, err := dst.NewPackWriter(PackOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cf, _ := src.CatFile(ctx)
			defer cf.Close()
			err = cf.Stream(ctx, ids, func(o gitobj.Object) error {
				if err := pw.WriteObject(o); err != nil {
					return err
				}
				o.OID = gitobj.OID{} // duplicates are dropped, unset ids computed
				return pw.WriteObject(o)
			})
			if err != nil {
				t.Fatal(err)
			}
			if pw.Len() != len(ids) {
				t.Fatalf("got %d entries, want %d", pw.Len(), len(ids))
			}
			pf, err := pw.Finish()
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{pf.Pack, pf.Index, pf.Keep} {
				if _, err := os.Stat(p); err != nil {
					t.Fatal(err)
				}
			}
			if m, _ := filepath.Glob(filepath.Join(dstDir, "objects/pack/tmp_*")); len(m) != 0 {
				t.Fatalf("temporary files left: %v", m)
			}
			out := gitIn(t, dstDir, "verify-pack", "-v", pf.Index)
			if !strings.Contains(out, fmt.Sprintf("non delta: %d objects", len(ids))) {
				t.Fatalf("verify-pack: %s", out)
			}
			gitIn(t, dstDir, "update-ref", "refs/tags/v1", head.String())
			gitIn(t, dstDir, "fsck", "--full", "--strict", "--no-dangling")
			if got, want := gitIn(t, dstDir, "rev-list", "--objects", "--all"), gitIn(t, srcDir, "rev-list", "--objects", "--all"); got != want {
				t.Fatalf("objects differ:\n%s\nvs\n%s", got, want)
			}
			if _, err := pw.Finish(); err == nil {
				t.Fatal("second Finish: want error")
			}
			if err := pw.WriteObject(gitobj.Object{Type: gitobj.Blob}); err == nil {
				t.Fatal("write after Finish: want error")
			}
			pw.Abort()
		})
	}
}

func TestPackWriterEdgeCases(t *testing.T) {
	dir := t.TempDir()
	pw, err := NewPackWriter(dir, gitobj.SHA1, PackOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	bad := gitobj.Object{Type: gitobj.Blob, OID: gitobj.MustParseOID(strings.Repeat("1", 40)), Data: []byte("x")}
	// Entries are hashed in the background: the mismatch surfaces from
	// WriteObject or, at the latest, from Finish, which then leaves nothing.
	werr := pw.WriteObject(bad)
	pf, err := pw.Finish()
	if werr == nil {
		werr = err
	}
	if werr == nil || !strings.Contains(werr.Error(), "hashes to") {
		t.Fatalf("got %v, want id mismatch", werr)
	}
	if pf.Pack != "" {
		t.Fatalf("a pack with a bad object was kept: %+v", pf)
	}
	if m, _ := os.ReadDir(dir); len(m) != 0 {
		t.Fatalf("empty pack left files: %v", m)
	}
	pw, _ = NewPackWriter(dir, gitobj.SHA1, PackOptions{})
	pw.Abort()
	pw.Abort()
	if m, _ := os.ReadDir(dir); len(m) != 0 {
		t.Fatalf("abort left files: %v", m)
	}
	// A large offset goes to the 64-bit table.
	var buf bytes.Buffer
	entries := []IndexEntry{
		{OID: gitobj.MustParseOID(strings.Repeat("2", 40)), Offset: 5 << 30},
		{OID: gitobj.MustParseOID(strings.Repeat("1", 40)), Offset: 12},
	}
	if err := WriteIndex(&buf, gitobj.SHA1, entries, make([]byte, 20)); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.Len(), 8+256*4+2*20+2*4+2*4+8+20+20; got != want {
		t.Fatalf("got %d bytes, want %d", got, want)
	}
	dup := []IndexEntry{entries[0], entries[0]}
	if err := WriteIndex(&buf, gitobj.SHA1, dup, make([]byte, 20)); err == nil {
		t.Fatal("duplicate entries: want error")
	}
}
