package objstore

import (
	"errors"
	"fmt"
	"strings"
)

// Ref is a named pointer: to a state (ID), or to another ref (Target, when
// the ref is symbolic, as HEAD usually is).
type Ref struct {
	Name   string
	ID     ID
	Target string
}

// IsSymbolic reports whether r points at another ref.
func (r Ref) IsSymbolic() bool { return r.Target != "" }

// RefUpdate moves one ref by compare-and-swap: the ref must currently be Old
// (the zero ID meaning "does not exist") unless IgnoreOld is set. A zero New
// deletes the ref. Updating a symbolic ref updates the ref it points to.
type RefUpdate struct {
	Name      string
	Old, New  ID
	IgnoreOld bool
}

// ErrRefConflict is wrapped by *RefConflictError.
var ErrRefConflict = errors.New("objstore: ref changed concurrently")

// RefConflictError says a compare-and-swap lost: the ref was not Want.
// The remote helper turns it into "error <ref> fetch first".
type RefConflictError struct {
	Name      string
	Want, Got ID
}

func (e *RefConflictError) Error() string {
	return fmt.Sprintf("objstore: ref %q is %v, expected %v", e.Name, e.Got.Short(), e.Want.Short())
}

func (e *RefConflictError) Unwrap() error { return ErrRefConflict }

// ErrBadRefName is wrapped by ref name validation failures.
var ErrBadRefName = errors.New("objstore: invalid ref name")

// ValidRefName applies git's check-ref-format rules: "HEAD", or a name under
// "refs/" whose components do not start with '.', end with ".lock", or hold
// "..", "@{", control characters, space, or any of ~^:?*[\.
func ValidRefName(name string) error {
	if name == "HEAD" {
		return nil
	}
	bad := func(why string) error { return fmt.Errorf("%w: %q: %s", ErrBadRefName, name, why) }
	if !strings.HasPrefix(name, "refs/") {
		return bad("not HEAD and not under refs/")
	}
	if strings.HasSuffix(name, "/") || strings.HasSuffix(name, ".") {
		return bad("ends with '/' or '.'")
	}
	if strings.Contains(name, "..") || strings.Contains(name, "@{") || strings.Contains(name, "//") {
		return bad(`contains "..", "@{" or "//"`)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			return bad(fmt.Sprintf("contains %q", r))
		}
	}
	for _, c := range strings.Split(name, "/")[1:] {
		if c == "" || c[0] == '.' || strings.HasSuffix(c, ".lock") {
			return bad(fmt.Sprintf("component %q", c))
		}
	}
	return nil
}

func refKey(name string) []byte { return append([]byte{prefixRef}, name...) }

// Ref value encoding: 0x00, kind byte (KindState), 32-byte ID for a direct
// ref; 0x01 then the target name for a symbolic one.
func encodeDirect(id ID) []byte {
	b := make([]byte, 2+32)
	b[1] = byte(KindState)
	copy(b[2:], id[:])
	return b
}

func encodeSymbolic(target string) []byte { return append([]byte{1}, target...) }

func decodeRef(name string, v []byte) (Ref, error) {
	switch {
	case len(v) == 34 && v[0] == 0 && v[1] == byte(KindState):
		r := Ref{Name: name}
		copy(r.ID[:], v[2:])
		return r, nil
	case len(v) > 1 && v[0] == 1:
		return Ref{Name: name, Target: string(v[1:])}, nil
	}
	return Ref{}, fmt.Errorf("objstore: ref %q: bad value", name)
}

// Ref returns the named ref as stored (a symbolic ref is not followed).
func (s *Store) Ref(name string) (Ref, error) {
	v, err := s.kv.Get(refKey(name))
	if errors.Is(err, ErrNotFound) {
		return Ref{}, fmt.Errorf("%w: ref %q", ErrNotFound, name)
	}
	if err != nil {
		return Ref{}, err
	}
	return decodeRef(name, v)
}

// Resolve follows symbolic refs (at most 5) and returns the state a ref
// names and the name of the direct ref it ended at.
func (s *Store) Resolve(name string) (ID, string, error) {
	for i := 0; i < 5; i++ {
		r, err := s.Ref(name)
		if err != nil {
			return ZeroID, name, err
		}
		if !r.IsSymbolic() {
			return r.ID, name, nil
		}
		name = r.Target
	}
	return ZeroID, name, fmt.Errorf("objstore: ref %q: symbolic refs nested too deep", name)
}

// ResolveState turns what a user typed into a state: a ref name ("main" is
// tried as "refs/heads/main" then "refs/tags/main") or a tagged ID.
func (s *Store) ResolveState(rev string) (ID, error) {
	if strings.HasPrefix(rev, "b3:") {
		id, err := ParseID(rev)
		if err != nil {
			return ZeroID, err
		}
		if ok, err := s.Has(KindState, id); err != nil || !ok {
			return ZeroID, fmt.Errorf("%w: state %v", ErrNotFound, id)
		}
		return id, nil
	}
	for _, name := range []string{rev, "refs/heads/" + rev, "refs/tags/" + rev} {
		id, _, err := s.Resolve(name)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return ZeroID, err
		}
	}
	return ZeroID, fmt.Errorf("%w: %q is neither a ref nor a state id", ErrNotFound, rev)
}

// Refs lists the refs whose names start with prefix, in name order.
func (s *Store) Refs(prefix string) ([]Ref, error) {
	var out []Ref
	err := s.kv.Scan(refKey(prefix), func(k, v []byte) error {
		r, err := decodeRef(string(k[1:]), v)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// SetSymbolicRef points name at target (HEAD at refs/heads/main, say).
func (s *Store) SetSymbolicRef(name, target string) error {
	if err := ValidRefName(name); err != nil {
		return err
	}
	if err := ValidRefName(target); err != nil {
		return err
	}
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	var b Batch
	b.Put(refKey(name), encodeSymbolic(target))
	s.refCache.Delete(name)
	if j := s.opts.Journal; j != nil {
		s.journal.mu.Lock()
		defer s.journal.mu.Unlock()
		if err := j.Append(s.opts.Actor, []RefChange{{Name: name, Target: target}}, &b); err != nil {
			j.Done(err)
			return err
		}
		err := s.kv.Write(&b, true)
		j.Done(err)
		return err
	}
	return s.kv.Write(&b, s.opts.Durable)
}

// UpdateRefs applies updates atomically: all move, or none does and the
// error says why (a *RefConflictError for a lost compare-and-swap).
func (s *Store) UpdateRefs(updates ...RefUpdate) error {
	w := s.NewWriter()
	return w.Commit(updates...)
}

// CheckRefTargets checks that what every ref reaches first is readable:
// its state and the state's root tree, and, for a ref with a git value,
// the git object it names. Objects are stored before the refs that reach
// them, in dependency order, so these stand for everything behind them. A
// read-only view of a store that a writer changed while it was opened can
// fail it (see objstore/rocksdb's read-only open); an error wraps
// ErrNotFound.
func (s *Store) CheckRefTargets() error {
	refs, err := s.Refs("")
	if err != nil {
		return err
	}
	for _, r := range refs {
		if r.IsSymbolic() {
			continue
		}
		st, err := s.State(r.ID)
		if err != nil {
			return fmt.Errorf("ref %q: %w", r.Name, err)
		}
		if ok, err := s.Has(KindTree, st.Root); err != nil || !ok {
			if err == nil {
				err = fmt.Errorf("%w: tree %v", ErrNotFound, st.Root.Short())
			}
			return fmt.Errorf("ref %q: %w", r.Name, err)
		}
	}
	gitRefs, err := s.GitRefs("")
	if err != nil {
		return err
	}
	for _, g := range gitRefs {
		if _, err := s.GitObject(g.OID); err != nil {
			return fmt.Errorf("git value of ref %q: %w", g.Name, err)
		}
	}
	return nil
}
