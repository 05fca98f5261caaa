//go:build !thin

package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/helios-vcs/helios/audit/serveauth"
	"github.com/helios-vcs/helios/cmd/internal/storedir"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/server"
	"github.com/urfave/cli/v2"
)

// What helios serve enforces (see package audit/serveauth): the store's
// owner may do anything on the Unix socket, everyone else (other uids with
// --shared, TLS users) is under the store's policy, deny by default.

var serveAccessFlags = []cli.Flag{
	&cli.StringFlag{Name: "listen", Usage: "also serve over TLS on this address (HOST:PORT); needs --tls-cert and --tls-key"},
	&cli.StringFlag{Name: "tls-cert", Usage: "the server's certificate chain (PEM) for --listen"},
	&cli.StringFlag{Name: "tls-key", Usage: "the server's private key (PEM) for --listen"},
	&cli.StringFlag{Name: "client-ca", Usage: "CA certificates (PEM) that client certificates must verify against; the certificate's CN is the user (without it, clients use tokens)"},
	&cli.StringFlag{Name: "client-crl", Usage: "a certificate revocation list (PEM or DER, signed by a --client-ca CA): revoked client certificates are refused at the handshake"},
	&cli.DurationFlag{Name: "tls-reload-every", Value: time.Minute, Usage: "re-read --tls-cert, --tls-key, --client-ca and --client-crl when they change, checking this often (0: only on SIGHUP)"},
	&cli.BoolFlag{Name: "shared", Usage: "make the socket usable by other local users (mode 0666); each is then the OS user of its uid under the store's policy"},
	&cli.IntFlag{Name: "fail-limit", Value: server.DefaultFailureBurst, Usage: "failures (bad handshakes, bad tokens, refused requests) a peer (TLS: its IP address; socket: its uid) may cause in a row before its connections are refused; -1: no limit"},
	&cli.DurationFlag{Name: "fail-refill", Value: server.DefaultFailureRefill, Usage: "how long until one failure of a peer is forgiven"},
}

// storeOwners are the uids that may do anything on the socket: the store
// directory's owner and the server's own user.
func storeOwners(store string) []int {
	owners := []int{os.Geteuid()}
	if fi, err := os.Stat(store); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
			owners = append(owners, int(st.Uid))
		}
	}
	return owners
}

// storeAccess is the store's policy and tokens as the server applies them,
// recording denials and token changes in the store's audit log.
func storeAccess(store string, s *objstore.Store, stderr io.Writer) (*serveauth.Access, error) {
	o := serveauth.Options{Store: s, Owners: storeOwners(store),
		Logf: func(f string, a ...any) { fmt.Fprintf(stderr, "helios serve: "+f+"\n", a...) }}
	if storedir.AuditEnabled(store) {
		j, err := auditJournal(store, s.KV())
		if err != nil {
			return nil, err
		}
		o.Journal = j
	}
	return serveauth.New(o), nil
}

// withAccess installs a on the server's options.
func withAccess(o server.Options, a *serveauth.Access) server.Options {
	o.Authorizer, o.Authenticator, o.Admin, o.Denied = a, a, a, a.Denied
	return o
}

// listenTLS opens the TLS listener of --listen, with its reloadable
// credentials; nil, nil when there is none.
func listenTLS(o serveOptions) (net.Listener, *server.TLSCredentials, error) {
	if o.listen == "" {
		if o.tlsCert != "" || o.tlsKey != "" || o.clientCA != "" || o.clientCRL != "" {
			return nil, nil, fmt.Errorf("--tls-cert, --tls-key, --client-ca and --client-crl need --listen")
		}
		return nil, nil, nil
	}
	if o.tlsCert == "" || o.tlsKey == "" {
		return nil, nil, fmt.Errorf("--listen needs --tls-cert and --tls-key")
	}
	creds, err := server.NewTLSCredentials(server.TLSOptions{CertFile: o.tlsCert, KeyFile: o.tlsKey, ClientCAFile: o.clientCA, ClientCRLFile: o.clientCRL})
	if err != nil {
		return nil, nil, err
	}
	ln, err := server.ListenTLS(o.listen, creds.Config())
	if err != nil {
		return nil, nil, err
	}
	return ln, creds, nil
}

// reloadTLS re-reads the TLS files on SIGHUP (hup) and, every o's
// --tls-reload-every, when one of them changed, until stop closes. A set
// that fails to load is logged and the old one stays in force.
func reloadTLS(creds *server.TLSCredentials, every time.Duration, hup <-chan os.Signal, stop <-chan struct{}, logf func(string, ...any)) {
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	report := func(why string, err error) {
		if err != nil {
			logf("TLS reload (%s) failed, keeping the credentials in force: %v", why, err)
			return
		}
		revoked := "no client CRL"
		if n := creds.Revoked(); n >= 0 {
			revoked = fmt.Sprintf("%d revoked client certificates", n)
		}
		logf("TLS credentials reloaded (%s): %s", why, revoked)
	}
	for {
		select {
		case <-stop:
			return
		case <-hup:
			report("SIGHUP", creds.Reload())
		case <-tick:
			if changed, err := creds.ReloadIfChanged(); changed {
				report("files changed", err)
			}
		}
		if creds.CRLStale(time.Now()) {
			logf("warning: the client CRL is past its next update; still applying it")
		}
	}
}

// shareSocket opens the socket to other local users.
func shareSocket(store string) error {
	return os.Chmod(filepath.Join(store, server.SocketName), 0o666)
}

// policySetServed sets the policy through the store's running server, so
// that a server (one listening on TLS, say) is not stopped for it; done is
// false when no server of this build answers.
func policySetServed(store string, text []byte) (done bool, err error) {
	c, err := server.Dial(store, server.BuildID())
	if err != nil {
		return false, nil
	}
	defer c.Close()
	_, err = c.Admin(serveauth.AdminPolicySet, text)
	return true, err
}
