package objstore

import (
	"errors"
	"fmt"
	"strings"
)

// lookup finds the entry at path under tree root. The empty path names the
// root itself, returned as a directory entry.
func (s *Store) lookup(root ID, path string) (Entry, error) {
	if path == "" || path == "." {
		return Entry{Mode: ModeDir, ID: root}, nil
	}
	parts, err := CleanPath(strings.TrimSuffix(path, "/"))
	if err != nil {
		return Entry{}, err
	}
	cur := Entry{Mode: ModeDir, ID: root}
	for _, name := range parts {
		if !cur.Mode.IsDir() {
			return Entry{}, fmt.Errorf("%w: %q: %q is not a directory", ErrNotFound, path, cur.Name)
		}
		t, err := s.Tree(cur.ID)
		if err != nil {
			return Entry{}, err
		}
		e, ok := t.Find(name)
		if !ok {
			return Entry{}, fmt.Errorf("%w: %q", ErrNotFound, path)
		}
		cur = e
	}
	return cur, nil
}

// Stat returns the entry at path in state.
func (s *Store) Stat(state ID, path string) (Entry, error) {
	st, err := s.State(state)
	if err != nil {
		return Entry{}, err
	}
	return s.lookup(st.Root, path)
}

// ReadFile returns the entry and content of the file at path in state (for
// a symlink, the content is its target).
func (s *Store) ReadFile(state ID, path string) (Entry, []byte, error) {
	e, err := s.Stat(state, path)
	if err != nil {
		return Entry{}, nil, err
	}
	if !e.Mode.IsBlob() {
		return e, nil, fmt.Errorf("objstore: %q is a %v, not a file", path, e.Mode)
	}
	b, err := s.Blob(e.ID)
	return e, b, err
}

// ListTree returns the entries of the directory at path in state ("" is
// the root). The slice is shared: do not modify it.
func (s *Store) ListTree(state ID, path string) ([]Entry, error) {
	e, err := s.Stat(state, path)
	if err != nil {
		return nil, err
	}
	if !e.Mode.IsDir() {
		return nil, fmt.Errorf("objstore: %q is not a directory", path)
	}
	t, err := s.Tree(e.ID)
	if err != nil {
		return nil, err
	}
	return t.Entries, nil
}

// SkipDir, returned by a WalkFunc for a directory, skips its contents.
var SkipDir = errors.New("objstore: skip this directory")

// WalkFunc is called for each entry under a tree, parents before children,
// in git's order, with the slash-separated path from the root.
type WalkFunc func(path string, e Entry) error

// Walk visits every entry under tree root.
func (s *Store) Walk(root ID, fn WalkFunc) error {
	return s.walk(root, "", fn)
}

func (s *Store) walk(id ID, prefix string, fn WalkFunc) error {
	t, err := s.Tree(id)
	if err != nil {
		return err
	}
	for _, e := range t.Entries {
		p := e.Name
		if prefix != "" {
			p = prefix + "/" + e.Name
		}
		err := fn(p, e)
		if errors.Is(err, SkipDir) {
			continue
		}
		if err != nil {
			return err
		}
		if e.Mode.IsDir() {
			if err := s.walk(e.ID, p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// Log returns up to n states reachable from start by first parents.
func (s *Store) Log(start ID, n int) ([]ID, []*State, error) {
	var ids []ID
	var sts []*State
	for id := start; !id.IsZero() && (n <= 0 || len(ids) < n); {
		st, err := s.State(id)
		if err != nil {
			return ids, sts, err
		}
		ids = append(ids, id)
		sts = append(sts, st)
		if len(st.Parents) == 0 {
			break
		}
		id = st.Parents[0]
	}
	return ids, sts, nil
}
