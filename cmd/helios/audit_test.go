package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/audit/storeaudit"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
)

// journaledStore opens the store as openStore will once the journal is
// wired in: rocksdb, the audit journal, objstore.Open.
func journaledStore(t *testing.T, store string) (*objstore.Store, *storeaudit.Journal) {
	t.Helper()
	kv, err := rocksdb.Open(dbDir(store), rocksdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	j, err := auditJournal(store, kv)
	if err != nil {
		t.Fatal(err)
	}
	s, err := objstore.Open(kv, objstore.Options{Journal: j, Actor: localActor()})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Baseline(s, localActor()); err != nil {
		t.Fatal(err)
	}
	return s, j
}

func commitFile(t *testing.T, s *objstore.Store, ref, content string) objstore.ID {
	t.Helper()
	base, _, err := s.Resolve(ref)
	if err != nil && !errors.Is(err, objstore.ErrNotFound) {
		t.Fatal(err)
	}
	d, _ := s.NewDraft(base)
	d.Put("f.txt", objstore.ModeFile, []byte(content))
	id, err := d.Commit(objstore.CommitOptions{Ref: ref, CreateRef: base.IsZero()})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func auditedStore(t *testing.T) string {
	t.Helper()
	store := filepath.Join(t.TempDir(), "store")
	mustRun(t, "init", "--store", store, "-q")
	s, _ := journaledStore(t, store)
	commitFile(t, s, "refs/heads/main", "one")
	commitFile(t, s, "refs/heads/main", "two")
	commitFile(t, s, "refs/heads/dev", "three")
	s.Close()
	return store
}

func TestAuditCommands(t *testing.T) {
	store := auditedStore(t)
	out := mustRun(t, "audit", "log", "--store", store)
	if !strings.Contains(out, "#0 ") || !strings.Contains(out, "baseline") || !strings.Contains(out, "refs/heads/dev created at b3:") || !strings.Contains(out, "#3 ") {
		t.Errorf("audit log:\n%s", out)
	}
	out = mustRun(t, "audit", "log", "--store", store, "--json", "--from", "1", "--limit", "1")
	var rj recordJSON
	if err := json.Unmarshal([]byte(out), &rj); err != nil || rj.Index != 1 || rj.Event != audit.EventRef || rj.Refs[0].Name != "refs/heads/main" || rj.Actor != localActor() {
		t.Errorf("audit log --json = %q (%v)", out, err)
	}
	if out := mustRun(t, "audit", "verify", "--store", store); !strings.Contains(out, "4 records") || !strings.HasSuffix(out, "ok\n") {
		t.Errorf("audit verify:\n%s", out)
	}
	out = mustRun(t, "audit", "verify", "--store", store, "--json")
	if !strings.Contains(out, `"ok":true`) {
		t.Errorf("audit verify --json: %s", out)
	}
	if out := mustRun(t, "audit", "prove", "--store", store, "--record", "2"); !strings.Contains(out, "record 2") || !strings.HasSuffix(out, "verified\n") {
		t.Errorf("prove --record:\n%s", out)
	}
	if out := mustRun(t, "audit", "prove", "--store", store, "--record", "0", "--size", "2", "--json"); !strings.Contains(out, `"kind":"inclusion"`) || !strings.Contains(out, `"size":2`) {
		t.Errorf("prove --record --json: %s", out)
	}
	if out := mustRun(t, "audit", "prove", "--store", store, "--from-size", "1", "--to-size", "3"); !strings.Contains(out, "prefix") || !strings.HasSuffix(out, "verified\n") {
		t.Errorf("prove --from-size:\n%s", out)
	}
	if out := mustRun(t, "audit", "prove", "--store", store, "--from-size", "2", "--json"); !strings.Contains(out, `"kind":"consistency"`) {
		t.Errorf("prove consistency --json: %s", out)
	}
	for _, args := range [][]string{{}, {"--record", "9"}, {"--from-size", "5"}, {"--record", "1", "--size", "1"}} {
		if _, _, err := run(t, append([]string{"audit", "prove", "--store", store}, args...)...); err == nil {
			t.Errorf("prove %v succeeded", args)
		}
	}
	cp := mustRun(t, "audit", "checkpoint", "--store", store)
	if !strings.Contains(cp, "\n4\n") || !strings.Contains(cp, "— helios-") {
		t.Errorf("checkpoint:\n%s", cp)
	}

	// The client side: keep the checkpoint, then see the log grow.
	vkey, _ := os.ReadFile(filepath.Join(store, audit.VerifierKeyFile))
	kept := audit.CheckpointPath(t.TempDir(), store)
	s, j := journaledStore(t, store)
	if _, err := audit.CheckConsistency(kept, string(vkey), []byte(cp), j.Log()); err != nil {
		t.Fatal(err)
	}
	commitFile(t, s, "refs/heads/main", "four")
	latest, _ := j.Log().Checkpoint()
	if got, err := audit.CheckConsistency(kept, string(vkey), latest, j.Log()); err != nil || got.Size != 5 {
		t.Fatalf("after a commit: %+v %v", got, err)
	}
	s.Close()
}

// Edit a record in the database: verify exits 1 and names it.
func TestAuditVerifyFailsOnTamper(t *testing.T) {
	store := auditedStore(t)
	kv, err := rocksdb.Open(dbDir(store), rocksdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("al\x00\x00\x00\x00\x00\x00\x00\x02")
	v, err := kv.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	var b objstore.Batch
	b.Put(key, []byte(strings.Replace(string(v), localActor(), "mallory", 1)))
	kv.Write(&b, true)
	kv.Close()
	out, _, err := run(t, "audit", "verify", "--store", store)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || exitCode(err) != 1 {
		t.Fatalf("verify of a tampered log: %v\n%s", err, out)
	}
	if !strings.Contains(out, "problem: ") || !strings.Contains(out, "checkpoint root") {
		t.Errorf("verify output:\n%s", out)
	}
	// A pinned key that is not the store's fails too.
	other := t.TempDir()
	_, vkey, _ := audit.GenerateKeys(other, "helios-other")
	if _, _, err := run(t, "audit", "verify", "--store", auditedStore(t), "--key", vkey); err == nil {
		t.Error("verify with a foreign key succeeded")
	}
}

func TestPolicyCommands(t *testing.T) {
	store := auditedStore(t)
	me := localActor()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	if _, _, err := run(t, "policy", "show", "--store", store); err == nil {
		t.Error("policy show without a policy succeeded")
	}
	if _, _, err := run(t, "policy", "explain", "--store", store, "--user", "x", "--ref", "main", "--op", "read"); err == nil {
		t.Error("explain without a policy succeeded")
	}
	p1 := write("p1", "role maintainer "+me+"\nrole developer bob\nrole auditor dave\nallow RWFD refs/** @maintainer\ndeny + refs/heads/main *\nallow RW refs/heads/** @developer\n")
	if out := mustRun(t, "policy", "set", "--store", store, p1); !strings.Contains(out, "policy sha256:") {
		t.Errorf("policy set said %q", out)
	}
	if out := mustRun(t, "policy", "show", "--store", store); !strings.Contains(out, "role developer bob") {
		t.Errorf("policy show:\n%s", out)
	}
	if out := mustRun(t, "policy", "show", "--store", store, "--json"); !strings.Contains(out, `"digest":"sha256:`) {
		t.Errorf("policy show --json: %s", out)
	}
	for _, tc := range []struct{ user, ref, op, want string }{
		{"bob", "main", "force", "deny: bob ([developer]) force refs/heads/main: rule 2 (line 5: deny + refs/heads/main *) denies it"},
		{"bob", "refs/heads/x", "write", "allow: bob ([developer]) write refs/heads/x: rule 3"},
		{"dave", "main", "write", "deny: dave ([auditor]) write refs/heads/main: built-in: an auditor can never"},
		{"eve", "main", "read", "deny: eve (no role) read refs/heads/main: no rule matches: denied by default"},
	} {
		out := mustRun(t, "policy", "explain", "--store", store, "--user", tc.user, "--ref", tc.ref, "--op", tc.op)
		if !strings.HasPrefix(out, tc.want) {
			t.Errorf("explain %s %s %s:\n got %q\nwant %q", tc.user, tc.op, tc.ref, out, tc.want)
		}
	}
	out := mustRun(t, "policy", "explain", "--file", p1, "--user", "bob", "--ref", "main", "--op", "W", "--json")
	if !strings.Contains(out, `"allow":true`) || !strings.Contains(out, `"line":6`) {
		t.Errorf("explain --json: %s", out)
	}
	if _, _, err := run(t, "policy", "explain", "--store", store, "--user", "bob", "--ref", "main", "--op", "push"); err == nil {
		t.Error("explain with a bad op succeeded")
	}
	// Hand the store to another maintainer; then this user may not set it.
	p2 := write("p2", "role maintainer alice\nallow RWFD refs/** @maintainer\n")
	mustRun(t, "policy", "set", "--store", store, "-q", p2)
	_, _, err := run(t, "policy", "set", "--store", store, p1)
	var de *audit.DeniedError
	if !errors.As(err, &de) || de.Subject != me {
		t.Fatalf("policy set by a non-maintainer: %v", err)
	}
	if _, _, err := run(t, "policy", "set", "--store", store, write("bad", "role maintainer\n")); err == nil {
		t.Error("bad policy accepted")
	}
	if _, _, err := run(t, "policy", "set", "--store", store); err == nil {
		t.Error("policy set without a file succeeded")
	}
	// Both changes are in the log, and the log verifies.
	out = mustRun(t, "audit", "log", "--store", store)
	if strings.Count(out, " policy\n") != 2 || !strings.Contains(out, "old-policy: sha256:") {
		t.Errorf("policy changes not logged:\n%s", out)
	}
	mustRun(t, "audit", "verify", "--store", store)
}
