// Package storeaudit plugs the audit log (package audit) into the store:
// Journal implements objstore.Journal, so every ref commit and every
// SetSymbolicRef writes its audit record and a new signed checkpoint in
// the same atomic batch as the ref change; Record does the same for events
// that are not ref changes (policy, keys, search runs). It is the only
// place where audit and objstore meet, so that audit stays a leaf.
//
// Wiring (in the process that opens the store for writing):
//
//	kv, _ := rocksdb.Open(...)
//	signer, _ := audit.LoadSigner(filepath.Join(storeDir, audit.SignerKeyFile))
//	j, _ := storeaudit.Open(kv, signer)
//	s, _ := objstore.Open(kv, objstore.Options{Journal: j, Actor: user})
//	j.Baseline(s, user) // once: records the refs a store had before its log
package storeaudit

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/objstore"
	"golang.org/x/mod/sumdb/note"
)

// Reader is the part of a KV the log reads (an objstore.KV or KVReader).
type Reader interface {
	Get(key []byte) ([]byte, error)
	Scan(prefix []byte, fn func(key, value []byte) error) error
}

type source struct{ r Reader }

func (s source) Lookup(key []byte) ([]byte, bool, error) {
	v, err := s.r.Get(key)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

func (s source) Scan(prefix []byte, fn func(key, value []byte) error) error {
	return s.r.Scan(prefix, fn)
}

// Source adapts a store's KV to what the audit log reads.
func Source(r Reader) audit.Source { return source{r} }

// OpenLog opens the audit log kept in a store's KV for reading (signer
// nil) or appending.
func OpenLog(r Reader, signer note.Signer) (*audit.Log, error) {
	return audit.OpenLog(Source(r), signer)
}

// Journal is the store's audit journal (objstore.Journal).
type Journal struct {
	log *audit.Log
	now func() time.Time

	mu sync.Mutex // serializes Record on a store without a journal
}

var _ objstore.Journal = (*Journal)(nil)

// Open opens the journal over the audit log in kv, signing checkpoints with
// signer.
func Open(kv objstore.KV, signer note.Signer) (*Journal, error) {
	if signer == nil {
		return nil, audit.ErrNoSigner
	}
	l, err := OpenLog(kv, signer)
	if err != nil {
		return nil, err
	}
	return &Journal{log: l, now: time.Now}, nil
}

// SetClock replaces the clock that stamps records (tests).
func (j *Journal) SetClock(now func() time.Time) { j.now = now }

// Log returns the audit log.
func (j *Journal) Log() *audit.Log { return j.log }

// RefChanges converts the store's ref changes to the log's.
func RefChanges(changes []objstore.RefChange) []audit.RefChange {
	out := make([]audit.RefChange, len(changes))
	for i, c := range changes {
		out[i] = audit.RefChange{Name: c.Name, Target: c.Target, Old: idText(c.Old), New: idText(c.New)}
	}
	return out
}

func idText(id objstore.ID) string {
	if id.IsZero() {
		return ""
	}
	return id.String()
}

// Append implements objstore.Journal: one record for the batch of ref
// changes, its hashes and a new signed checkpoint go into b.
func (j *Journal) Append(actor string, changes []objstore.RefChange, b *objstore.Batch) error {
	_, err := j.log.Append(b, audit.Record{Time: j.now(), Actor: actor, Event: audit.EventRef, Refs: RefChanges(changes)})
	return err
}

// Done implements objstore.Journal.
func (j *Journal) Done(err error) { j.log.Done(err) }

// Record appends rec (a policy change, a key change, a search run, a
// denied request), with whatever extra puts the event needs, in one atomic
// write. When s has a journal the write goes through s.Record, under the
// store's journal lock; otherwise straight to the KV, serialized by j.
// A zero rec.Time is set from the journal's clock.
func (j *Journal) Record(s *objstore.Store, rec audit.Record, extra func(b *objstore.Batch) error) error {
	if rec.Time.IsZero() {
		rec.Time = j.now()
	}
	fill := func(b *objstore.Batch) error {
		if extra != nil {
			if err := extra(b); err != nil {
				return err
			}
		}
		_, err := j.log.Append(b, rec)
		return err
	}
	if s.Journaled() {
		err := s.Record(fill)
		j.log.Done(err)
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	var b objstore.Batch
	if err := fill(&b); err != nil {
		j.log.Done(err)
		return err
	}
	err := s.KV().Write(&b, true)
	j.log.Done(err)
	return err
}

// Baseline records, once, the refs a store held before its log started
// (an event "baseline"), so that the log's history of every ref is
// complete. It does nothing when the log already has records.
func (j *Journal) Baseline(s *objstore.Store, actor string) error {
	if err := j.log.Refresh(); err != nil {
		return err
	}
	if j.log.Size() > 0 {
		return nil
	}
	refs, err := s.Refs("")
	if err != nil {
		return err
	}
	rec := audit.Record{Actor: actor, Event: audit.EventBaseline}
	for _, r := range refs {
		if r.IsSymbolic() {
			rec.Refs = append(rec.Refs, audit.RefChange{Name: r.Name, Target: r.Target})
		} else {
			rec.Refs = append(rec.Refs, audit.RefChange{Name: r.Name, New: r.ID.String()})
		}
	}
	return j.Record(s, rec, nil)
}

// ErrNoPolicy is returned by LoadPolicy for a store without a policy.
var ErrNoPolicy = errors.New("audit: the store has no policy")

// LoadPolicy reads the store's current policy.
func LoadPolicy(r Reader) (*audit.Policy, error) {
	v, ok, err := Source(r).Lookup(audit.PolicyKey)
	if err != nil {
		return nil, fmt.Errorf("audit: read policy: %w", err)
	}
	if !ok {
		return nil, ErrNoPolicy
	}
	return audit.ParsePolicy(string(v))
}

// SetPolicy replaces the store's policy with p, as actor, and records the
// change (old and new digests) in the same atomic write. Once a policy
// exists only one of its maintainers may replace it (*audit.DeniedError);
// the first policy of a store may be set by anyone who can write to it,
// which on a local-path store is its owner anyway.
func (j *Journal) SetPolicy(s *objstore.Store, actor string, p *audit.Policy) error {
	attrs := map[string]string{"policy": p.Digest(), "maintainers": fmt.Sprint(p.Maintainers())}
	cur, err := LoadPolicy(s.KV())
	switch {
	case err == nil:
		if err := cur.AuthorizeAction(actor, audit.ActionPolicySet); err != nil {
			return err
		}
		attrs["old-policy"] = cur.Digest()
	case errors.Is(err, ErrNoPolicy):
	default:
		return err
	}
	text := []byte(p.Text())
	return j.Record(s, audit.Record{Actor: actor, Event: audit.EventPolicy, Attrs: attrs}, func(b *objstore.Batch) error {
		b.Put(audit.PolicyKey, text)
		return nil
	})
}
