package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helios-vcs/helios/objstore/server"
	"github.com/helios-vcs/helios/objstore/server/tlstest"
)

// TestTLSRemote: git clones from and pushes to a store served on TLS
// (helios::tls://HOST:PORT) with a client certificate, under the store's
// policy: a developer's push to a branch lands, a force of main is refused
// with the rule, and a client without credentials is refused.
func TestTLSRemote(t *testing.T) {
	e := newE2E(t)
	bin := buildHelios(t)
	certs, err := tlstest.Generate(t.TempDir(), "alice", "bob")
	if err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(e.home, "policy")
	writeFile(t, policy, "role maintainer alice\nrole developer bob\n"+
		"allow RWFD refs/**         @maintainer\n"+
		"deny  FD   refs/heads/main *\n"+
		"allow RW+  refs/heads/**   @developer\n"+
		"allow R    refs/**         *\n")
	if out, err := e.helios(bin, "policy", "set", "--store", e.store, policy); err != nil {
		t.Fatalf("policy set: %v\n%s", err, out)
	}
	addr, as := e.serveTLS(t, bin, certs)
	url := "helios::tls://" + addr
	git := func(dir string, env []string, args ...string) (string, error) { return e.run(dir, env, "", args...) }

	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	e.commit(src, "one", map[string]string{"f": "1\n", "dir/g": "g\n"})
	if out, err := git(src, as("alice"), "push", url, "main"); err != nil {
		t.Fatalf("alice pushes main: %v\n%s", err, out)
	}
	e.commit(src, "two", map[string]string{"f": "2\n"})
	if out, err := git(src, as("bob"), "push", url, "main:refs/heads/topic"); err != nil {
		t.Fatalf("bob pushes a branch: %v\n%s", err, out)
	}
	if out, err := git(src, as("alice"), "push", url, "main"); err != nil {
		t.Fatalf("alice pushes main again: %v\n%s", err, out)
	}
	e.git(src, "commit", "-q", "--amend", "-m", "two, rewritten")
	out, err := git(src, as("bob"), "push", "--force", url, "main")
	if err == nil || !strings.Contains(out, "[remote rejected] main -> main") || !strings.Contains(out, "refs/heads/main") {
		t.Errorf("bob's force push of main: %v\n%s", err, out)
	}
	clone := filepath.Join(e.home, "clone")
	if out, err := git(e.home, as("bob"), "clone", "-q", url, clone); err != nil {
		t.Fatalf("clone over TLS: %v\n%s", err, out)
	}
	e.git(clone, "fsck", "--full", "--strict")
	if got := e.git(clone, "rev-parse", "origin/topic"); got != e.git(clone, "rev-parse", "origin/main") || got != e.git(src, "rev-parse", "HEAD@{1}") {
		t.Errorf("clone's topic %s is not what bob pushed", got)
	}
	if out, err := git(e.home, []string{server.EnvCAFile + "=" + certs.CA}, "ls-remote", url); err == nil || !strings.Contains(out, "denied") {
		t.Errorf("a client without a certificate or token: %v\n%s", err, out)
	}
}

// serveTLS runs bin's helios serve on the store with a TLS listener on a
// free local port (certs' server certificate, client certificates from its
// CA), stopped when the test ends, and returns its address and the
// environment that makes a client the user of certs.ClientCert[user].
func (e *e2e) serveTLS(t *testing.T, bin string, certs tlstest.Files) (addr string, as func(user string) []string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--store", e.store, "--listen", "127.0.0.1:0",
		"--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey, "--client-ca", certs.CA)
	cmd.Env = e.env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "helios serve: TLS on "); ok {
				addrc <- a
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
	})
	select {
	case addr = <-addrc:
	case <-time.After(time.Minute):
		t.Fatal("helios serve did not listen")
	}
	return addr, func(user string) []string {
		return []string{server.EnvCAFile + "=" + certs.CA, server.EnvClientCert + "=" + certs.ClientCert[user], server.EnvClientKey + "=" + certs.ClientKey[user]}
	}
}
