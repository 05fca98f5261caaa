package objstore_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
)

// namesResult is what sealedScenario reads back.
type namesResult struct {
	Refs, Heads  []objstore.Ref
	GitRefs      []objstore.GitRef
	Worktree     objstore.ID
	Read2        int // files read by the second snapshot (the stat cache held)
	GitEntries   int // git mapping entries gc deleted
	GitObjectErr bool
}

// distinctive oids and names the sealed store must not show in its files.
var (
	sealedOID  = objstore.GitOID{0xde, 0xad, 0xbe, 0xef, 0x13, 0x37, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x01}
	sealedOID2 = objstore.GitOID{0xde, 0xad, 0xbe, 0xef, 0x13, 0x37, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x02}
)

// sealedScenario makes refs, a worktree with a stat cache and a git
// mapping in s, collects garbage, and reads them all back.
func sealedScenario(t *testing.T, s *objstore.Store, wt string) namesResult {
	t.Helper()
	var r namesResult
	base := commitFiles(t, s, objstore.ZeroID, "refs/heads/feature-zorkmid", map[string]string{"a.txt": "a"})
	for _, name := range []string{"refs/heads/zz-last", "refs/heads/aa-first", "refs/tags/v1-quendor", "refs/heads/feature-zorkmid-2"} {
		if err := s.UpdateRefs(objstore.RefUpdate{Name: name, New: base}); err != nil {
			t.Fatal(err)
		}
	}
	// A worktree: materialize, edit, snapshot twice.
	if _, err := s.Materialize(base, wt); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(wt, "b-secret-grue.txt"), []byte("b"), 0o644)
	os.WriteFile(filepath.Join(wt, "c.txt"), []byte("c"), 0o644)
	// Past the racy window, so that the first snapshot's cache entries
	// are trusted by the second.
	time.Sleep(60 * time.Millisecond)
	if _, err := s.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/feature-zorkmid", Message: "wt"}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/feature-zorkmid", Message: "wt"})
	if err != nil {
		t.Fatal(err)
	}
	r.Read2 = res.Read
	if r.Worktree, err = s.WorktreeState(wt); err != nil {
		t.Fatal(err)
	}
	if r.Worktree != res.State {
		t.Errorf("worktree state %v, want %v", r.Worktree.Short(), res.State.Short())
	}
	// The git mapping: a commit on a ref that stays, a blob on one that
	// goes (gc then deletes its entries). Until then the store maps no
	// git object, though it holds states, trees and blobs.
	if any, err := s.HasGitObjects(); err != nil || any {
		t.Errorf("HasGitObjects before any mapping = %v, %v", any, err)
	}
	w := s.NewWriter()
	blob, err := w.PutBlob([]byte("doomed blob"))
	if err != nil {
		t.Fatal(err)
	}
	var g objstore.GitBatch
	g.PutObject(sealedOID, objstore.GitObject{Type: objstore.GitCommit, ID: base, Raw: []byte("tree x\n\nm")})
	g.PutObject(sealedOID2, objstore.GitObject{Type: objstore.GitBlob, ID: blob})
	g.SetRef("refs/heads/feature-zorkmid-2", sealedOID, base)
	doomed := commitFiles(t, s, objstore.ZeroID, "", map[string]string{"doomed": "doomed blob"})
	if err := w.CommitGit(&g, objstore.RefUpdate{Name: "refs/heads/doomed-frotz", New: doomed}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRefs(objstore.RefUpdate{Name: "refs/heads/doomed-frotz", Old: doomed}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.GC(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	r.GitEntries = rep.GitEntries
	if any, err := s.HasGitObjects(); err != nil || !any {
		t.Errorf("HasGitObjects with a commit mapped = %v, %v", any, err)
	}
	if o, err := s.GitObject(sealedOID); err != nil || o.ID != base {
		t.Errorf("GitObject = %+v, %v", o, err)
	}
	if oid, err := s.GitOID(objstore.KindState, base); err != nil || oid != sealedOID {
		t.Errorf("GitOID = %v, %v", oid, err)
	}
	_, err = s.GitObject(sealedOID2)
	r.GitObjectErr = errors.Is(err, objstore.ErrNotFound)
	if r.Refs, err = s.Refs(""); err != nil {
		t.Fatal(err)
	}
	if r.Heads, err = s.Refs("refs/heads/feature-"); err != nil {
		t.Fatal(err)
	}
	if r.GitRefs, err = s.GitRefs("refs/heads/"); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Fsck(context.Background(), true); err != nil || len(rep.Problems) > 0 {
		t.Errorf("fsck: %v %v", err, rep)
	}
	return r
}

// TestSealedStoreHidesNames runs the same refs, worktree and git mapping
// through a plain and a sealed store on RocksDB: the sealed one answers
// alike (ref listings in order, the stat cache found by worktree, gc
// sweeping the git mapping), and no ref name, worktree path or git object
// id is in any file under its directory, or in any key the engine holds.
func TestSealedStoreHidesNames(t *testing.T) {
	results := map[bool]namesResult{}
	var sealedDir, sealedWT string
	for _, sealed := range []bool{false, true} {
		dir := t.TempDir()
		wt := filepath.Join(t.TempDir(), "wt-path-lurker-xyzzy")
		kv, err := rocksdb.Open(dir, rocksdb.Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		var kvs objstore.KV = kv
		var secret []byte
		if sealed {
			kvs, secret = sealKV(t, kv, 1), bytes.Repeat([]byte{7}, 32)
			sealedDir, sealedWT = dir, wt
		}
		s, err := objstore.Init(kvs, objstore.Options{Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		results[sealed] = sealedScenario(t, s, wt)
		s.Close()
	}
	plain, sealed := results[false], results[true]
	// IDs differ (keyed in the sealed store): compare names and shapes.
	names := func(r namesResult) []string {
		var out []string
		for _, x := range r.Refs {
			out = append(out, x.Name+"→"+x.Target)
		}
		out = append(out, "|")
		for _, x := range r.Heads {
			out = append(out, x.Name)
		}
		out = append(out, "|")
		for _, x := range r.GitRefs {
			out = append(out, x.Name+"="+x.OID.String())
		}
		return out
	}
	if diff := cmp.Diff(names(plain), names(sealed)); diff != "" {
		t.Errorf("listings differ (-plain +sealed):\n%s", diff)
	}
	if sealed.Read2 != 0 || plain.Read2 != 0 {
		t.Errorf("unchanged worktree re-read %d (plain %d) files: the stat cache was not found", sealed.Read2, plain.Read2)
	}
	if sealed.GitEntries != plain.GitEntries || sealed.GitEntries != 2 || !sealed.GitObjectErr {
		t.Errorf("gc deleted %d git entries (plain %d), want 2; doomed object gone: %v", sealed.GitEntries, plain.GitEntries, sealed.GitObjectErr)
	}

	needles := map[string][]byte{}
	for _, n := range []string{"zorkmid", "quendor", "frotz", "aa-first", "zz-last", "lurker", "xyzzy", "grue", sealedWT} {
		needles[n] = []byte(n)
	}
	for i, o := range []objstore.GitOID{sealedOID, sealedOID2} {
		needles["oid-raw-"+string(rune('1'+i))] = o[:12]
		needles["oid-hex-"+string(rune('1'+i))] = []byte(hex.EncodeToString(o[:]))
	}
	// The worktree's key in a plain store: an unkeyed hash of its path,
	// which anyone who guesses the path can compute.
	abs, _ := filepath.Abs(sealedWT)
	wk := objstore.NewHasher(nil).Sum(objstore.KindChunk, []byte("worktree\x00"+filepath.Clean(abs)))
	needles["plain worktree key"] = wk[:16]
	// Every file as it is on disk (SSTs are compressed, so this alone
	// would miss a leak in their data blocks; it does see the MANIFEST's
	// smallest/largest keys, the LOG and the OPTIONS)...
	leaksIn(t, sealedDir, needles)
	// ...and every key and value the engine holds, as the engine reads
	// them back (decompressed, WAL replayed).
	kv, err := rocksdb.Open(sealedDir, rocksdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	kv.Scan(nil, func(k, v []byte) error {
		for n, b := range needles {
			if bytes.Contains(k, b) || bytes.Contains(v, b) {
				t.Errorf("engine entry %q holds %s", k, n)
			}
		}
		return nil
	})
}

// leaksIn reports every file under dir that holds one of needles.
func leaksIn(t *testing.T, dir string, needles map[string][]byte) {
	t.Helper()
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		for n, nb := range needles {
			if bytes.Contains(b, nb) {
				t.Errorf("%s holds %s in the clear", filepath.Base(p), n)
			}
		}
		return nil
	})
}
