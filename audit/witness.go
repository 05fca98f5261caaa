package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// TreeProver gives consistency proofs between tree sizes (1 ≤ n ≤ t). The
// store is the prover; it is not trusted: proofs are checked against
// signed roots.
type TreeProver interface {
	ProveTree(t, n int64) (tlog.TreeProof, error)
}

// RollbackError says the store's log is shorter than a checkpoint the
// client kept: history was removed or the store restored from an older copy.
type RollbackError struct {
	Kept, Got int64
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("audit: store log rolled back: kept checkpoint has %d records, store has %d", e.Kept, e.Got)
}

// ForkError says the store's log does not extend the kept checkpoint: the
// records the client saw were changed (rewritten, reordered, dropped, or a
// different history shown to someone else), even if the new checkpoint is
// validly signed.
type ForkError struct {
	KeptSize, Size int64
	Err            error // why the proof failed, if it was a proof
}

func (e *ForkError) Error() string {
	msg := fmt.Sprintf("audit: store log of %d records is not an extension of the kept checkpoint of %d records: history was rewritten", e.Size, e.KeptSize)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ForkError) Unwrap() error { return e.Err }

// ErrKeyChanged is returned when a store's verifier key differs from the
// one pinned with the kept checkpoint.
var ErrKeyChanged = errors.New("audit: the store's verifier key changed since the kept checkpoint")

// CheckpointPath is where a git repository keeps the last checkpoint it saw
// of a store: <gitDir>/helios/checkpoints/<hash of the store's URL>.
func CheckpointPath(gitDir, storeURL string) string {
	h := sha256.Sum256([]byte(storeURL))
	return filepath.Join(gitDir, "helios", "checkpoints", hex.EncodeToString(h[:12]))
}

// Kept is a checkpoint a client keeps: the verifier key it pinned and the
// last signed checkpoint it accepted.
type Kept struct {
	VerifierKey string
	Note        []byte
}

// ReadKept reads a kept checkpoint file; ok is false if there is none.
func ReadKept(path string) (k Kept, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Kept{}, false, nil
	}
	if err != nil {
		return Kept{}, false, fmt.Errorf("audit: kept checkpoint: %w", err)
	}
	first, rest, found := bytes.Cut(b, []byte("\n"))
	key, isKey := strings.CutPrefix(string(first), "verifier ")
	if !found || !isKey {
		return Kept{}, false, fmt.Errorf("audit: kept checkpoint %q is malformed", path)
	}
	return Kept{VerifierKey: key, Note: rest}, true, nil
}

// WriteKept replaces the kept checkpoint file atomically.
func WriteKept(path string, k Kept) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := WriteFileAtomic(path, []byte(fmt.Sprintf("verifier %s\n%s", k.VerifierKey, k.Note)), 0o600); err != nil {
		return fmt.Errorf("audit: keep checkpoint: %w", err)
	}
	return nil
}

// WriteFileAtomic replaces path with data: written to a temporary file in
// the same directory, synced, then renamed over path, so a reader sees the
// old file or the new one, never part of one. perm applies to a new file.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// CheckConsistency is what a client (the remote helper) calls on every
// fetch and push. latest is the store's current signed checkpoint and
// vkey its verifier key as the store announces it; keptPath holds the last
// checkpoint this client accepted (see CheckpointPath).
//
//   - With nothing kept, the key is pinned on first use and latest is kept.
//   - Otherwise latest must verify with the pinned key (ErrKeyChanged if the
//     store now names another), have the same origin, be at least as large
//     as the kept one (*RollbackError), and extend it: equal roots at equal
//     size, or a consistency proof from p that checks against both signed
//     roots (*ForkError). Then latest replaces the kept checkpoint.
//
// This catches a store whose history was rewritten, rolled back or forked
// even by someone who holds the signing key: a forged log cannot prove
// itself an extension of a root the client already holds.
func CheckConsistency(keptPath, vkey string, latest []byte, p TreeProver) (Checkpoint, error) {
	kept, have, err := ReadKept(keptPath)
	if err != nil {
		return Checkpoint{}, err
	}
	pinned := vkey
	if have {
		if vkey != "" && strings.TrimSpace(vkey) != kept.VerifierKey {
			return Checkpoint{}, ErrKeyChanged
		}
		pinned = kept.VerifierKey
	}
	v, err := LoadVerifier(strings.TrimSpace(pinned))
	if err != nil {
		return Checkpoint{}, err
	}
	cur, err := ParseCheckpoint(latest, v)
	if err != nil {
		return Checkpoint{}, err
	}
	if have {
		old, err := ParseCheckpoint(kept.Note, v)
		if err != nil {
			return Checkpoint{}, fmt.Errorf("kept checkpoint: %w", err)
		}
		if err := extends(old, cur, p); err != nil {
			return Checkpoint{}, err
		}
		if cur.Size == old.Size {
			return cur, nil
		}
	}
	if err := WriteKept(keptPath, Kept{VerifierKey: strings.TrimSpace(pinned), Note: latest}); err != nil {
		return Checkpoint{}, err
	}
	return cur, nil
}

// extends checks that cur is an append-only extension of old.
func extends(old, cur Checkpoint, p TreeProver) error {
	switch {
	case cur.Size < old.Size:
		return &RollbackError{Kept: old.Size, Got: cur.Size}
	case cur.Size == old.Size:
		if cur.Root != old.Root {
			return &ForkError{KeptSize: old.Size, Size: cur.Size}
		}
		return nil
	case old.Size == 0:
		return nil
	}
	proof, err := p.ProveTree(cur.Size, old.Size)
	if err != nil {
		return &ForkError{KeptSize: old.Size, Size: cur.Size, Err: err}
	}
	if err := tlog.CheckTree(proof, cur.Size, cur.Root, old.Size, old.Root); err != nil {
		return &ForkError{KeptSize: old.Size, Size: cur.Size, Err: err}
	}
	return nil
}

// CheckExtends verifies, without any kept file, that the signed checkpoint
// newer extends older (both verified with the same key).
func CheckExtends(older, newer Checkpoint, p TreeProver) error { return extends(older, newer, p) }
