// Package keys holds Helios's keys at rest: a random 256-bit master key
// per store, wrapped by a key provider's key-encryption key and kept in the
// store's keyring file; the keys derived from it; and rotation of the
// wrapping without re-encrypting any data.
//
//	master (32 random bytes) ──wrapped by── provider (file:, env:, command:)
//	value key  = BLAKE3-derive("helios 2026 value-enc v1", master)   AES-256-GCM on every KV value
//	id secret  = BLAKE3-derive("helios 2026 object-id v1", master)   keys the BLAKE3 object IDs
//	key check  = BLAKE3-derive("helios 2026 key-check v1", master)[:16]  in the keyring, to tell a wrong key
//
// Providers:
//
//   - file:PATH  a 32-byte key-encryption key in a file (raw, hex or base64),
//     mode 0600; the data key is wrapped with AES-256-GCM.
//   - env:VAR    the same key in an environment variable (hex or base64).
//   - command:CMD  an external program does the wrapping: it is run as
//     `sh -c 'CMD "$1"' helios-key wrap` (or unwrap) with the input on
//     stdin and the result on stdout, and a non-zero exit is an error.
//     This is where a KMS or an HSM plugs in; testdata/kek-openssl.sh is a
//     working one with Debian's openssl and an RSA key pair (tested), and
//     says how a PKCS#11 token takes the private key's place.
//
// Rotation (Rotate) unwraps the master key with the old provider and wraps
// it with the new one, replacing the keyring file atomically; the data
// stays as it is. Rotating the master key itself (re-encrypting every
// value) is not implemented.
package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/zeebo/blake3"
)

// KeyringFile is the keyring's name in the store directory.
const KeyringFile = "keyring.json"

// KeySize is the size of the master key and of file/env wrapping keys.
const KeySize = 32

// ErrWrongKey is returned when the provider's key does not unwrap the
// store's data key.
var ErrWrongKey = errors.New("keys: the key provider does not unlock this store (wrong key)")

// ErrNoKeyring is returned by Unlock for a store that has no keyring (an
// unencrypted store).
var ErrNoKeyring = errors.New("keys: the store is not encrypted (no keyring)")

// Provider wraps and unwraps a store's master key.
type Provider interface {
	Spec() string // how the provider was named ("file:/etc/helios/kek")
	Wrap(key []byte) ([]byte, error)
	Unwrap(wrapped []byte) ([]byte, error)
}

// ParseProvider parses "file:PATH", "env:VAR" or "command:CMD".
func ParseProvider(spec string) (Provider, error) {
	kind, arg, ok := strings.Cut(spec, ":")
	if !ok || arg == "" {
		return nil, fmt.Errorf("keys: bad key provider %q (want file:PATH, env:VAR or command:CMD)", spec)
	}
	switch kind {
	case "file":
		return &aeadProvider{spec: spec, load: func() ([]byte, error) { return readKeyFile(arg) }}, nil
	case "env":
		return &aeadProvider{spec: spec, load: func() ([]byte, error) {
			v, ok := os.LookupEnv(arg)
			if !ok {
				return nil, fmt.Errorf("keys: environment variable %s is not set", arg)
			}
			return parseKeyText([]byte(v), "$"+arg)
		}}, nil
	case "command":
		return &commandProvider{spec: spec, cmd: arg}, nil
	}
	return nil, fmt.Errorf("keys: unknown key provider %q (want file:, env: or command:)", kind)
}

func readKeyFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keys: key file %q is readable by others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if len(b) == KeySize {
		return b, nil
	}
	return parseKeyText(b, path)
}

// parseKeyText accepts 32 bytes as 64 hex digits or as base64.
func parseKeyText(b []byte, where string) ([]byte, error) {
	s := strings.TrimSpace(string(b))
	if k, err := hex.DecodeString(s); err == nil && len(k) == KeySize {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(s); err == nil && len(k) == KeySize {
		return k, nil
	}
	return nil, fmt.Errorf("keys: %s does not hold a 32-byte key (raw, 64 hex digits or base64)", where)
}

// GenerateKeyFile writes a new random wrapping key (hex) to path, mode 0600.
func GenerateKeyFile(path string) error {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	_, err = fmt.Fprintf(f, "%x\n", k)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

const wrapAAD = "helios-keyring/1"

// aeadProvider wraps with AES-256-GCM under a key it loads when needed.
type aeadProvider struct {
	spec string
	load func() ([]byte, error)
}

func (p *aeadProvider) Spec() string { return p.spec }

func (p *aeadProvider) gcm() (cipher.AEAD, error) {
	k, err := p.load()
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return newGCM(k)
}

func newGCM(k []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (p *aeadProvider) Wrap(key []byte) ([]byte, error) {
	g, err := p.gcm()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return g.Seal(nonce, nonce, key, []byte(wrapAAD)), nil
}

func (p *aeadProvider) Unwrap(w []byte) ([]byte, error) {
	g, err := p.gcm()
	if err != nil {
		return nil, err
	}
	if len(w) < g.NonceSize()+g.Overhead() {
		return nil, ErrWrongKey
	}
	k, err := g.Open(nil, w[:g.NonceSize()], w[g.NonceSize():], []byte(wrapAAD))
	if err != nil {
		return nil, ErrWrongKey
	}
	return k, nil
}

// commandProvider runs an external program to wrap and unwrap.
type commandProvider struct {
	spec, cmd string
}

func (p *commandProvider) Spec() string { return p.spec }

func (p *commandProvider) run(op string, in []byte) ([]byte, error) {
	c := exec.Command("sh", "-c", p.cmd+` "$1"`, "helios-key", op)
	c.Stdin = bytes.NewReader(in)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if len(msg) > 500 {
			msg = msg[:500]
		}
		return nil, fmt.Errorf("keys: key command %q %s: %w: %s", p.cmd, op, err, msg)
	}
	return out.Bytes(), nil
}

func (p *commandProvider) Wrap(key []byte) ([]byte, error) {
	w, err := p.run("wrap", key)
	if err == nil && len(w) == 0 {
		err = fmt.Errorf("keys: key command %q wrap printed nothing", p.cmd)
	}
	return w, err
}

func (p *commandProvider) Unwrap(w []byte) ([]byte, error) {
	k, err := p.run("unwrap", w)
	if err != nil {
		return nil, err
	}
	if len(k) != KeySize {
		return nil, fmt.Errorf("%w: key command %q unwrap gave %d bytes, want %d", ErrWrongKey, p.cmd, len(k), KeySize)
	}
	return k, nil
}

// Keyring is the keyring file: the wrapped master key and how to unwrap it.
type Keyring struct {
	Format   string    `json:"format"`
	Provider string    `json:"provider"`
	Wrapped  []byte    `json:"wrapped"`
	Check    string    `json:"check"`
	Created  time.Time `json:"created"`
	Rotated  time.Time `json:"rotated,omitzero"`
}

const keyringFormat = "helios-keyring/1"

func derive(ctx string, master []byte, n int) []byte {
	out := make([]byte, n)
	blake3.DeriveKey(ctx, master, out)
	return out
}

// Check is the key check value of a master key (hex): it tells a wrong
// key from the right one and reveals nothing else. The audit log records
// it as the key's id.
func Check(master []byte) string {
	return hex.EncodeToString(derive("helios 2026 key-check v1", master, 16))
}

// IDSecret is the secret that keys the store's BLAKE3 IDs
// (objstore.Options.Secret).
func IDSecret(master []byte) []byte { return derive("helios 2026 object-id v1", master, 32) }

// ValueAEAD is the AES-256-GCM that seals every KV value
// (objstore.SealKV).
func ValueAEAD(master []byte) (cipher.AEAD, error) {
	k := derive("helios 2026 value-enc v1", master, 32)
	defer clear(k)
	return newGCM(k)
}

// KeyMAC is the key of the MAC under which an encrypted store keeps the KV
// keys that would name things: ref names, worktrees, git object ids
// (objstore.SealKV). It is derived apart from the value key, so the AEAD
// key is never used for anything else.
func KeyMAC(master []byte) []byte { return derive("helios 2026 key-mac v1", master, 32) }

// Create makes a new master key, wraps it with p and writes the keyring at
// path (which must not exist). It returns the master key.
func Create(path string, p Provider) ([]byte, error) {
	master := make([]byte, KeySize)
	if _, err := rand.Read(master); err != nil {
		return nil, err
	}
	w, err := p.Wrap(master)
	if err != nil {
		return nil, err
	}
	kr := &Keyring{Format: keyringFormat, Provider: p.Spec(), Wrapped: w, Check: Check(master), Created: time.Now().UTC()}
	if err := writeKeyring(path, kr, true); err != nil {
		return nil, err
	}
	return master, nil
}

// ReadKeyring reads the keyring at path.
func ReadKeyring(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoKeyring
	}
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	var kr Keyring
	if err := json.Unmarshal(b, &kr); err != nil || kr.Format != keyringFormat {
		return nil, fmt.Errorf("keys: %q is not a helios keyring", path)
	}
	return &kr, nil
}

// Unlock unwraps the master key of the keyring at path with p, or with the
// provider the keyring names when p is nil.
func Unlock(path string, p Provider) ([]byte, *Keyring, error) {
	kr, err := ReadKeyring(path)
	if err != nil {
		return nil, nil, err
	}
	if p == nil {
		if p, err = ParseProvider(kr.Provider); err != nil {
			return nil, nil, err
		}
	}
	master, err := p.Unwrap(kr.Wrapped)
	if err != nil {
		return nil, nil, err
	}
	if subtle.ConstantTimeCompare([]byte(Check(master)), []byte(kr.Check)) != 1 {
		clear(master)
		return nil, nil, ErrWrongKey
	}
	return master, kr, nil
}

// Rotate re-wraps the master key: it unlocks with from (nil: the keyring's
// provider) and wraps with to, replacing the keyring atomically. No data is
// re-encrypted. It returns the new keyring.
func Rotate(path string, from, to Provider) (*Keyring, error) {
	master, kr, err := Unlock(path, from)
	if err != nil {
		return nil, err
	}
	defer clear(master)
	w, err := to.Wrap(master)
	if err != nil {
		return nil, err
	}
	// The new wrapping must unwrap before it replaces the old one.
	back, err := to.Unwrap(w)
	if err != nil || !bytes.Equal(back, master) {
		return nil, fmt.Errorf("keys: the new provider does not give back the key it wrapped: %v", err)
	}
	kr.Provider, kr.Wrapped, kr.Rotated = to.Spec(), w, time.Now().UTC()
	if err := writeKeyring(path, kr, false); err != nil {
		return nil, err
	}
	return kr, nil
}

func writeKeyring(path string, kr *Keyring, create bool) error {
	b, err := json.MarshalIndent(kr, "", "  ")
	if err != nil {
		return err
	}
	if create {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("keys: %q already exists", path)
		}
	}
	if err := audit.WriteFileAtomic(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("keys: write keyring: %w", err)
	}
	return nil
}
