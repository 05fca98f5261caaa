package main

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/audit/serveauth"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/server"
	"github.com/helios-vcs/helios/objstore/server/tlstest"
)

const tlsPolicy = `
role maintainer alice
role developer bob
allow RWFD refs/**          @maintainer
deny  FD   refs/heads/main  *
allow RW+  refs/heads/**    @developer
allow R    refs/**          *
`

// startTLSServe runs `helios serve --listen 127.0.0.1:0 ...` (this test
// binary as helios) and returns the TLS address it listens on.
func startTLSServe(t *testing.T, store string, certs tlstest.Files) string {
	t.Helper()
	return startServeProcess(t, "--store", store,
		"--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey, "--client-ca", certs.CA).addr
}

// TestServeTLS runs helios serve with a TLS listener as its own process:
// TLS below 1.2 is refused, 1.2 and 1.3 work, a client without a
// certificate or token is refused; a developer's token cannot force or
// delete the protected branch (refused and audited) but can push
// elsewhere; a maintainer's certificate manages tokens remotely and a
// revocation cuts an open connection off; the audit log records it all
// and verifies.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "s")
	wt := filepath.Join(dir, "wt")
	writeFiles(t, wt, map[string]string{"f": "1\n"})
	mustRun(t, "init", "--store", store, "-q")
	mustRun(t, "snapshot", "--store", store, "--dir", wt, "--ref", "main", "-q")
	writeFiles(t, wt, map[string]string{"f": "2\n"})
	mustRun(t, "snapshot", "--store", store, "--dir", wt, "--ref", "main", "-q")
	writeFiles(t, dir, map[string]string{"policy": tlsPolicy})
	mustRun(t, "policy", "set", "--store", store, "-q", filepath.Join(dir, "policy"))
	// A token for bob, made with no server running (the store opened here).
	var nt serveauth.NewToken
	if err := json.Unmarshal([]byte(mustRun(t, "token", "add", "--store", store, "--user", "bob", "--expires", "1h", "--note", "ci", "--json")), &nt); err != nil {
		t.Fatal(err)
	}
	certs, err := tlstest.Generate(t.TempDir(), "alice", "bob")
	if err != nil {
		t.Fatal(err)
	}
	addr := startTLSServe(t, store, certs)
	alice := server.TLSClientOptions{CAFile: certs.CA, CertFile: certs.ClientCert["alice"], KeyFile: certs.ClientKey["alice"]}

	// Versions.
	old := alice
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if c, err := server.DialTLS(addr, old); err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 client connected")
	}
	for _, max := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		o := alice
		o.MaxVersion = max
		c, err := server.DialTLS(addr, o)
		if err != nil {
			t.Fatalf("TLS %s client: %v", tls.VersionName(max), err)
		}
		if _, err := c.Status(); err != nil {
			t.Errorf("TLS %s client: status: %v", tls.VersionName(max), err)
		}
		c.Close()
	}
	if _, err := server.DialTLS(addr, server.TLSClientOptions{CAFile: certs.CA}); !errors.Is(err, server.ErrDenied) {
		t.Fatalf("client without certificate or token: got %v, want ErrDenied", err)
	}

	// bob, by token.
	bob, err := server.DialTLS(addr, server.TLSClientOptions{CAFile: certs.CA, Token: nt.Text})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	s2, _, err := bob.Resolve("refs/heads/main")
	if err != nil {
		t.Fatal(err)
	}
	st, err := bob.State(s2)
	if err != nil || len(st.Parents) != 1 {
		t.Fatalf("state of main: %v %v", st, err)
	}
	s1 := st.Parents[0]
	if err := bob.UpdateRefs(false, objstore.RefUpdate{Name: "refs/heads/main", Old: s2, New: s1}); !errors.Is(err, server.ErrDenied) || !strings.Contains(err.Error(), "deny FD refs/heads/main") {
		t.Errorf("bob rewinds main: got %v, want ErrDenied naming the rule", err)
	}
	if err := bob.UpdateRefs(false, objstore.RefUpdate{Name: "refs/heads/main", Old: s2}); !errors.Is(err, server.ErrDenied) {
		t.Errorf("bob deletes main: got %v, want ErrDenied", err)
	}
	if err := bob.UpdateRefs(false, objstore.RefUpdate{Name: "refs/heads/topic", New: s1}); err != nil {
		t.Errorf("bob creates topic: %v", err)
	}
	if err := bob.Stop(); !errors.Is(err, server.ErrDenied) {
		t.Errorf("bob stops the server: got %v, want ErrDenied", err)
	}
	if _, err := bob.Checkout(filepath.Join(dir, "elsewhere"), s1, objstore.CheckoutOptions{}); !errors.Is(err, server.ErrDenied) {
		t.Errorf("bob checks out on the server's disk: got %v, want ErrDenied", err)
	}

	// alice, by certificate, manages tokens over TLS with the CLI.
	t.Setenv(server.EnvCAFile, certs.CA)
	t.Setenv(server.EnvClientCert, certs.ClientCert["alice"])
	t.Setenv(server.EnvClientKey, certs.ClientKey["alice"])
	remote := "tls://" + addr
	if out := mustRun(t, "token", "list", "--remote", remote); !strings.Contains(out, nt.Token.ID) || !strings.Contains(out, "bob") || strings.Contains(out, nt.Text) {
		t.Errorf("token list: got %q, want bob's token %s without its secret", out, nt.Token.ID)
	}
	mustRun(t, "token", "revoke", "--remote", remote, nt.Token.ID)
	if _, err := bob.Refs(""); !errors.Is(err, server.ErrDenied) {
		t.Errorf("bob's open connection after the revocation: got %v, want ErrDenied", err)
	}
	if _, err := server.DialTLS(addr, server.TLSClientOptions{CAFile: certs.CA, Token: nt.Text}); !errors.Is(err, server.ErrDenied) {
		t.Errorf("a revoked token connects: got %v, want ErrDenied", err)
	}
	// bob's certificate is not a maintainer's: no token changes.
	t.Setenv(server.EnvClientCert, certs.ClientCert["bob"])
	t.Setenv(server.EnvClientKey, certs.ClientKey["bob"])
	if _, _, err := run(t, "token", "add", "--remote", remote, "--user", "bob", "--expires", "1h"); !errors.Is(err, server.ErrDenied) {
		t.Errorf("bob makes a token: got %v, want ErrDenied", err)
	}

	// A policy change by the owner, who is no maintainer of this policy,
	// goes to the running server and is refused there; the TLS server
	// keeps running (it is not stopped to hand the database over).
	if _, _, err := run(t, "policy", "set", "--store", store, filepath.Join(dir, "policy")); err == nil || !strings.Contains(err.Error(), "may not policy-set") {
		t.Errorf("owner sets the policy: got %v, want a refusal by the policy", err)
	}
	if c, err := server.DialTLS(addr, alice); err != nil {
		t.Errorf("the TLS server after a policy change: %v", err)
	} else {
		c.Close()
	}

	stopServe(t, store)
	var events []string
	var deniedForce bool
	for _, line := range strings.Split(strings.TrimSpace(mustRun(t, "audit", "log", "--store", store, "--json")), "\n") {
		var r struct {
			Actor string            `json:"actor"`
			Event string            `json:"event"`
			Attrs map[string]string `json:"attrs"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		events = append(events, r.Actor+":"+r.Event+":"+r.Attrs["op"]+r.Attrs["action"])
		if r.Event == "denied" && r.Attrs["op"] == "force" {
			deniedForce = r.Actor == "bob" && r.Attrs["ref"] == "refs/heads/main" && r.Attrs["via"] == "token" &&
				r.Attrs["token"] == nt.Token.ID && strings.Contains(r.Attrs["reason"], "deny FD")
		}
	}
	got := strings.Join(events, " ")
	if i := strings.Index(got, ":policy: "); i >= 0 {
		got = got[i+len(":policy: "):] // after the snapshots and the policy
	}
	want := "root:token:add bob:denied:force bob:denied:delete bob:ref: bob:denied:stop bob:denied:checkout alice:token:revoke bob:denied:admin root:denied:admin"
	if u := localActor(); u != "root" {
		want = strings.ReplaceAll(want, "root:", u+":")
	}
	if got != want || !deniedForce {
		t.Errorf("audit events: got %q, want %q (force denial complete: %v)", got, want, deniedForce)
	}
	mustRun(t, "audit", "verify", "--store", store)
}
