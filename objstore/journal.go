package objstore

import "sync"

// RefChange is one ref move made by a commit (Old or New zero for a
// creation or a deletion; a symbolic ref's change has Target set).
type RefChange struct {
	Name     string
	Old, New ID
	Target   string
}

// Journal records every change to refs in the same atomic KV batch as the
// change itself: the audit log plugs in here (package audit). With a
// Journal, all journaled writes are serialized by one lock, so the journal
// sees them in the order they land.
//
// Contract: Append is called with the journal lock held, after the
// compare-and-swap checks passed and before the batch is written; it adds
// its own operations to b (under keys with the 'a' prefix) and may keep
// in-memory state for them. Done is then called, still under the lock,
// with the outcome of the write: on an error the journal must forget what
// Append prepared. Neither may call back into the Store's write methods.
type Journal interface {
	Append(actor string, changes []RefChange, b *Batch) error
	Done(err error)
}

// journalLock serializes journaled writes; a store without a journal
// never takes it.
type journalLock struct{ mu sync.Mutex }

// Record writes a journal entry that is not a ref change (a policy change,
// a key rotation, a search run): fn adds the journal's operations to a
// batch, which is written atomically under the journal lock, and Done is
// told the outcome.
func (s *Store) Record(fn func(b *Batch) error) error {
	if s.opts.Journal == nil {
		return nil
	}
	s.journal.mu.Lock()
	defer s.journal.mu.Unlock()
	var b Batch
	if err := fn(&b); err != nil {
		s.opts.Journal.Done(err)
		return err
	}
	err := s.kv.Write(&b, true)
	s.opts.Journal.Done(err)
	return err
}

// Journaled reports whether the store has a journal.
func (s *Store) Journaled() bool { return s.opts.Journal != nil }
