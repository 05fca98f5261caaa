package server

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Certificate reload and revocation. The listener's TLS configuration is
// built afresh for every handshake (tls.Config.GetConfigForClient) from the
// credentials last loaded: the server's certificate and key, the client
// CA, and the client CRL (TLSOptions.ClientCRLFile, an x509 revocation
// list signed by one of the client CAs). Reload re-reads all of them at
// once; a set that fails to load (a half-written key, a CRL whose
// signature does not verify) is refused and the old one stays in force.
// Connections already established keep the session they shook hands with
// and are not dropped; the next handshake uses the new set. A client
// certificate whose serial the CRL lists, from the CRL's issuer, fails the
// handshake (and counts as a failure for the peer's rate limit). With a
// client CA the server issues no session tickets, so every connection is
// verified against the set in force.

// ErrRevoked is the handshake error for a revoked client certificate.
var ErrRevoked = errors.New("server: tls: client certificate revoked")

// tlsSet is one loaded set of credentials.
type tlsSet struct {
	cert    tls.Certificate
	pool    *x509.CertPool
	crl     *x509.RevocationList
	revoked map[string]bool // serial numbers (decimal) the CRL lists
	stamp   string          // the files' sizes and times when loaded
}

// TLSCredentials are the listener's credentials, reloadable.
type TLSCredentials struct {
	o   TLSOptions
	mu  sync.Mutex // serializes loads
	cur atomic.Pointer[tlsSet]
}

// NewTLSCredentials loads o's files.
func NewTLSCredentials(o TLSOptions) (*TLSCredentials, error) {
	if o.ClientCRLFile != "" && o.ClientCAFile == "" {
		return nil, errors.New("server: tls: a client CRL needs a client CA")
	}
	c := &TLSCredentials{o: o}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// stamp describes the files as they are now: a change of any shows as a
// different stamp.
func (c *TLSCredentials) stamp() string {
	var b bytes.Buffer
	for _, f := range []string{c.o.CertFile, c.o.KeyFile, c.o.ClientCAFile, c.o.ClientCRLFile} {
		if f == "" {
			continue
		}
		if st, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", f, st.Size(), st.ModTime().UnixNano())
		} else {
			fmt.Fprintf(&b, "%s missing\n", f)
		}
	}
	return b.String()
}

// Reload re-reads every file; on an error the credentials in force stay.
func (c *TLSCredentials) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	set := &tlsSet{stamp: c.stamp()}
	var err error
	if set.cert, err = tls.LoadX509KeyPair(c.o.CertFile, c.o.KeyFile); err != nil {
		return fmt.Errorf("server: tls certificate: %w", err)
	}
	if c.o.ClientCAFile != "" {
		pool, cas, err := loadCAs(c.o.ClientCAFile)
		if err != nil {
			return err
		}
		set.pool = pool
		if c.o.ClientCRLFile != "" {
			if set.crl, err = loadCRL(c.o.ClientCRLFile, cas); err != nil {
				return err
			}
			set.revoked = map[string]bool{}
			for _, e := range set.crl.RevokedCertificateEntries {
				set.revoked[e.SerialNumber.String()] = true
			}
		}
	}
	c.cur.Store(set)
	return nil
}

// ReloadIfChanged reloads when any file changed since the last load; it
// reports whether it did.
func (c *TLSCredentials) ReloadIfChanged() (bool, error) {
	if set := c.cur.Load(); set != nil && set.stamp == c.stamp() {
		return false, nil
	}
	return true, c.Reload()
}

// Revoked is the number of serials the client CRL in force lists (-1
// without a CRL).
func (c *TLSCredentials) Revoked() int {
	set := c.cur.Load()
	if set.crl == nil {
		return -1
	}
	return len(set.revoked)
}

// Config is the listener's tls.Config: each handshake gets one built from
// the credentials in force.
func (c *TLSCredentials) Config() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: tlsSuites,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return c.handshakeConfig(c.cur.Load()), nil
		},
	}
}

func (c *TLSCredentials) handshakeConfig(set *tlsSet) *tls.Config {
	cfg := &tls.Config{
		Certificates: []tls.Certificate{set.cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: tlsSuites,
		ClientAuth:   tls.NoClientCert,
	}
	if set.pool != nil {
		// A certificate, when given, must verify; a client without one may
		// still authenticate with a token.
		cfg.ClientCAs, cfg.ClientAuth = set.pool, tls.VerifyClientCertIfGiven
		// No session resumption: a resumed session skips certificate
		// verification, so a ticket issued before a revocation or a CA
		// change would outlive it.
		cfg.SessionTicketsDisabled = true
	}
	if set.crl != nil {
		// VerifyConnection, unlike VerifyPeerCertificate, also runs on
		// resumed sessions (should resumption ever be turned on).
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			for _, cert := range cs.PeerCertificates {
				if bytes.Equal(cert.RawIssuer, set.crl.RawIssuer) && set.revoked[cert.SerialNumber.String()] {
					return fmt.Errorf("%w: serial %s (%s)", ErrRevoked, cert.SerialNumber, cert.Subject)
				}
			}
			return nil
		}
	}
	return cfg
}

// loadCAs reads a PEM file of CA certificates.
func loadCAs(file string) (*x509.CertPool, []*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("server: tls: %w", err)
	}
	pool := x509.NewCertPool()
	var cas []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("server: tls: %s: %w", file, err)
		}
		pool.AddCert(cert)
		cas = append(cas, cert)
	}
	if len(cas) == 0 {
		return nil, nil, fmt.Errorf("server: tls: no PEM certificates in %s", file)
	}
	return pool, cas, nil
}

// loadCRL reads a revocation list (PEM "X509 CRL" or DER) and checks that
// one of cas signed it. An expired list (NextUpdate passed) still loads:
// refusing every client for a late CRL would be worse than a stale one.
func loadCRL(file string, cas []*x509.Certificate) (*x509.RevocationList, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("server: tls: client CRL: %w", err)
	}
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("server: tls: client CRL %s: PEM block %q, want \"X509 CRL\"", file, block.Type)
		}
		data = block.Bytes
	}
	crl, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, fmt.Errorf("server: tls: client CRL %s: %w", file, err)
	}
	for _, ca := range cas {
		if bytes.Equal(ca.RawSubject, crl.RawIssuer) && crl.CheckSignatureFrom(ca) == nil {
			return crl, nil
		}
	}
	return nil, fmt.Errorf("server: tls: client CRL %s is not signed by a client CA", file)
}

// CRLStale reports whether the CRL in force is past its NextUpdate at now.
func (c *TLSCredentials) CRLStale(now time.Time) bool {
	set := c.cur.Load()
	return set.crl != nil && !set.crl.NextUpdate.IsZero() && now.After(set.crl.NextUpdate)
}
