package storeaudit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/objstore"
	"golang.org/x/mod/sumdb/note"
)

// The store's witness settings and the cosignatures its witnesses made,
// under the audit log's 'a' prefix:
//
//	'a' 'W'                the witness policy the store announces (audit.WitnessPolicy text)
//	'a' 'w' uint64be(n)    the checkpoint of n records with its witnesses' cosignatures
//
// A policy change is a logged record (event "witnesses", the digest of the
// new text). Cosigned checkpoints are not logged: they are
// self-authenticating, and logging one would move the log past the very
// checkpoint it cosigns. Only cosignatures of witnesses in the policy are
// stored, for a checkpoint whose root is the log's own at that size.
var (
	WitnessPolicyKey = []byte("aW")
	cosignedPrefix   = []byte("aw")
)

// EventWitnesses is the record of a change of the store's witness policy.
const EventWitnesses audit.Event = "witnesses"

// keepCosigned is how many cosigned checkpoints the store keeps, besides
// the newest of each listed witness (older ones are deleted as new ones
// arrive).
const keepCosigned = 16

// LoadWitnessPolicy reads the store's announced witness policy text ("" if
// none).
func LoadWitnessPolicy(r Reader) (string, error) {
	v, ok, err := Source(r).Lookup(WitnessPolicyKey)
	if err != nil {
		return "", fmt.Errorf("audit: read witness policy: %w", err)
	}
	if !ok {
		return "", nil
	}
	return string(v), nil
}

// WitnessDigest names a witness policy text in the log.
func WitnessDigest(text string) string {
	h := sha256.Sum256([]byte(text))
	return "sha256:" + hex.EncodeToString(h[:])
}

// SetWitnessPolicy replaces the store's witness policy with p (empty: no
// witnesses), as actor, recording the change in the same atomic write.
// Once a policy of access exists only its maintainers may do this.
func (j *Journal) SetWitnessPolicy(s *objstore.Store, actor string, p audit.WitnessPolicy) error {
	cur, err := LoadPolicy(s.KV())
	switch {
	case err == nil:
		if err := cur.AuthorizeAction(actor, audit.ActionPolicySet); err != nil {
			return err
		}
	case !errors.Is(err, ErrNoPolicy):
		return err
	}
	text := p.Text()
	attrs := map[string]string{"witnesses": WitnessDigest(text), "quorum": fmt.Sprint(p.Quorum), "count": fmt.Sprint(len(p.Witnesses))}
	return j.Record(s, audit.Record{Actor: actor, Event: EventWitnesses, Attrs: attrs}, func(b *objstore.Batch) error {
		if text == "" {
			b.Delete(WitnessPolicyKey)
		} else {
			b.Put(WitnessPolicyKey, []byte(text))
		}
		return nil
	})
}

// Cosigned returns the store's cosigned checkpoints, oldest first.
func Cosigned(r Reader) ([][]byte, error) {
	var out [][]byte
	err := r.Scan(cosignedPrefix, func(k, v []byte) error {
		out = append(out, append([]byte(nil), v...))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: read cosigned checkpoints: %w", err)
	}
	return out, nil
}

// cosignMu serializes AddCosigned's read-merge-write in this process.
var cosignMu sync.Mutex

// ErrNoWitnessPolicy is returned by AddCosigned on a store that lists no
// witnesses.
var ErrNoWitnessPolicy = errors.New("audit: the store lists no witnesses (helios witness add)")

// AddCosigned stores a cosigned checkpoint a witness returned: it must be
// a checkpoint of this store's log (signed with v, its root the log's own
// root at its size) and carry at least one valid cosignature of a witness
// in the store's policy; cosignatures of other keys are dropped, and those
// already stored for that checkpoint are kept (merged). It returns the
// names of the witnesses now cosigning it.
func AddCosigned(kv objstore.KV, v note.Verifier, msg []byte) ([]string, error) {
	text, err := LoadWitnessPolicy(kv)
	if err != nil {
		return nil, err
	}
	if text == "" {
		return nil, ErrNoWitnessPolicy
	}
	pol, err := audit.ParseWitnessPolicy(text)
	if err != nil {
		return nil, err
	}
	cp, err := audit.ParseCheckpoint(msg, v)
	if err != nil {
		return nil, err
	}
	log, err := OpenLog(kv, nil)
	if err != nil {
		return nil, err
	}
	if cp.Size < 1 || cp.Size > log.Size() {
		return nil, fmt.Errorf("audit: cosigned checkpoint of %d records, the log has %d", cp.Size, log.Size())
	}
	root, err := log.TreeHash(cp.Size)
	if err != nil {
		return nil, err
	}
	if root != cp.Root {
		return nil, fmt.Errorf("%w: the cosigned checkpoint of %d records is not this log's", audit.ErrBadCheckpoint, cp.Size)
	}
	valid, err := onlyWitnesses(msg, v, pol)
	if err != nil {
		return nil, err
	}
	cosignMu.Lock()
	defer cosignMu.Unlock()
	key := binary.BigEndian.AppendUint64(append([]byte(nil), cosignedPrefix...), uint64(cp.Size))
	if old, err := kv.Get(key); err == nil {
		if valid, err = audit.MergeSignatures(old, valid); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, objstore.ErrNotFound) {
		return nil, err
	}
	_, times, err := pol.Cosigners(valid, v)
	if err != nil {
		return nil, err
	}
	names := slices.Sorted(maps.Keys(times))
	var b objstore.Batch
	b.Put(key, valid)
	// Keep the newest keepCosigned, and each listed witness's newest: a
	// client counts every witness by the newest checkpoint it cosigned.
	type entry struct {
		key   string
		names map[string]time.Time
	}
	var entries []entry
	if err := kv.Scan(cosignedPrefix, func(k, val []byte) error {
		if string(k) == string(key) {
			val = valid
		}
		_, ns, _ := pol.Cosigners(val, v)
		entries = append(entries, entry{string(k), ns})
		return nil
	}); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(entries, func(e entry) bool { return e.key == string(key) }) {
		entries = append(entries, entry{string(key), times})
		slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	}
	seen := map[string]bool{}
	for i := len(entries) - 1; i >= 0; i-- {
		keep := i >= len(entries)-keepCosigned
		for n := range entries[i].names {
			if !seen[n] {
				seen[n], keep = true, true
			}
		}
		if !keep {
			b.Delete([]byte(entries[i].key))
		}
	}
	if err := kv.Write(&b, true); err != nil {
		return nil, err
	}
	return names, nil
}

// onlyWitnesses re-encodes msg with the log's signature and only the
// cosignatures that verify with a witness of pol; none is an error.
func onlyWitnesses(msg []byte, v note.Verifier, pol audit.WitnessPolicy) ([]byte, error) {
	vs := []note.Verifier{v}
	for _, w := range pol.Witnesses {
		vs = append(vs, w)
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", audit.ErrBadCheckpoint, err)
	}
	if len(n.Sigs) < 2 {
		return nil, fmt.Errorf("audit: the checkpoint carries no cosignature of a witness the store lists")
	}
	n.UnverifiedSigs = nil
	// note.Sign with no signers re-encodes the verified signatures.
	return note.Sign(n)
}
