package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Witness is a party that cosigns a log's checkpoints, each only if it is
// consistent with the last one it cosigned of that log: it keeps, per log
// origin, the log's verifier key (pinned on first contact) and the last
// checkpoint it cosigned, in StateDir. A store showing different histories
// to different parties cannot get both cosigned by one witness, so a client
// that requires cosignatures from witnesses it trusts sees a history those
// witnesses saw too (see CheckWitnessed).
//
// A witness must not run twice at once on one StateDir; the state is
// written (atomically) before the cosignature is returned, so a crash never
// leaves a cosignature the state does not account for.
type Witness struct {
	Signer   note.Signer // from NewCosigner / LoadCosigner
	StateDir string
}

// ErrWitnessKeyChanged is returned when a log's checkpoint is presented
// with another verifier key than the one the witness pinned.
var ErrWitnessKeyChanged = errors.New("audit: the log's verifier key differs from the one this witness pinned")

// StatePath is the witness's state file for a log origin.
func (w *Witness) StatePath(origin string) string {
	h := sha256.Sum256([]byte(origin))
	return filepath.Join(w.StateDir, hex.EncodeToString(h[:12]))
}

// Cosign checks latest, a checkpoint of the log whose verifier key is vkey
// (pinned for the log's origin on first contact; "" uses the pinned one),
// against the last checkpoint this witness cosigned of that log: it must
// verify, not be smaller (*RollbackError), and extend it, proven by p
// (*ForkError). Then it records latest as the witness's state and returns
// latest with the log's signature and this witness's cosignature.
// Cosigning the same checkpoint again refreshes the cosignature's time.
func (w *Witness) Cosign(vkey string, latest []byte, p TreeProver) ([]byte, error) {
	vkey = strings.TrimSpace(vkey)
	// The origin is the first line; the state is found by it and the
	// signature then checked with the pinned key.
	origin, _, _ := strings.Cut(string(latest), "\n")
	path := w.StatePath(origin)
	kept, have, err := ReadKept(path)
	if err != nil {
		return nil, err
	}
	if have {
		if vkey != "" && vkey != kept.VerifierKey {
			return nil, ErrWitnessKeyChanged
		}
		vkey = kept.VerifierKey
	}
	if vkey == "" {
		return nil, fmt.Errorf("audit: this witness has not seen log %q: give its verifier key", origin)
	}
	v, err := LoadVerifier(vkey)
	if err != nil {
		return nil, err
	}
	cur, err := ParseCheckpoint(latest, v)
	if err != nil {
		return nil, err
	}
	if have {
		old, err := ParseCheckpoint(kept.Note, v)
		if err != nil {
			return nil, fmt.Errorf("witness state: %w", err)
		}
		if err := extends(old, cur, p); err != nil {
			return nil, err
		}
	}
	n, err := note.Open(latest, note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCheckpoint, err)
	}
	// Only the log's own signature is carried over (other lines are
	// unverified here); the store merges cosignatures of several witnesses.
	n.UnverifiedSigs = nil
	signed, err := note.Sign(n, w.Signer)
	if err != nil {
		return nil, fmt.Errorf("audit: cosign: %w", err)
	}
	if err := WriteKept(path, Kept{VerifierKey: vkey, Note: latest}); err != nil {
		return nil, err
	}
	return signed, nil
}

// WitnessCheck is what a client requires of a log beyond consistency with
// its own kept checkpoint: a checkpoint cosigned by a quorum of Policy's
// witnesses that the log's latest checkpoint extends.
type WitnessCheck struct {
	Policy WitnessPolicy
	// MaxAge bounds the age of a counted cosignature (0: any age). It is
	// what stops a store from keeping a client on a private fork forever
	// by showing it an old cosigned checkpoint: the witnesses move on
	// with the real history and the old cosignatures expire.
	MaxAge time.Duration
	Now    time.Time
	// Strict requires the latest checkpoint itself to be cosigned, not
	// only to extend a cosigned one.
	Strict bool
}

// Witnessed is what CheckWitnessed found.
type Witnessed struct {
	// Checkpoint is the longest prefix of the log that a quorum vouches
	// for: the quorum-th largest of the checkpoints in By.
	Checkpoint Checkpoint
	// By holds, for each witness that counts, the newest checkpoint it
	// cosigned within MaxAge that the latest checkpoint extends.
	By map[string]Checkpoint
}

// CheckWitnessed verifies that latest (already verified with v) is vouched
// for by a quorum of the policy's witnesses: a witness vouches when it
// cosigned, within MaxAge, a checkpoint that latest extends (proven by p).
// Witnesses need not have cosigned the same checkpoint: each cosigns only
// extensions of what it cosigned before, so each vouches that latest's
// history up to its checkpoint is the one it saw. With Strict, only
// cosignatures of latest itself count. A fresh cosigned checkpoint that
// latest does not extend is a fork (*ForkError): the store shows this
// client a history its witnesses did not see. Records after the
// quorum's checkpoint are not yet witnessed: a split view among them is
// caught once the witnesses cosign past them, or when the cosignatures a
// store can show a forked client grow older than MaxAge.
func CheckWitnessed(latest Checkpoint, v note.Verifier, cosigned [][]byte, p TreeProver, wc WitnessCheck) (Witnessed, error) {
	best := map[string]Checkpoint{}
	var firstErr error
	stale := 0
	for _, msg := range cosigned {
		cp, times, err := wc.Policy.Cosigners(msg, v)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		// A checkpoint larger than latest may be one cosigned since latest
		// was fetched; it is not evidence either way.
		if cp.Size > latest.Size || wc.Strict && cp.Size != latest.Size {
			continue
		}
		for name, t := range times {
			if !fresh(t, wc.Now, wc.MaxAge) {
				stale++
				continue
			}
			if b, ok := best[name]; !ok || cp.Size > b.Size {
				best[name] = cp
			}
		}
	}
	proven := map[int64]tlog.Hash{}
	var sizes []int64
	for name, cp := range best {
		if root, ok := proven[cp.Size]; ok {
			if root != cp.Root {
				return Witnessed{}, &ForkError{KeptSize: cp.Size, Size: latest.Size}
			}
		} else {
			if err := extends(cp, latest, p); err != nil {
				return Witnessed{}, fmt.Errorf("the log does not extend the checkpoint witness %s cosigned: %w", name, err)
			}
			proven[cp.Size] = cp.Root
		}
		sizes = append(sizes, cp.Size)
	}
	if len(best) < wc.Policy.Quorum {
		e := &WitnessError{Size: latest.Size, Have: len(best), Quorum: wc.Policy.Quorum}
		switch {
		case stale > 0:
			e.Why = fmt.Sprintf("%d cosignatures older than %v", stale, wc.MaxAge)
		case firstErr != nil:
			e.Why = firstErr.Error()
		case wc.Strict:
			e.Why = "strict: counting only cosignatures of the latest checkpoint"
		}
		return Witnessed{}, e
	}
	slices.Sort(sizes)
	k := sizes[len(sizes)-wc.Policy.Quorum]
	return Witnessed{Checkpoint: Checkpoint{Origin: latest.Origin, Size: k, Root: proven[k]}, By: best}, nil
}

// Which witnesses a client requires is the client's decision, never the
// store's alone: a store (or whoever holds its key) that could name the
// witnesses could name itself. So the list comes from the client's
// environment ($HELIOS_WITNESSES, $HELIOS_WITNESS_QUORUM), or else is the
// store's announced witness policy, pinned beside the kept checkpoint the
// first time the client sees one (trust on first use, like the store's
// verifier key; pinning a list where there was none only adds a
// requirement); a later change of the store's announcement is ignored, and
// reported.

// WitnessesPath is where a client pins a store's witness policy.
func WitnessesPath(keptPath string) string { return keptPath + ".witnesses" }

// ClientWitnesses is the client's own witness configuration.
type ClientWitnesses struct {
	List   string        // witness keys or key files ($HELIOS_WITNESSES); "" : use the pinned policy
	Quorum int           // ≤ 0: every listed witness ($HELIOS_WITNESS_QUORUM)
	MaxAge time.Duration // ≤ 0: DefaultWitnessMaxAge ($HELIOS_WITNESS_MAX_AGE)
	Strict bool          // the latest checkpoint itself must be cosigned ($HELIOS_WITNESS_STRICT=1)
}

// DefaultWitnessMaxAge is how old a counted cosignature may be unless the
// client says otherwise: witnesses are expected to cosign at least daily.
const DefaultWitnessMaxAge = 24 * time.Hour

// WitnessesFromEnv reads $HELIOS_WITNESSES, $HELIOS_WITNESS_QUORUM,
// $HELIOS_WITNESS_MAX_AGE and $HELIOS_WITNESS_STRICT through getenv.
func WitnessesFromEnv(getenv func(string) string) (ClientWitnesses, error) {
	cw := ClientWitnesses{List: getenv("HELIOS_WITNESSES"), Strict: getenv("HELIOS_WITNESS_STRICT") == "1"}
	if q := getenv("HELIOS_WITNESS_QUORUM"); q != "" {
		n, err := fmt.Sscanf(q, "%d", &cw.Quorum)
		if err != nil || n != 1 || cw.Quorum < 1 {
			return ClientWitnesses{}, fmt.Errorf("audit: bad HELIOS_WITNESS_QUORUM %q", q)
		}
	}
	if a := getenv("HELIOS_WITNESS_MAX_AGE"); a != "" {
		d, err := time.ParseDuration(a)
		if err != nil {
			return ClientWitnesses{}, fmt.Errorf("audit: bad HELIOS_WITNESS_MAX_AGE: %w", err)
		}
		cw.MaxAge = d
	}
	return cw, nil
}

// Resolve picks the policy a client applies to a store: its own list if
// set, else the one pinned at keptPath's witnesses file, else the store's
// announced policy, which is then pinned. warn is non-empty when the store
// now announces something other than what was pinned.
func (cw ClientWitnesses) Resolve(keptPath, announced string) (p WitnessPolicy, warn string, err error) {
	if cw.List != "" {
		p, err = WitnessPolicyFromList(cw.List, cw.Quorum)
		return p, "", err
	}
	if keptPath == "" {
		return WitnessPolicy{}, "", nil // nowhere to pin
	}
	path := WitnessesPath(keptPath)
	pinned, err := os.ReadFile(path)
	switch {
	case err == nil:
		p, err = ParseWitnessPolicy(string(pinned))
		if err != nil {
			return WitnessPolicy{}, "", fmt.Errorf("pinned witnesses %s: %w", path, err)
		}
		if announced != "" && announced != p.Text() {
			warn = fmt.Sprintf("the store now announces other witnesses than the ones pinned in %s; still requiring the pinned ones (delete the file to re-pin)", path)
		}
		return p, warn, nil
	case !errors.Is(err, os.ErrNotExist):
		return WitnessPolicy{}, "", fmt.Errorf("audit: %w", err)
	}
	if announced == "" {
		return WitnessPolicy{}, "", nil
	}
	if p, err = ParseWitnessPolicy(announced); err != nil {
		return WitnessPolicy{}, "", fmt.Errorf("the store's witness policy: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return WitnessPolicy{}, "", fmt.Errorf("audit: %w", err)
	}
	if err := WriteFileAtomic(path, []byte(p.Text()), 0o600); err != nil {
		return WitnessPolicy{}, "", fmt.Errorf("audit: pin witnesses: %w", err)
	}
	return p, "", nil
}

// CheckStoreWitnessed is the witness half of a client's check, after
// CheckConsistency accepted latest and kept it at keptPath: with a
// non-empty policy (Resolve), latest must extend a checkpoint cosigned by
// a quorum of fresh cosignatures. announced is the store's witness policy
// text, cosigned its cosigned checkpoints. warn is for stderr.
//
// A client with nowhere to keep checkpoints (keptPath "": git ls-remote
// outside a repository) applies only its own list, and verifies latest
// with vkey, the key the store names.
func (cw ClientWitnesses) CheckStoreWitnessed(keptPath, vkey, announced string, latest []byte, cosigned [][]byte, p TreeProver, now time.Time) (warn string, err error) {
	pol, warn, err := cw.Resolve(keptPath, announced)
	if err != nil || pol.Empty() {
		return warn, err
	}
	if keptPath != "" {
		kept, ok, err := ReadKept(keptPath)
		if err != nil {
			return warn, err
		}
		if !ok {
			return warn, fmt.Errorf("audit: witnesses required, but no checkpoint kept at %s", keptPath)
		}
		vkey = kept.VerifierKey
	}
	v, err := LoadVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return warn, err
	}
	cur, err := ParseCheckpoint(latest, v)
	if err != nil {
		return warn, err
	}
	maxAge := cw.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultWitnessMaxAge
	}
	_, err = CheckWitnessed(cur, v, cosigned, p, WitnessCheck{Policy: pol, MaxAge: maxAge, Now: now, Strict: cw.Strict})
	return warn, err
}

// Required reports whether the client requires witnesses of the store kept
// at keptPath whatever the store announces: its own list, or a pinned one.
func (cw ClientWitnesses) Required(keptPath string) bool {
	if cw.List != "" || keptPath == "" {
		return cw.List != ""
	}
	_, err := os.Stat(WitnessesPath(keptPath))
	return err == nil
}

// SnapshotKept remembers what a client keeps of a store at keptPath (the
// kept checkpoint and the pinned witnesses) and returns what puts it back:
// a contact that CheckConsistency accepted but the witness check refused
// must not leave behind a pinned key, checkpoint or witness list of a store
// that may be an impostor.
func SnapshotKept(keptPath string) (restore func() error) {
	type file struct {
		path string
		data []byte
		had  bool
	}
	var files []file
	for _, p := range []string{keptPath, WitnessesPath(keptPath)} {
		b, err := os.ReadFile(p)
		files = append(files, file{p, b, err == nil})
	}
	return func() error {
		for _, f := range files {
			var err error
			if f.had {
				err = WriteFileAtomic(f.path, f.data, 0o600)
			} else if rerr := os.Remove(f.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				err = rerr
			}
			if err != nil {
				return fmt.Errorf("audit: restore %s: %w", f.path, err)
			}
		}
		return nil
	}
}
