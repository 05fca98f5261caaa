package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/helios-vcs/helios/objstore/server"
	"github.com/helios-vcs/helios/objstore/server/tlstest"
)

// servedProcess is a `helios serve --listen` process (this test binary as
// helios) and the lines of its stderr.
type servedProcess struct {
	cmd   *exec.Cmd
	addr  string
	lines chan string
}

func startServeProcess(t *testing.T, args ...string) *servedProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = os.Environ()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &servedProcess{cmd: cmd, lines: make(chan string, 100)}
	exited := make(chan error, 1)
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "helios serve: TLS on "); ok {
				addr <- a
			}
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
	})
	select {
	case p.addr = <-addr:
		return p
	case err := <-exited:
		t.Fatalf("helios serve exited: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("helios serve did not listen within a minute")
	}
	return nil
}

// waitFor waits for a stderr line containing s.
func (p *servedProcess) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l := <-p.lines:
			if strings.Contains(l, s) {
				return
			}
		case <-deadline:
			t.Fatalf("helios serve did not log %q", s)
		}
	}
}

// TestServeTLSReload: helios serve --listen with --client-crl reloads its
// certificate, key, client CA and CRL on SIGHUP without dropping open
// connections: a client certificate revoked by the new CRL is refused, a
// rotated server certificate is what new clients get.
func TestServeTLSReload(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "s")
	mustRun(t, "init", "--store", store, "-q")
	pki := t.TempDir()
	certs, err := tlstest.Generate(pki, "alice", "bob")
	if err != nil {
		t.Fatal(err)
	}
	live := t.TempDir()
	cert, key, crl := filepath.Join(live, "cert.pem"), filepath.Join(live, "key.pem"), filepath.Join(live, "crl.pem")
	tlstest.Replace(t, certs.ServerCert, cert)
	tlstest.Replace(t, certs.ServerKey, key)
	if err := tlstest.CRL(pki, crl, 1); err != nil {
		t.Fatal(err)
	}
	p := startServeProcess(t, "--store", store, "--tls-cert", cert, "--tls-key", key,
		"--client-ca", certs.CA, "--client-crl", crl, "--tls-reload-every", "0")
	as := func(user, ca string) server.TLSClientOptions {
		return server.TLSClientOptions{CAFile: ca, CertFile: certs.ClientCert[user], KeyFile: certs.ClientKey[user]}
	}
	early, err := server.DialTLS(p.addr, as("bob", certs.CA))
	if err != nil {
		t.Fatalf("bob before the revocation: %v", err)
	}
	defer early.Close()

	if err := tlstest.CRL(pki, crl, 2, certs.ClientCert["bob"]); err != nil {
		t.Fatal(err)
	}
	newCA, newCert, newKey, err := tlstest.ServerCert(t.TempDir(), "ca2")
	if err != nil {
		t.Fatal(err)
	}
	tlstest.Replace(t, newCert, cert)
	tlstest.Replace(t, newKey, key)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "TLS credentials reloaded (SIGHUP): 1 revoked client certificates")

	if c, err := server.DialTLS(p.addr, as("bob", newCA)); err == nil {
		c.Close()
		t.Fatal("bob's revoked certificate was accepted after SIGHUP")
	}
	if c, err := server.DialTLS(p.addr, as("alice", certs.CA)); err == nil {
		c.Close()
		t.Fatal("the old server certificate was still served after SIGHUP")
	}
	alice, err := server.DialTLS(p.addr, as("alice", newCA))
	if err != nil {
		t.Fatalf("alice with the rotated server certificate: %v", err)
	}
	if _, err := alice.Status(); err != nil {
		t.Fatal(err)
	}
	alice.Close()
	if _, err := early.Status(); err != nil {
		t.Errorf("the connection opened before SIGHUP was dropped: %v", err)
	}

	// A broken set is refused and the server keeps serving.
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor(t, "TLS reload (SIGHUP) failed, keeping the credentials in force")
	if c, err := server.DialTLS(p.addr, as("alice", newCA)); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	} else {
		c.Close()
	}
}

// TestServeFailLimit: helios serve --fail-limit: an address that keeps
// presenting bad tokens is refused, even with a good certificate, while a
// client from another address gets in; the refusal is logged.
func TestServeFailLimit(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "s")
	mustRun(t, "init", "--store", store, "-q")
	certs, err := tlstest.Generate(t.TempDir(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	p := startServeProcess(t, "--store", store, "--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey,
		"--client-ca", certs.CA, "--fail-limit", "2", "--fail-refill", "1h")
	alice := func(ip string) server.TLSClientOptions {
		return server.TLSClientOptions{CAFile: certs.CA, CertFile: certs.ClientCert["alice"], KeyFile: certs.ClientKey["alice"], LocalIP: ip}
	}
	for i := range 2 {
		if _, err := server.DialTLS(p.addr, server.TLSClientOptions{CAFile: certs.CA, Token: "not-a-token", LocalIP: "127.0.0.2"}); err == nil {
			t.Fatalf("bad token %d accepted", i+1)
		}
	}
	if c, err := server.DialTLS(p.addr, alice("127.0.0.2")); err == nil {
		c.Close()
		t.Fatal("a good certificate from an address over its failure limit got in")
	}
	c, err := server.DialTLS(p.addr, alice("127.0.0.1"))
	if err != nil {
		t.Fatalf("a good client from another address: %v", err)
	}
	if _, err := c.Status(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	p.waitFor(t, "rate limit: refusing connections from ip:127.0.0.2")
}
