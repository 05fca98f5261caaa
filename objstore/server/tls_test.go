package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/server/tlstest"
)

// protectMain is a policy in miniature: the Unix peer (the owner) may do
// anything; TLS users may read, write any ref and force or delete anything
// but refs/heads/main; only "admin" may stop the server; "eve" may read
// nothing under refs/heads/secret/.
type protectMain struct {
	mu     sync.Mutex
	denied []string // "user op target" of the refusals the server acted on
}

func (a *protectMain) Authorize(p Peer, op, target string) error {
	if p.Via == ViaUnix {
		return nil
	}
	switch {
	case (op == RefForce || op == RefDelete) && target == "refs/heads/main":
		return errors.New("main is protected")
	case op == "stop" && p.User != "admin":
		return errors.New("only admin stops the server")
	case op == RefRead && p.User == "eve" && strings.HasPrefix(target, "refs/heads/secret/"):
		return errors.New("secret")
	}
	return nil
}

func (a *protectMain) record(p Peer, op, target string, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.denied = append(a.denied, p.Name()+" "+op+" "+target)
}

type tokenTable map[string]string // token → user

func (t tokenTable) Authenticate(token string) (string, string, error) {
	if u, ok := t[token]; ok {
		return u, "id-" + u, nil
	}
	return "", "", errors.New("no such token")
}

// actors is a Journal that remembers who moved refs.
type actors struct {
	mu  sync.Mutex
	who []string
}

func (j *actors) Append(actor string, _ []objstore.RefChange, _ *objstore.Batch) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.who = append(j.who, actor)
	return nil
}
func (j *actors) Done(error) {}

type tlsFixture struct {
	*fixture
	addr  string
	certs tlstest.Files
	auth  *protectMain
	j     *actors
}

func newTLSFixture(t *testing.T) *tlsFixture { return newTLSFixtureWith(t, Options{}) }

// newTLSFixtureWith is newTLSFixture with o's FailureLimit and Logf.
func newTLSFixtureWith(t *testing.T, o Options) *tlsFixture {
	t.Helper()
	certs, err := tlstest.Generate(t.TempDir(), "bob", "admin")
	if err != nil {
		t.Fatal(err)
	}
	j := &actors{}
	s, err := objstore.Init(objstore.NewMemKV(), objstore.Options{Journal: j, Actor: "owner"})
	if err != nil {
		t.Fatal(err)
	}
	auth := &protectMain{}
	f := serveStore(t, t.TempDir(), s, Options{Authorizer: auth, Denied: auth.record,
		Authenticator: tokenTable{"good-token": "carol", "eve-token": "eve"}, Build: "this",
		FailureLimit: o.FailureLimit, Logf: o.Logf})
	cfg, err := ServerTLSConfig(TLSOptions{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: certs.CA})
	if err != nil {
		t.Fatal(err)
	}
	return &tlsFixture{fixture: f, addr: f.serveTLS(t, cfg), certs: certs, auth: auth, j: j}
}

// serveTLS has the fixture's server listen on TLS too (a local port) until
// the test ends, and returns the address.
func (f *fixture) serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := ListenTLS("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(ln) }()
	t.Cleanup(func() {
		f.srv.Shutdown()
		if err := <-done; err != nil {
			t.Errorf("serve tls: %v", err)
		}
	})
	return ln.Addr().String()
}

func (f *tlsFixture) as(user string) TLSClientOptions {
	return TLSClientOptions{CAFile: f.certs.CA, CertFile: f.certs.ClientCert[user], KeyFile: f.certs.ClientKey[user]}
}

func (f *tlsFixture) dial(t *testing.T, o TLSClientOptions) *Client {
	t.Helper()
	c, err := DialTLS(f.addr, o)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestTLSVersions: TLS 1.0 and 1.1 clients fail the handshake; 1.2 and 1.3
// clients get in, 1.3 when the client offers it, and 1.2 only with an
// ECDHE AEAD suite.
func TestTLSVersions(t *testing.T) {
	f := newTLSFixture(t)
	for _, v := range []struct {
		name     string
		min, max uint16
	}{{"1.0", tls.VersionTLS10, tls.VersionTLS10}, {"1.1", tls.VersionTLS10, tls.VersionTLS11}} {
		o := f.as("bob")
		o.MinVersion, o.MaxVersion = v.min, v.max
		if c, err := DialTLS(f.addr, o); err == nil {
			c.Close()
			t.Errorf("TLS %s client: connected, want a refused handshake", v.name)
		} else if !strings.Contains(err.Error(), "version") {
			t.Errorf("TLS %s client: got %v, want a protocol version error", v.name, err)
		}
	}
	for _, v := range []struct {
		name string
		max  uint16
		want uint16
	}{{"1.2", tls.VersionTLS12, tls.VersionTLS12}, {"1.3", 0, tls.VersionTLS13}} {
		o := f.as("bob")
		o.MaxVersion = v.max
		c := f.dial(t, o)
		if _, err := c.Status(); err != nil {
			t.Errorf("TLS %s client: status: %v", v.name, err)
		}
		st := c.c.(*tls.Conn).ConnectionState()
		if st.Version != v.want {
			t.Errorf("TLS %s client: negotiated %s, want %s", v.name, tls.VersionName(st.Version), tls.VersionName(v.want))
		}
		if st.Version == tls.VersionTLS12 && !slices.Contains(tlsSuites, st.CipherSuite) {
			t.Errorf("TLS 1.2 suite %s is not one of ours", tls.CipherSuiteName(st.CipherSuite))
		}
	}
	// A TLS 1.2 client offering only CBC suites finds nothing in common.
	raw, err := tls.Dial("tcp", f.addr, &tls.Config{ServerName: "localhost", MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true,
		CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256}})
	if err == nil {
		raw.Close()
		t.Error("a client offering only CBC and RSA-key-exchange suites connected")
	}
}

// TestTLSIdentity: a client without a certificate or token is refused, a
// certificate from another CA fails the handshake, a good token or a
// verified certificate names the user, a bad token or a token of another
// user than the certificate is refused.
func TestTLSIdentity(t *testing.T) {
	f := newTLSFixture(t)
	if _, err := DialTLS(f.addr, TLSClientOptions{CAFile: f.certs.CA}); !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "authentication required") {
		t.Errorf("no certificate, no token: got %v, want ErrDenied (authentication required)", err)
	}
	if _, err := DialTLS(f.addr, TLSClientOptions{CAFile: f.certs.CA, Token: "bad-token"}); !errors.Is(err, ErrDenied) {
		t.Errorf("bad token: got %v, want ErrDenied", err)
	}
	cert, key, err := tlstest.SelfSignedCA(t.TempDir(), "rogue", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := DialTLS(f.addr, TLSClientOptions{CAFile: f.certs.CA, CertFile: cert, KeyFile: key}); err == nil {
		c.Close()
		t.Error("a certificate of another CA was accepted")
	}
	o := f.as("bob")
	o.Token = "good-token"
	if _, err := DialTLS(f.addr, o); !errors.Is(err, ErrDenied) {
		t.Errorf("bob's certificate with carol's token: got %v, want ErrDenied", err)
	}
	// A stranger's oversized hello is dropped before it is read.
	raw, err := tls.Dial("tcp", f.addr, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	raw.Write([]byte{0, 0, 0, 1, frameHello}) // 16 MiB announced
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	var ne net.Error
	if n, err := raw.Read(make([]byte, 1)); err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("oversized hello: read %d bytes, %v; want the connection closed at once", n, err)
	}
	raw.Close()
	// The server's certificate must verify too.
	if _, err := DialTLS(f.addr, TLSClientOptions{Token: "good-token"}); err == nil {
		t.Error("a client without the server's CA connected")
	}

	// carol (token) and admin (certificate) get in; only admin may stop.
	carol := f.dial(t, TLSClientOptions{CAFile: f.certs.CA, Token: "good-token"})
	if err := carol.Stop(); !errors.Is(err, ErrDenied) {
		t.Errorf("carol stop: got %v, want ErrDenied", err)
	}
	// A client of another build is refused but does not stop the server.
	o = f.as("bob")
	o.Build = "another"
	if _, err := DialTLS(f.addr, o); !errors.Is(err, ErrVersion) {
		t.Errorf("another build over TLS: got %v, want ErrVersion", err)
	}
	select {
	case <-f.srv.Done():
		t.Fatal("a TLS client of another build stopped the server")
	default:
	}
	admin := f.dial(t, f.as("admin"))
	if _, err := admin.Status(); err != nil {
		t.Fatal(err)
	}
	f.auth.mu.Lock()
	denied := slices.Clone(f.auth.denied)
	f.auth.mu.Unlock()
	if want := []string{"carol stop "}; !slices.Equal(denied, want) {
		t.Errorf("denials heard: got %q, want %q", denied, want)
	}
}

// TestRefOpsOverTLS: the server judges each ref move (fast-forward, force,
// delete) on the store's states and asks for exactly that, records the
// authenticated user as the actor, and hides unreadable refs.
func TestRefOpsOverTLS(t *testing.T) {
	f := newTLSFixture(t)
	wt := filepath.Join(t.TempDir(), "wt")
	writeTree(t, wt, map[string]string{"a": "1"})
	r1, err := f.store.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/main"})
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, wt, map[string]string{"a": "2"})
	r2, err := f.store.Snapshot(wt, objstore.SnapshotOptions{Ref: "refs/heads/main"})
	if err != nil {
		t.Fatal(err)
	}
	wt2 := filepath.Join(t.TempDir(), "wt2")
	writeTree(t, wt2, map[string]string{"b": "unrelated"})
	side, err := f.store.Snapshot(wt2, objstore.SnapshotOptions{Ref: "refs/heads/secret/side"})
	if err != nil {
		t.Fatal(err)
	}
	s1, s2, s3 := r1.State, r2.State, side.State
	// main is at s2; bob may move it forward only.
	bob := f.dial(t, f.as("bob"))
	steps := []struct {
		name    string
		up      objstore.RefUpdate
		allowed bool
	}{
		{"rewind main (force)", objstore.RefUpdate{Name: "refs/heads/main", Old: s2, New: s1}, false},
		{"unrelated main (force, ignoring old)", objstore.RefUpdate{Name: "refs/heads/main", New: s3, IgnoreOld: true}, false},
		{"delete main", objstore.RefUpdate{Name: "refs/heads/main", Old: s2}, false},
		{"create topic", objstore.RefUpdate{Name: "refs/heads/topic", New: s1}, true},
		{"fast-forward topic", objstore.RefUpdate{Name: "refs/heads/topic", Old: s1, New: s2}, true},
		{"rewind topic (force, allowed off main)", objstore.RefUpdate{Name: "refs/heads/topic", Old: s2, New: s1, IgnoreOld: true}, true},
	}
	for _, st := range steps {
		err := bob.UpdateRefs(false, st.up)
		if st.allowed && err != nil {
			t.Errorf("%s: got %v, want allowed", st.name, err)
		}
		if !st.allowed && !errors.Is(err, ErrDenied) {
			t.Errorf("%s: got %v, want ErrDenied", st.name, err)
		}
	}
	if id, _, err := f.store.Resolve("refs/heads/main"); err != nil || id != s2 {
		t.Errorf("main = %v %v, want %v (untouched)", id, err, s2)
	}
	f.auth.mu.Lock()
	denied := slices.Clone(f.auth.denied)
	f.auth.mu.Unlock()
	want := []string{"bob force refs/heads/main", "bob force refs/heads/main", "bob delete refs/heads/main"}
	if !slices.Equal(denied, want) {
		t.Errorf("denials: got %q, want %q", denied, want)
	}
	f.j.mu.Lock()
	who := slices.Clone(f.j.who)
	f.j.mu.Unlock()
	if got := fmt.Sprint(who[len(who)-3:]); got != "[bob bob bob]" {
		t.Errorf("journal actors of bob's moves: got %s, want [bob bob bob]", got)
	}

	eve := f.dial(t, TLSClientOptions{CAFile: f.certs.CA, Token: "eve-token"})
	rs, err := eve.Refs("refs/heads/")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rs {
		names = append(names, r.Name)
	}
	if want := []string{"refs/heads/main", "refs/heads/topic"}; !slices.Equal(names, want) {
		t.Errorf("eve's listing: got %q, want %q", names, want)
	}
}

// BenchmarkTLS is what TLS adds: a connection (TCP, TLS 1.3 handshake with
// a client certificate, hello) and a refs request on an open connection,
// on loopback; compare BenchmarkRoundTrip (the Unix socket).
func BenchmarkTLS(b *testing.B) {
	certs, err := tlstest.Generate(b.TempDir(), "bob")
	if err != nil {
		b.Fatal(err)
	}
	s, err := objstore.Init(objstore.NewMemKV(), objstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	srv := New(Options{Store: s, Authenticator: tokenTable{"tok": "bob"}})
	cfg, err := ServerTLSConfig(TLSOptions{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: certs.CA})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := ListenTLS("127.0.0.1:0", cfg)
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown()
	o := TLSClientOptions{CAFile: certs.CA, CertFile: certs.ClientCert["bob"], KeyFile: certs.ClientKey["bob"]}
	b.Run("connect-cert", func(b *testing.B) {
		for b.Loop() {
			c, err := DialTLS(ln.Addr().String(), o)
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
	b.Run("connect-token", func(b *testing.B) {
		for b.Loop() {
			c, err := DialTLS(ln.Addr().String(), TLSClientOptions{CAFile: certs.CA, Token: "tok"})
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
	b.Run("request", func(b *testing.B) {
		c, err := DialTLS(ln.Addr().String(), o)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		for b.Loop() {
			if _, err := c.Refs("refs/heads/"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
