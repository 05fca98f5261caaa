package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/server/tlstest"
)

// TestTLSReloadAndRevocation: after a reload, a client certificate the new
// CRL lists is refused while others still get in, a connection made before
// the reload keeps working, and a rotated server certificate is what new
// clients see; a set of files that does not load leaves the old one in
// force.
func TestTLSReloadAndRevocation(t *testing.T) {
	dir := t.TempDir()
	certs, err := tlstest.Generate(dir, "bob", "admin")
	if err != nil {
		t.Fatal(err)
	}
	crl := filepath.Join(dir, "crl.pem")
	if err := tlstest.CRL(dir, crl, 1); err != nil {
		t.Fatal(err)
	}
	// The listener reads copies, so that the test can swap them.
	live := t.TempDir()
	cert, key := filepath.Join(live, "server.pem"), filepath.Join(live, "server-key.pem")
	tlstest.Replace(t, certs.ServerCert, cert)
	tlstest.Replace(t, certs.ServerKey, key)
	creds, err := NewTLSCredentials(TLSOptions{CertFile: cert, KeyFile: key, ClientCAFile: certs.CA, ClientCRLFile: crl})
	if err != nil {
		t.Fatal(err)
	}
	s, err := objstore.Init(objstore.NewMemKV(), objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	var logs []string
	f := serveStore(t, t.TempDir(), s, Options{Authorizer: AllowAll{}, FailureLimit: FailureLimit{Burst: -1},
		Logf: func(format string, a ...any) {
			logMu.Lock()
			defer logMu.Unlock()
			logs = append(logs, fmt.Sprintf(format, a...))
		}})
	addr := f.serveTLS(t, creds.Config())
	as := func(user, ca string) TLSClientOptions {
		return TLSClientOptions{CAFile: ca, CertFile: certs.ClientCert[user], KeyFile: certs.ClientKey[user]}
	}

	early, err := DialTLS(addr, as("bob", certs.CA))
	if err != nil {
		t.Fatalf("bob before revocation: %v", err)
	}
	defer early.Close()
	// bob also keeps a TLS session cache, hoping to resume past a
	// revocation with a ticket issued before it.
	bobCert, err := tls.LoadX509KeyPair(certs.ClientCert["bob"], certs.ClientKey["bob"])
	if err != nil {
		t.Fatal(err)
	}
	pool, err := loadPool(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	sessions := tls.NewLRUClientSessionCache(4)
	resume := func() (*tls.Conn, error) {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost",
			Certificates: []tls.Certificate{bobCert}, ClientSessionCache: sessions})
		if err != nil {
			return nil, err
		}
		// A TLS 1.3 server sends tickets after the handshake, and a client
		// takes them in while reading: read briefly (the server waits for
		// the hello, so nothing else comes).
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err = c.Read(make([]byte, 1))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = nil
		}
		return c, err
	}
	c0, err := resume()
	if err != nil {
		t.Fatalf("bob's raw connection before revocation: %v", err)
	}
	c0.Close()

	// Revoke bob; nothing changes until the reload.
	if err := tlstest.CRL(dir, crl, 2, certs.ClientCert["bob"]); err != nil {
		t.Fatal(err)
	}
	if reloaded, err := creds.ReloadIfChanged(); err != nil || !reloaded {
		t.Fatalf("reload after the CRL changed: reloaded %v, %v", reloaded, err)
	}
	if creds.Revoked() != 1 {
		t.Errorf("got %d revoked serials, want 1", creds.Revoked())
	}
	if c, err := DialTLS(addr, as("bob", certs.CA)); err == nil {
		c.Close()
		t.Fatal("bob's revoked certificate was accepted after the reload")
	}
	if c, err := resume(); err == nil {
		resumed := c.ConnectionState().DidResume
		c.Close()
		t.Fatalf("bob got in after the revocation with a session cache (resumed %v)", resumed)
	}
	admin, err := DialTLS(addr, as("admin", certs.CA))
	if err != nil {
		t.Fatalf("admin after bob's revocation: %v", err)
	}
	admin.Close()
	if _, err := early.Status(); err != nil {
		t.Errorf("a connection made before the reload was dropped: %v", err)
	}

	// A CRL signed by another CA is refused, and the old set stays.
	rogue := t.TempDir()
	if _, err := tlstest.Generate(rogue); err != nil {
		t.Fatal(err)
	}
	if err := tlstest.CRL(rogue, crl, 3); err != nil {
		t.Fatal(err)
	}
	if err := creds.Reload(); err == nil {
		t.Fatal("a CRL of another CA was loaded")
	}
	if c, err := DialTLS(addr, as("bob", certs.CA)); err == nil {
		c.Close()
		t.Fatal("a failed reload un-revoked bob")
	}

	// Rotate the server certificate to one of a new CA.
	newCA, newCert, newKey, err := tlstest.ServerCert(t.TempDir(), "ca2")
	if err != nil {
		t.Fatal(err)
	}
	if err := tlstest.CRL(dir, crl, 4, certs.ClientCert["bob"]); err != nil {
		t.Fatal(err)
	}
	tlstest.Replace(t, newCert, cert)
	tlstest.Replace(t, newKey, key)
	if err := creds.Reload(); err != nil {
		t.Fatal(err)
	}
	if c, err := DialTLS(addr, as("admin", certs.CA)); err == nil {
		c.Close()
		t.Fatal("a client trusting only the old CA accepted the rotated certificate")
	}
	c, err := DialTLS(addr, as("admin", newCA))
	if err != nil {
		t.Fatalf("the rotated certificate: %v", err)
	}
	c.Close()
	if _, err := early.Status(); err != nil {
		t.Errorf("a connection made before the rotation was dropped: %v", err)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(strings.Join(logs, "\n"), ErrRevoked.Error()) {
		t.Errorf("the server did not log the revoked certificate:\n%s", strings.Join(logs, "\n"))
	}
}
