package storeaudit

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
	"golang.org/x/mod/sumdb/note"
)

func keys(t testing.TB) (note.Signer, note.Verifier) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "helios-test")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	return s, v
}

// spyKV records whether every written batch that moves a ref also carries
// audit keys, and can fail writes.
type spyKV struct {
	objstore.KV
	mu       sync.Mutex
	fail     error
	refOnly  int // batches with ref keys but no audit keys
	together int
}

func (s *spyKV) Write(b *objstore.Batch, sync bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var refs, aud bool
	for _, op := range b.Ops() {
		refs = refs || op.Key[0] == 'r'
		aud = aud || op.Key[0] == 'a'
	}
	if refs && !aud {
		s.refOnly++
	}
	if refs && aud {
		s.together++
	}
	if s.fail != nil {
		return s.fail
	}
	return s.KV.Write(b, sync)
}

func commit(t testing.TB, s *objstore.Store, ref string, content string) (objstore.ID, error) {
	base, _, err := s.Resolve(ref)
	if err != nil && !errors.Is(err, objstore.ErrNotFound) {
		return objstore.ZeroID, err
	}
	d, err := s.NewDraft(base)
	if err != nil {
		return objstore.ZeroID, err
	}
	d.Put("f", objstore.ModeFile, []byte(content))
	return d.Commit(objstore.CommitOptions{Ref: ref, CreateRef: base.IsZero(), Message: content})
}

func openRocks(t testing.TB, dir string, signer note.Signer) (*objstore.Store, *Journal, *spyKV) {
	t.Helper()
	kv, err := rocksdb.Open(dir, rocksdb.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	spy := &spyKV{KV: kv}
	j, err := Open(spy, signer)
	if err != nil {
		t.Fatal(err)
	}
	s, err := objstore.Init(spy, objstore.Options{Journal: j, Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	return s, j, spy
}

func TestJournalOnRocksDB(t *testing.T) {
	signer, v := keys(t)
	dir := t.TempDir()
	s, j, spy := openRocks(t, dir, signer)
	a, err := commit(t, s, "refs/heads/main", "1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := commit(t, s, "refs/heads/main", "2")
	if err := s.SetSymbolicRef("HEAD", "refs/heads/main"); err != nil {
		t.Fatal(err)
	}
	w := s.NewWriter()
	w.Actor = "bob"
	if err := w.Commit(objstore.RefUpdate{Name: "refs/heads/dev", New: a}, objstore.RefUpdate{Name: "refs/heads/main", Old: b, New: a}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRefs(objstore.RefUpdate{Name: "refs/heads/dev", Old: a}); err != nil {
		t.Fatal(err)
	}
	// A failed write moves nothing and logs nothing.
	spy.fail = errors.New("disk full")
	if _, err := commit(t, s, "refs/heads/main", "3"); err == nil {
		t.Fatal("commit on a failing disk succeeded")
	}
	spy.fail = nil
	if _, err := commit(t, s, "refs/heads/main", "4"); err != nil {
		t.Fatal(err)
	}
	// objstore.Init writes the initial HEAD without the journal (one batch);
	// every other ref write carried its record (the failed one included).
	if spy.refOnly != 1 || spy.together != 7 {
		t.Errorf("batches: %d with refs and no audit record, %d together; want 1 and 7", spy.refOnly, spy.together)
	}
	l := j.Log()
	if l.Size() != 6 {
		t.Fatalf("log size %d, want 6", l.Size())
	}
	r, _ := l.Record(3)
	want := []audit.RefChange{{Name: "refs/heads/dev", New: a.String()}, {Name: "refs/heads/main", Old: b.String(), New: a.String()}}
	if r.Actor != "bob" || r.Event != audit.EventRef || fmt.Sprint(r.Refs) != fmt.Sprint(want) {
		t.Errorf("record 3 = %+v, want bob moving %v", r, want)
	}
	if r, _ := l.Record(2); r.Refs[0].Target != "refs/heads/main" || r.Actor != "alice" {
		t.Errorf("record 2 = %+v", r)
	}
	if r, _ := l.Record(4); r.Refs[0].New != "" || r.Refs[0].Old != a.String() {
		t.Errorf("delete record = %+v", r)
	}
	s.Close()

	// Reopen: the log goes on from where it was, and verifies with the refs.
	s, j, _ = openRocks(t, dir, signer)
	defer s.Close()
	if j.Log().Size() != 6 {
		t.Fatalf("reopened log size %d", j.Log().Size())
	}
	commit(t, s, "refs/heads/main", "5")
	rep, err := VerifyStore(s, v)
	if err != nil || !rep.OK() || rep.Records != 7 {
		t.Fatalf("VerifyStore: %v %+v", err, rep)
	}
}

// A ref moved behind the journal's back, or a policy written without a
// record, is found by VerifyStore.
func TestVerifyStoreFindsUnloggedChanges(t *testing.T) {
	signer, v := keys(t)
	kv := objstore.NewMemKV()
	j, _ := Open(kv, signer)
	s, _ := objstore.Init(kv, objstore.Options{Journal: j})
	a, _ := commit(t, s, "refs/heads/main", "1")
	commit(t, s, "refs/heads/gone", "x")
	p, _ := audit.ParsePolicy("role maintainer alice\nallow RWFD refs/** @maintainer\n")
	if err := j.SetPolicy(s, "alice", p); err != nil {
		t.Fatal(err)
	}
	if rep, _ := VerifyStore(s, v); !rep.OK() {
		t.Fatalf("clean store: %v", rep.Problems)
	}
	// The same KV opened without the journal: writes are not logged.
	bare, _ := objstore.Open(kv, objstore.Options{})
	bare.UpdateRefs(objstore.RefUpdate{Name: "refs/heads/main", IgnoreOld: true, New: a},
		objstore.RefUpdate{Name: "refs/heads/sneaky", New: a},
		objstore.RefUpdate{Name: "refs/heads/gone", IgnoreOld: true})
	commit(t, bare, "refs/heads/main", "evil")
	var pb objstore.Batch
	pb.Put(audit.PolicyKey, []byte("role maintainer mallory\n"))
	kv.Write(&pb, false)
	rep, err := VerifyStore(s, v)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rep.Problems, "\n")
	for _, want := range []string{"ref refs/heads/main is", "refs/heads/sneaky", "refs/heads/gone is missing", "policy sha256:"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	// Policy deleted behind the log.
	var db objstore.Batch
	db.Delete(audit.PolicyKey)
	kv.Write(&db, false)
	if rep, _ := VerifyStore(s, v); !strings.Contains(strings.Join(rep.Problems, "\n"), "has no policy") {
		t.Errorf("deleted policy not found: %v", rep.Problems)
	}
	// An unparsable policy.
	pb.Reset()
	pb.Put(audit.PolicyKey, []byte("garbage"))
	kv.Write(&pb, false)
	if rep, _ := VerifyStore(s, v); !strings.Contains(strings.Join(rep.Problems, "\n"), "policy:") {
		t.Errorf("bad policy not found: %v", rep.Problems)
	}
}

func TestSetPolicyNeedsAMaintainer(t *testing.T) {
	signer, v := keys(t)
	kv := objstore.NewMemKV()
	j, _ := Open(kv, signer)
	s, _ := objstore.Init(kv, objstore.Options{Journal: j})
	if _, err := LoadPolicy(kv); !errors.Is(err, ErrNoPolicy) {
		t.Fatalf("LoadPolicy on a new store: %v", err)
	}
	p1, _ := audit.ParsePolicy("role maintainer alice\nrole developer bob\n")
	if err := j.SetPolicy(s, "bob", p1); err != nil { // the first policy: anyone who can write
		t.Fatal(err)
	}
	p2, _ := audit.ParsePolicy("role maintainer bob\n")
	var de *audit.DeniedError
	if err := j.SetPolicy(s, "bob", p2); !errors.As(err, &de) || de.Action != string(audit.ActionPolicySet) {
		t.Fatalf("developer set the policy: %v", err)
	}
	if err := j.SetPolicy(s, "alice", p2); err != nil {
		t.Fatal(err)
	}
	got, _ := LoadPolicy(kv)
	if got.Digest() != p2.Digest() {
		t.Error("policy not replaced")
	}
	l := j.Log()
	r, _ := l.Record(1)
	if r.Event != audit.EventPolicy || r.Actor != "alice" || r.Attrs["old-policy"] != p1.Digest() || r.Attrs["policy"] != p2.Digest() {
		t.Errorf("policy record = %+v", r)
	}
	if l.Size() != 2 {
		t.Errorf("refused change was logged: size %d", l.Size())
	}
	if rep, _ := VerifyStore(s, v); !rep.OK() {
		t.Errorf("VerifyStore: %v", rep.Problems)
	}
}

// Record on a store opened without a journal writes straight to the KV;
// Baseline logs the refs a store had before its log.
func TestRecordWithoutStoreJournalAndBaseline(t *testing.T) {
	signer, v := keys(t)
	kv := objstore.NewMemKV()
	old, _ := objstore.Init(kv, objstore.Options{})
	a, _ := commit(t, old, "refs/heads/main", "1")
	old.SetSymbolicRef("HEAD", "refs/heads/main")
	j, _ := Open(kv, signer)
	j.SetClock(func() time.Time { return time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC) })
	if rep, _ := VerifyStore(old, v); rep.OK() {
		t.Error("refs without a log verified")
	}
	if err := j.Baseline(old, "root"); err != nil {
		t.Fatal(err)
	}
	if err := j.Baseline(old, "root"); err != nil || j.Log().Size() != 1 {
		t.Fatalf("second baseline: %v, size %d", err, j.Log().Size())
	}
	r, _ := j.Log().Record(0)
	if r.Event != audit.EventBaseline || len(r.Refs) != 2 || r.Refs[1].New != a.String() || !r.Time.Equal(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("baseline = %+v", r)
	}
	if err := j.Record(old, audit.Record{Actor: "root", Event: audit.EventSearch, Attrs: map[string]string{"run": "r1"}}, nil); err != nil {
		t.Fatal(err)
	}
	if rep, _ := VerifyStore(old, v); !rep.OK() || rep.Records != 2 {
		t.Errorf("VerifyStore: %+v", rep)
	}
	// A failing extra or a failing write leaves the log as it was.
	if err := j.Record(old, audit.Record{Event: audit.EventKey}, func(*objstore.Batch) error { return errors.New("no") }); err == nil {
		t.Error("failing extra succeeded")
	}
	kv.FailWrites(errors.New("disk full"))
	if err := j.Record(old, audit.Record{Event: audit.EventKey}, nil); err == nil {
		t.Error("failing write succeeded")
	}
	kv.FailWrites(nil)
	if j.Log().Size() != 2 {
		t.Errorf("log size %d after failures, want 2", j.Log().Size())
	}
	if _, err := Open(kv, nil); !errors.Is(err, audit.ErrNoSigner) {
		t.Errorf("Open without signer: %v", err)
	}
	// Through a journaled store, Record goes under the store's lock.
	js, _ := objstore.Open(kv, objstore.Options{Journal: j})
	if err := j.Record(js, audit.Record{Actor: "x", Event: audit.EventSearch}, nil); err != nil || j.Log().Size() != 3 {
		t.Errorf("journaled Record: %v, size %d", err, j.Log().Size())
	}
	if err := j.Record(js, audit.Record{Event: "Bad"}, nil); err == nil {
		t.Error("bad record written")
	}
}

// A real crash: a child process commits in a loop and is killed; after
// reopening, every ref value is explained by the log and the log verifies.
func TestJournalCrashAtomicity(t *testing.T) {
	if os.Getenv("STOREAUDIT_CRASH_CHILD") != "" {
		crashChild()
		return
	}
	if testing.Short() {
		t.Skip("crash test")
	}
	dir := t.TempDir()
	skey, vkey, _ := note.GenerateKey(rand.Reader, "helios-crash")
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestJournalCrashAtomicity$")
		cmd.Env = append(os.Environ(), "STOREAUDIT_CRASH_CHILD="+dir, "STOREAUDIT_SKEY="+skey)
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it once it has made some commits (plus a random few more).
		sc := bufio.NewScanner(out)
		for sc.Scan() && !strings.Contains(sc.Text(), "committed 50") {
		}
		time.Sleep(time.Duration(round*7) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		kv, err := rocksdb.Open(dir, rocksdb.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := objstore.Open(kv, objstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := note.NewVerifier(vkey)
		rep, err := VerifyStore(s, v)
		if err != nil || !rep.OK() {
			t.Fatalf("round %d after kill: %v %v", round, err, rep.Problems)
		}
		t.Logf("round %d: %d records verified after SIGKILL", round, rep.Records)
		s.Close()
	}
}

func crashChild() {
	dir := os.Getenv("STOREAUDIT_CRASH_CHILD")
	signer, err := note.NewSigner(os.Getenv("STOREAUDIT_SKEY"))
	if err != nil {
		panic(err)
	}
	kv, err := rocksdb.Open(dir, rocksdb.Options{Create: true})
	if err != nil {
		panic(err)
	}
	j, err := Open(kv, signer)
	if err != nil {
		panic(err)
	}
	s, err := objstore.Init(kv, objstore.Options{Journal: j, Actor: "child"})
	if err != nil {
		panic(err)
	}
	for i := 0; ; i++ {
		ref := "refs/heads/b" + strconv.Itoa(i%7)
		if _, err := commit(nil, s, ref, strconv.Itoa(i)); err != nil {
			panic(err)
		}
		if i == 50 {
			fmt.Println("committed 50")
		}
	}
}

func BenchmarkCommit(b *testing.B) {
	for _, journaled := range []bool{false, true} {
		name := "plain"
		if journaled {
			name = "journaled"
		}
		b.Run("rocksdb/"+name, func(b *testing.B) {
			kv, err := rocksdb.Open(b.TempDir(), rocksdb.Options{Create: true})
			if err != nil {
				b.Fatal(err)
			}
			opts := objstore.Options{}
			if journaled {
				signer, _ := keys(b)
				j, _ := Open(kv, signer)
				opts.Journal = j
			}
			s, _ := objstore.Init(kv, opts)
			defer s.Close()
			d, _ := s.NewDraft(objstore.ZeroID)
			for i := 0; i < 1000; i++ {
				d.Put(fmt.Sprintf("d%d/f%d", i%20, i), objstore.ModeFile, []byte(strconv.Itoa(i)))
			}
			d.Commit(objstore.CommitOptions{Ref: "refs/heads/main", CreateRef: true})
			i := 0
			for b.Loop() {
				d.Put("d3/f3", objstore.ModeFile, []byte(strconv.Itoa(i)))
				i++
				if _, err := d.Commit(objstore.CommitOptions{Ref: "refs/heads/main"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
