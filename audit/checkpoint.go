package audit

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ErrBadCheckpoint is returned for a checkpoint that does not parse, is not
// signed by the expected key, or names another log.
var ErrBadCheckpoint = errors.New("audit: bad checkpoint")

// Checkpoint is a signed statement of the log's size and root hash, in the
// C2SP tlog-checkpoint form (c2sp.org/tlog-checkpoint):
//
//	<origin>
//	<size>
//	<base64 root>
//
// followed by note signature lines. The origin is the signing key's name,
// so a checkpoint of one store cannot pass for another's.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// Text is the checkpoint body that is signed.
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// ParseCheckpoint verifies msg's signature with v and parses its body. The
// origin must be v's name; extension lines are refused.
func ParseCheckpoint(msg []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %w", ErrBadCheckpoint, err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return Checkpoint{}, fmt.Errorf("%w: %d lines", ErrBadCheckpoint, len(lines)-1)
	}
	c := Checkpoint{Origin: lines[0]}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("%w: origin %q, want %q", ErrBadCheckpoint, c.Origin, v.Name())
	}
	c.Size, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || c.Size < 0 || strconv.FormatInt(c.Size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("%w: size %q", ErrBadCheckpoint, lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("%w: root %q", ErrBadCheckpoint, lines[2])
	}
	c.Root = tlog.Hash(root)
	if c.Text() != n.Text {
		return Checkpoint{}, fmt.Errorf("%w: not in canonical form", ErrBadCheckpoint)
	}
	return c, nil
}

// Key files of a store's signing key, in its directory: the signer key
// (note's "PRIVATE+KEY+…" text, mode 0600) and the verifier key (public,
// the text clients pin).
const (
	SignerKeyFile   = "audit-signer.key"
	VerifierKeyFile = "audit-verifier.key"
)

// GenerateKeys makes a new Ed25519 signing key named name (the log's
// origin: no spaces, no '+') and writes both key files into dir, refusing
// to overwrite either.
func GenerateKeys(dir, name string) (skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", fmt.Errorf("audit: generate key: %w", err)
	}
	if err := writeNew(filepath.Join(dir, SignerKeyFile), skey+"\n", 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(filepath.Join(dir, VerifierKeyFile), vkey+"\n", 0o644); err != nil {
		os.Remove(filepath.Join(dir, SignerKeyFile))
		return "", "", err
	}
	return skey, vkey, nil
}

func writeNew(path, text string, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	return f.Close()
}

// LoadSigner reads a signer key file. A file readable by group or others is
// refused: whoever can read it can sign checkpoints.
func LoadSigner(path string) (note.Signer, error) {
	b, err := readPrivateKey(path, "signing key")
	if err != nil {
		return nil, err
	}
	s, err := note.NewSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("audit: signing key %q: %w", path, err)
	}
	return s, nil
}

// readPrivateKey reads a private key file (what names it in errors),
// refusing one that group or others can read.
func readPrivateKey(path, what string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %w", what, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("audit: %s %q is readable by others (mode %v); chmod 600 it", what, path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %w", what, err)
	}
	return b, nil
}

// LoadVerifier reads a verifier key file, or parses vkey text directly when
// the argument is not a file name but a key ("name+hash+base64").
func LoadVerifier(pathOrKey string) (note.Verifier, error) {
	text := pathOrKey
	if b, err := os.ReadFile(pathOrKey); err == nil {
		text = string(b)
	} else if !strings.Contains(pathOrKey, "+") {
		return nil, fmt.Errorf("audit: verifier key: %w", err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(text))
	if err != nil {
		return nil, fmt.Errorf("audit: verifier key: %w", err)
	}
	return v, nil
}
