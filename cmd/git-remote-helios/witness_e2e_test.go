package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helios-vcs/helios/cmd/internal/storedir"
	"github.com/helios-vcs/helios/objstore/server/tlstest"
)

// heliosEnv runs the helios executable with the test's environment (in
// served mode its commands go through the store's server).
func (e *e2e) heliosEnv(extraEnv []string, args ...string) (string, error) {
	cmd := exec.Command(buildHelios(e.t), args...)
	cmd.Dir = e.home
	cmd.Env = append(append([]string(nil), e.env...), extraEnv...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *e2e) heliosOK(args ...string) string {
	e.t.Helper()
	out, err := e.heliosEnv(nil, args...)
	if err != nil {
		e.t.Fatalf("helios %v: %v\n%s", args, err, out)
	}
	return out
}

// TestWitness: a store with a witness. A client that requires the witness
// refuses the store until the witness has cosigned; pushes and fetches
// then work (the log may run ahead of the last cosigned checkpoint); a
// store rewritten into another history signed with the same key is refused
// by the witness, and by a client that requires the latest checkpoint to
// be cosigned.
func TestWitness(t *testing.T) { eachMode(t, testWitness) }

func testWitness(t *testing.T, e *e2e) {
	if _, err := storedir.Signer(e.store); err != nil { // an audited store
		t.Fatal(err)
	}
	key := filepath.Join(e.home, "w1.key")
	vkey := strings.TrimSpace(e.heliosOK("audit", "witness", "init", "--name", "witness.example/w1", "--key-file", key))
	if !strings.HasPrefix(vkey, "witness.example/w1+") {
		t.Fatalf("witness init printed %q", vkey)
	}
	requireW1 := []string{"HELIOS_WITNESSES=" + key + ".pub"}
	cosign := func() string {
		t.Helper()
		return e.heliosOK("audit", "witness", "cosign", "--store", e.store, "--key-file", key)
	}

	// A client that requires a witness refuses a store with no log (or
	// only the baseline a server records on opening it) at all.
	if out, err := e.run(e.home, requireW1, "", "ls-remote", "helios::"+e.store); err == nil ||
		!strings.Contains(out, "keeps no audit log") && !strings.Contains(out, "not witnessed") {
		t.Fatalf("ls-remote of an unwitnessed empty store: err %v, output %q", err, out)
	}

	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	e.commit(src, "one", map[string]string{"f": "1\n"})
	e.git(src, "remote", "add", "origin", "helios::"+e.store)
	e.push(src, "-q", "origin", "main")

	// No cosignature yet: a client that requires w1 refuses the store.
	out, err := e.run(e.home, requireW1, "", "clone", "-q", "helios::"+e.store, filepath.Join(e.home, "early"))
	if err == nil || !strings.Contains(out, "not witnessed") {
		t.Fatalf("clone requiring an absent cosignature: err %v, output %q", err, out)
	}
	// A refused contact keeps nothing (no pinned key or checkpoint).
	probe := filepath.Join(e.home, "probe")
	e.git(e.home, "init", "-q", probe)
	if out, err := e.run(probe, requireW1, "", "fetch", "helios::"+e.store); err == nil {
		t.Fatalf("fetch requiring an absent cosignature succeeded: %s", out)
	}
	if kept, _ := filepath.Glob(filepath.Join(probe, ".git", "helios", "checkpoints", "*")); len(kept) != 0 {
		t.Fatalf("a refused contact left %v", kept)
	}
	// A witness the store does not list cannot store a cosignature.
	if out, err := e.heliosEnv(nil, "audit", "witness", "cosign", "--store", e.store, "--key-file", key); err == nil {
		t.Fatalf("cosign for a store that lists no witnesses succeeded: %s", out)
	}
	os.RemoveAll(key + ".state") // that attempt pinned the log: start afresh

	e.heliosOK("witness", "add", "--store", e.store, key+".pub")
	if out := e.heliosOK("witness", "list", "--store", e.store); !strings.Contains(out, vkey) {
		t.Fatalf("witness list: %q", out)
	}
	if out := cosign(); !strings.Contains(out, "cosigned by: witness.example/w1") {
		t.Fatalf("cosign: %q", out)
	}
	if out := e.heliosOK("audit", "checkpoint", "--store", e.store, "--cosigned"); !strings.Contains(out, "\n— witness.example/w1 ") {
		t.Fatalf("the cosigned checkpoint lacks the cosignature line: %q", out)
	}
	if out, err := e.run(e.home, requireW1, "", "ls-remote", "helios::"+e.store); err != nil || !strings.Contains(out, "refs/heads/main") {
		t.Fatalf("ls-remote (nowhere to keep a checkpoint) of a witnessed store: %v\n%s", err, out)
	}
	witnessed := filepath.Join(e.home, "witnessed")
	if out, err := e.run(e.home, requireW1, "", "clone", "-q", "helios::"+e.store, witnessed); err != nil {
		t.Fatalf("clone of a witnessed store: %v\n%s", err, out)
	}
	// A clone that brings no list pins the store's on first contact.
	pinned := filepath.Join(e.home, "pinned")
	e.git(e.home, "clone", "-q", "helios::"+e.store, pinned)
	if p, _ := filepath.Glob(filepath.Join(pinned, ".git", "helios", "checkpoints", "*.witnesses")); len(p) != 1 {
		t.Fatalf("the clone pinned %d witness lists, want 1", len(p))
	}

	// Push and fetch ahead of the witness: fine.
	e.commit(src, "two", map[string]string{"f": "2\n"})
	e.push(src, "-q", "origin", "main")
	if out, err := e.run(witnessed, requireW1, "", "fetch", "-q", "origin"); err != nil {
		t.Fatalf("fetch one push ahead of the witness: %v\n%s", err, out)
	}
	e.git(pinned, "fetch", "-q", "origin")
	cosign()
	if out := e.heliosOK("audit", "verify", "--store", e.store, "--witnesses", key+".pub"); !strings.Contains(out, "witnessed: 1 of 1 witnesses (quorum 1) vouch for the first") {
		t.Fatalf("audit verify: %q", out)
	}
	other := filepath.Join(e.home, "w2.key")
	e.heliosOK("audit", "witness", "init", "--name", "w2", "--key-file", other)
	if out, err := e.heliosEnv(nil, "audit", "verify", "--store", e.store, "--witnesses", other+".pub"); err == nil || !strings.Contains(out, "problem: witnesses:") {
		t.Fatalf("audit verify requiring a witness that never cosigned: %v\n%s", err, out)
	}

	// Fork: keep a copy, let the real store move on and be witnessed, then
	// give the copy another history (same signing key) and swap it in.
	e.stopServer()
	fork := filepath.Join(e.home, "fork")
	if out, err := exec.Command("cp", "-a", e.store, fork).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	e.commit(src, "three", map[string]string{"f": "3\n"})
	e.push(src, "-q", "origin", "main")
	cosign()
	e.git(pinned, "fetch", "-q", "origin")
	e.stopServer()

	evil := filepath.Join(e.home, "evil")
	e.git(e.home, "clone", "-q", "-b", "main", src, evil)
	e.git(evil, "reset", "-q", "--hard", "HEAD~1")
	e.commit(evil, "evil", map[string]string{"f": "evil\n"})
	e.git(evil, "remote", "add", "fork", "helios::"+fork)
	if out, err := e.run(evil, nil, "", "push", "-q", "-f", "fork", "main"); err != nil {
		t.Fatalf("push to the fork: %v\n%s", err, out)
	}
	stopServerAt(t, e, fork)
	os.RemoveAll(e.store)
	if err := os.Rename(fork, e.store); err != nil {
		t.Fatal(err)
	}
	out, err = e.heliosEnv(nil, "audit", "witness", "cosign", "--store", e.store, "--key-file", key)
	if err == nil || !strings.Contains(out, "refusing to cosign") {
		t.Fatalf("cosign of a forked log: err %v, output %q", err, out)
	}
	// A fresh client that requires the latest checkpoint to be cosigned
	// refuses the fork: no witness will cosign it.
	out, err = e.run(e.home, append(requireW1, "HELIOS_WITNESS_STRICT=1"), "", "clone", "-q", "helios::"+e.store, filepath.Join(e.home, "victim"))
	if err == nil || !strings.Contains(out, "not witnessed") {
		t.Fatalf("strict clone of a fork: err %v, output %q", err, out)
	}
	// And a clone that saw the real history past the fork point refuses
	// it too (its kept checkpoint).
	if out := e.gitFail(pinned, "fetch", "origin"); !strings.Contains(out, "does not extend") {
		t.Fatalf("fetch of the fork: %q", out)
	}
}

// stopServerAt stops a server of another store directory in served mode.
func stopServerAt(t *testing.T, e *e2e, dir string) {
	if !e.served {
		return
	}
	if err := storedir.StopServer(dir, time.Minute); err != nil {
		t.Logf("stop server at %s: %v", dir, err)
	}
}

// TestTLSWitness: a witness cosigns a store served on TLS through the
// listener (as an auditor, by client certificate), and git over
// helios::tls:// requires its cosignature; a witness the store does not
// list cannot store one.
func TestTLSWitness(t *testing.T) {
	e := newE2E(t)
	bin := buildHelios(t)
	if _, err := storedir.Signer(e.store); err != nil {
		t.Fatal(err)
	}
	certs, err := tlstest.Generate(t.TempDir(), "alice", "w1", "w2")
	if err != nil {
		t.Fatal(err)
	}
	key1, key2 := filepath.Join(e.home, "w1.key"), filepath.Join(e.home, "w2.key")
	for name, key := range map[string]string{"w1": key1, "w2": key2} {
		if out, err := e.helios(bin, "audit", "witness", "init", "--name", name, "--key-file", key); err != nil {
			t.Fatalf("witness init: %v\n%s", err, out)
		}
	}
	if out, err := e.helios(bin, "witness", "add", "--store", e.store, key1+".pub"); err != nil {
		t.Fatalf("witness add: %v\n%s", err, out)
	}
	// After the witnesses: once a policy exists, only its maintainers change them.
	policy := filepath.Join(e.home, "policy")
	writeFile(t, policy, "role maintainer alice\nrole auditor w1\nrole auditor w2\nallow RWFD refs/** @maintainer\n")
	if out, err := e.helios(bin, "policy", "set", "--store", e.store, policy); err != nil {
		t.Fatalf("policy set: %v\n%s", err, out)
	}
	if out, err := e.helios(bin, "witness", "add", "--store", e.store, key2+".pub"); err == nil || !strings.Contains(out, "takes a maintainer") {
		t.Fatalf("witness add by a non-maintainer: %v\n%s", err, out)
	}

	addr, as := e.serveTLS(t, bin, certs)
	cosign := func(user, key string) (string, error) {
		c := exec.Command(bin, "audit", "witness", "cosign", "--store", "tls://"+addr, "--key-file", key)
		c.Env = append(append([]string(nil), e.env...), as(user)...)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	url := "helios::tls://" + addr
	alice := append(as("alice"), "HELIOS_WITNESSES="+key1+".pub")

	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	e.commit(src, "one", map[string]string{"f": "1\n"})
	if out, err := e.run(src, alice, "", "push", url, "main"); err == nil || !strings.Contains(out, "not witnessed") {
		t.Fatalf("push before any cosignature: %v\n%s", err, out)
	}
	if out, err := cosign("w1", key1); err != nil || !strings.Contains(out, "cosigned by: w1") {
		t.Fatalf("w1 cosigns over TLS: %v\n%s", err, out)
	}
	if out, err := cosign("w2", key2); err == nil || !strings.Contains(out, "no cosignature of a witness the store lists") {
		t.Fatalf("w2, not listed, cosigns: %v\n%s", err, out)
	}
	if out, err := e.run(src, alice, "", "push", url, "main"); err != nil {
		t.Fatalf("push after the cosignature: %v\n%s", err, out)
	}
	if out, err := cosign("w1", key1); err != nil {
		t.Fatalf("w1 cosigns the push: %v\n%s", err, out)
	}
	strict := append(append([]string(nil), alice...), "HELIOS_WITNESS_STRICT=1")
	if out, err := e.run(e.home, strict, "", "clone", "-q", url, filepath.Join(e.home, "clone")); err != nil {
		t.Fatalf("strict clone of a witnessed store: %v\n%s", err, out)
	}
}
