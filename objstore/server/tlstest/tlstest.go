// Package tlstest makes throwaway certificates for tests of the TLS
// listener, with crypto/x509 (no openssl): a CA, a server certificate for
// localhost and 127.0.0.1, and client certificates whose subject CN is the
// user they name. Keys are ECDSA P-256; files are PEM, keys mode 0600.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// Files names the PEM files Generate wrote.
type Files struct {
	CA                    string // the CA certificate (server and client CA alike)
	ServerCert, ServerKey string
	// ClientCert and ClientKey by user name.
	ClientCert, ClientKey map[string]string
}

type issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// Generate writes a CA, a server certificate and one client certificate
// per user into dir.
func Generate(dir string, users ...string) (Files, error) {
	f := Files{ClientCert: map[string]string{}, ClientKey: map[string]string{}}
	ca, err := makeCert(dir, "ca", &x509.Certificate{
		Subject:               pkix.Name{CommonName: "helios test CA"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil)
	if err != nil {
		return f, err
	}
	f.CA = filepath.Join(dir, "ca.pem")
	if _, err := makeCert(dir, "server", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca); err != nil {
		return f, err
	}
	f.ServerCert, f.ServerKey = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	for _, u := range users {
		if _, err := makeCert(dir, "client-"+u, &x509.Certificate{
			Subject:     pkix.Name{CommonName: u},
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}, ca); err != nil {
			return f, err
		}
		f.ClientCert[u], f.ClientKey[u] = filepath.Join(dir, "client-"+u+".pem"), filepath.Join(dir, "client-"+u+"-key.pem")
	}
	return f, nil
}

// SelfSignedCA writes another CA (name.pem, name-key.pem) and a client
// certificate for user signed by it (name-client.pem, name-client-key.pem):
// a certificate the server's client CA does not vouch for.
func SelfSignedCA(dir, name, user string) (cert, key string, err error) {
	ca, err := makeCert(dir, name, &x509.Certificate{
		Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	}, nil)
	if err != nil {
		return "", "", err
	}
	if _, err := makeCert(dir, name+"-client", &x509.Certificate{
		Subject: pkix.Name{CommonName: user}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca); err != nil {
		return "", "", err
	}
	return filepath.Join(dir, name+"-client.pem"), filepath.Join(dir, name+"-client-key.pem"), nil
}

var serial atomic.Int64

func makeCert(dir, name string, tmpl *x509.Certificate, parent *issuer) (*issuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano() + serial.Add(1))
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, fmt.Errorf("tlstest: %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return nil, err
	}
	return &issuer{cert: cert, key: key}, nil
}

// CRL writes, as PEM to out, a revocation list signed by the CA that
// Generate wrote into dir, revoking the certificates in the PEM files
// revoke (none: an empty list). number is the CRL's number; later lists
// need larger ones.
func CRL(dir, out string, number int64, revoke ...string) error {
	ca, err := readIssuer(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		return err
	}
	tmpl := &x509.RevocationList{
		Number:     big.NewInt(number),
		ThisUpdate: time.Now().Add(-time.Minute),
		NextUpdate: time.Now().Add(24 * time.Hour),
	}
	for _, f := range revoke {
		c, err := readCert(f)
		if err != nil {
			return err
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key)
	if err != nil {
		return fmt.Errorf("tlstest: crl: %w", err)
	}
	return os.WriteFile(out, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644)
}

// ServerCert writes a new server certificate for localhost signed by a new
// CA into dir (caName.pem, caName-server.pem, caName-server-key.pem): a
// rotated certificate that only clients trusting the new CA accept.
func ServerCert(dir, caName string) (ca, cert, key string, err error) {
	iss, err := makeCert(dir, caName, &x509.Certificate{
		Subject: pkix.Name{CommonName: caName}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil)
	if err != nil {
		return "", "", "", err
	}
	if _, err := makeCert(dir, caName+"-server", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, iss); err != nil {
		return "", "", "", err
	}
	return filepath.Join(dir, caName+".pem"), filepath.Join(dir, caName+"-server.pem"), filepath.Join(dir, caName+"-server-key.pem"), nil
}

// Replace puts src's content at dst with a rename, as a deployment swaps a
// certificate in: dst gets a new mtime and, maybe, size.
func Replace(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err == nil {
		err = os.WriteFile(dst+".new", b, 0o600)
	}
	if err == nil {
		err = os.Rename(dst+".new", dst)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func readCert(file string) (*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("tlstest: no PEM in %s", file)
	}
	return x509.ParseCertificate(block.Bytes)
}

func readIssuer(certFile, keyFile string) (*issuer, error) {
	cert, err := readCert(certFile)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("tlstest: no PEM in %s", keyFile)
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	return &issuer{cert: cert, key: key}, nil
}
