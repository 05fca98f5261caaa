package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// TLS: `helios serve --listen ADDR` serves the same protocol over TLS
// beside the Unix socket, for clients on other hosts.
//
//   - Versions: TLS 1.2 at least; TLS 1.3 whenever the client offers it
//     (Go negotiates the highest common version). TLS 1.0 and 1.1 clients
//     fail the handshake.
//   - TLS 1.2 cipher suites: ECDHE key exchange with AES-GCM or
//     ChaCha20-Poly1305 only (forward secrecy, AEAD); no CBC, no RSA key
//     exchange, no 3DES. TLS 1.3's suites are all AEAD and not configurable
//     in Go.
//   - Identity: a client certificate that verifies against the client CA
//     (--client-ca) names the user: its subject CN, or when that is empty
//     its first email, DNS or URI SAN. Or a bearer token sent in the hello
//     frame. A connection with neither is refused after the hello; so is
//     one whose certificate and token name different users.
//   - A TLS client of another build is refused without stopping the server
//     (on the Unix socket, a newer client replaces the server instead).
//
// Clients dial with DialTLS; TLSClientOptionsFromEnv reads HELIOS_CA_FILE,
// HELIOS_CLIENT_CERT, HELIOS_CLIENT_KEY and HELIOS_TOKEN. The git helper's
// URL form for a served store on another host is helios::tls://HOST:PORT
// (ParseTLSURL).

// How a peer was identified (Peer.Via).
const (
	ViaUnix  = "unix"  // the kernel's credentials on the Unix socket
	ViaCert  = "cert"  // a verified TLS client certificate
	ViaToken = "token" // a bearer token in the hello frame
)

// tlsSuites are the TLS 1.2 cipher suites offered: ECDHE and AEAD only.
var tlsSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSOptions configure the server's TLS listener.
type TLSOptions struct {
	CertFile, KeyFile string // the server's certificate chain and key (PEM)
	// ClientCAFile holds the CA certificates (PEM) that client
	// certificates must verify against; empty: clients authenticate with
	// tokens only.
	ClientCAFile string
	// ClientCRLFile is a revocation list (PEM or DER) signed by a client
	// CA: client certificates it lists are refused (see tlsreload.go).
	ClientCRLFile string
}

// ServerTLSConfig builds the server's TLS configuration, with credentials
// loaded once (NewTLSCredentials for reloadable ones).
func ServerTLSConfig(o TLSOptions) (*tls.Config, error) {
	c, err := NewTLSCredentials(o)
	if err != nil {
		return nil, err
	}
	return c.Config(), nil
}

func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("server: tls: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("server: tls: no PEM certificates in %s", file)
	}
	return pool, nil
}

// ListenTLS listens on the TCP address addr with cfg.
func ListenTLS(addr string, cfg *tls.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("server: listen: %w", err)
	}
	return tls.NewListener(ln, cfg), nil
}

// handshakeTimeout bounds a TLS connection's handshake and hello.
const handshakeTimeout = 10 * time.Second

// secure completes the TLS handshake of a TLS connection and takes the
// user from its verified client certificate. Other connections pass.
func (s *Server) secure(sc *serverConn) bool {
	tc, ok := sc.c.(*tls.Conn)
	if !ok {
		sc.peer.Via = ViaUnix
		return true
	}
	sc.tls = true
	sc.c.SetDeadline(time.Now().Add(handshakeTimeout))
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		s.o.Logf("tls handshake from %s: %v", tc.RemoteAddr(), err)
		return false
	}
	st := tc.ConnectionState()
	if len(st.VerifiedChains) > 0 && len(st.PeerCertificates) > 0 {
		sc.peer.User, sc.peer.Via = CertUser(st.PeerCertificates[0]), ViaCert
	}
	return true
}

// maxHello bounds the hello frame of a TLS client, which is read before
// the client is authenticated: a stranger must not make the server
// allocate a full frame (16 MiB) per connection.
const maxHello = 16 << 10

// readHello reads the first frame; from a TLS peer at most maxHello bytes.
func (s *Server) readHello(sc *serverConn, r *bufio.Reader) (byte, []byte, error) {
	if !sc.tls {
		return readFrame(r, nil)
	}
	h, err := r.Peek(5)
	if err != nil {
		return 0, nil, err
	}
	if n := binary.LittleEndian.Uint32(h[:4]); n == 0 || n-1 > maxHello {
		return 0, nil, fmt.Errorf("%w: hello of %d bytes", ErrProtocol, n)
	}
	return readFrame(r, nil)
}

// CertUser is the user a client certificate names: its subject CN, or
// when that is empty its first email address, DNS name or URI.
func CertUser(c *x509.Certificate) string {
	switch {
	case c.Subject.CommonName != "":
		return c.Subject.CommonName
	case len(c.EmailAddresses) > 0:
		return c.EmailAddresses[0]
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	case len(c.URIs) > 0:
		return c.URIs[0].String()
	}
	return ""
}

// TLSClientOptions configure DialTLS.
type TLSClientOptions struct {
	// CAFile holds the CA certificates (PEM) the server's certificate must
	// verify against; empty: the system's roots.
	CAFile string
	// CertFile and KeyFile are a client certificate and its key (PEM),
	// for servers that take certificates.
	CertFile, KeyFile string
	// Token is a bearer token (helios token add), sent in the hello frame.
	Token string
	// ServerName is the name the server's certificate must carry
	// (default: the host part of the address).
	ServerName string
	// Build is the client's build identity; empty accepts any server.
	Build string
	// Timeout bounds the dial, the TLS handshake and the hello (default 10s).
	Timeout time.Duration
	// MinVersion and MaxVersion override the TLS versions offered (tests);
	// MinVersion defaults to TLS 1.2.
	MinVersion, MaxVersion uint16
	// LocalIP is the address to dial from (multi-homed hosts, tests);
	// empty: the system's choice.
	LocalIP string
}

// Environment variables TLSClientOptionsFromEnv reads.
const (
	EnvToken      = "HELIOS_TOKEN"
	EnvCAFile     = "HELIOS_CA_FILE"
	EnvClientCert = "HELIOS_CLIENT_CERT"
	EnvClientKey  = "HELIOS_CLIENT_KEY"
)

// TLSClientOptionsFromEnv reads a client's TLS settings from the
// environment: HELIOS_CA_FILE, HELIOS_CLIENT_CERT, HELIOS_CLIENT_KEY and
// HELIOS_TOKEN (keep tokens out of command lines, which other users can
// read in /proc).
func TLSClientOptionsFromEnv() TLSClientOptions {
	return TLSClientOptions{
		CAFile: os.Getenv(EnvCAFile), CertFile: os.Getenv(EnvClientCert), KeyFile: os.Getenv(EnvClientKey),
		Token: os.Getenv(EnvToken),
	}
}

// ParseTLSURL reads the address of a served store from a URL of the form
// tls://HOST:PORT (what git passes the helper for helios::tls://HOST:PORT).
func ParseTLSURL(url string) (string, error) {
	addr, ok := strings.CutPrefix(url, "tls://")
	if !ok {
		return "", fmt.Errorf("server: %q is not a tls://HOST:PORT url", url)
	}
	addr = strings.TrimSuffix(addr, "/")
	if _, _, err := net.SplitHostPort(addr); err != nil || strings.Contains(addr, "/") {
		return "", fmt.Errorf("server: %q: want tls://HOST:PORT", url)
	}
	return addr, nil
}

// DialTLS connects to a server's TLS listener at addr (HOST:PORT) and
// shakes hands, presenting o's client certificate and token. A refused
// authentication is an error wrapping ErrDenied.
func DialTLS(addr string, o TLSClientOptions) (*Client, error) {
	if o.Timeout <= 0 {
		o.Timeout = handshakeTimeout
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: tlsSuites, ServerName: o.ServerName}
	if o.MinVersion != 0 {
		cfg.MinVersion = o.MinVersion
	}
	cfg.MaxVersion = o.MaxVersion
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("server: address %q: %w", addr, err)
		}
		cfg.ServerName = host
	}
	if o.CAFile != "" {
		pool, err := loadPool(o.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if o.CertFile != "" || o.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("server: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	nd := &net.Dialer{Timeout: o.Timeout}
	if o.LocalIP != "" {
		ip := net.ParseIP(o.LocalIP)
		if ip == nil {
			return nil, fmt.Errorf("server: local address %q is not an IP address", o.LocalIP)
		}
		nd.LocalAddr = &net.TCPAddr{IP: ip}
	}
	d := &tls.Dialer{NetDialer: nd, Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("server: dial %s: %w", addr, err)
	}
	cl, err := handshakeWith(c, o.Build, o.Token)
	if err != nil {
		return nil, err
	}
	return cl, nil
}
