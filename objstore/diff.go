package objstore

import "fmt"

// ChangeOp says how a path differs between two states.
type ChangeOp uint8

const (
	Added ChangeOp = iota + 1
	Deleted
	Modified
	ModeChanged // same content, different mode (e.g. chmod +x)
)

func (o ChangeOp) String() string {
	switch o {
	case Added:
		return "added"
	case Deleted:
		return "deleted"
	case Modified:
		return "modified"
	case ModeChanged:
		return "mode changed"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// MarshalText gives the JSON form ("added", ...).
func (o ChangeOp) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// Change is one path that differs. From is zero for Added, To for Deleted.
// Paths are files, symlinks and gitlinks: a directory that appears is
// reported as its files. A path whose type changes between file and
// directory is reported as deletions and additions.
type Change struct {
	Path     string   `json:"path"`
	Op       ChangeOp `json:"op"`
	From, To Entry    `json:"-"`
}

// Diff compares two trees (ZeroID is the empty tree) and returns the
// changed paths in git's order. Subtrees with equal IDs are skipped without
// being read, so the cost follows the size of the change, not of the trees.
func (s *Store) Diff(a, b ID) ([]Change, error) {
	var out []Change
	err := s.diffTrees(a, b, "", func(c Change) error { out = append(out, c); return nil })
	return out, err
}

// DiffStates compares the root trees of two states (ZeroID: empty).
func (s *Store) DiffStates(a, b ID) ([]Change, error) {
	ra, err := s.rootOf(a)
	if err != nil {
		return nil, err
	}
	rb, err := s.rootOf(b)
	if err != nil {
		return nil, err
	}
	return s.Diff(ra, rb)
}

func (s *Store) rootOf(state ID) (ID, error) {
	if state.IsZero() {
		return ZeroID, nil
	}
	st, err := s.State(state)
	if err != nil {
		return ZeroID, err
	}
	return st.Root, nil
}

func (s *Store) entries(id ID) ([]Entry, error) {
	if id.IsZero() {
		return nil, nil
	}
	t, err := s.Tree(id)
	if err != nil {
		return nil, err
	}
	return t.Entries, nil
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "/" + name
}

func (s *Store) diffTrees(a, b ID, prefix string, emit func(Change) error) error {
	if a == b {
		return nil
	}
	ea, err := s.entries(a)
	if err != nil {
		return err
	}
	eb, err := s.entries(b)
	if err != nil {
		return err
	}
	// Merge by name. Git's order depends on the entry type, so a name that
	// is a file on one side and a directory on the other may sit at different
	// positions; compare by plain name to pair them, then emit in order.
	i, j := 0, 0
	for i < len(ea) || j < len(eb) {
		var x, y *Entry
		switch {
		case j >= len(eb):
			x = &ea[i]
		case i >= len(ea):
			y = &eb[j]
		case ea[i].Name == eb[j].Name:
			x, y = &ea[i], &eb[j]
		case entryLessNames(ea[i].Name, ea[i].Mode.IsDir(), eb[j].Name, eb[j].Mode.IsDir()):
			x = &ea[i]
		default:
			y = &eb[j]
		}
		if x != nil {
			i++
		}
		if y != nil {
			j++
		}
		if err := s.diffEntry(x, y, prefix, emit); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) diffEntry(x, y *Entry, prefix string, emit func(Change) error) error {
	switch {
	case x != nil && y != nil && x.Mode.IsDir() && y.Mode.IsDir():
		return s.diffTrees(x.ID, y.ID, join(prefix, x.Name), emit)
	case x != nil && y != nil && !x.Mode.IsDir() && !y.Mode.IsDir():
		switch {
		case x.ID != y.ID:
			return emit(Change{Path: join(prefix, x.Name), Op: Modified, From: *x, To: *y})
		case x.Mode != y.Mode:
			return emit(Change{Path: join(prefix, x.Name), Op: ModeChanged, From: *x, To: *y})
		}
		return nil
	}
	if x != nil {
		if err := s.emitAll(*x, prefix, Deleted, emit); err != nil {
			return err
		}
	}
	if y != nil {
		return s.emitAll(*y, prefix, Added, emit)
	}
	return nil
}

// emitAll reports e (a file, or every file under a directory) as op.
func (s *Store) emitAll(e Entry, prefix string, op ChangeOp, emit func(Change) error) error {
	p := join(prefix, e.Name)
	if !e.Mode.IsDir() {
		c := Change{Path: p, Op: op}
		if op == Added {
			c.To = e
		} else {
			c.From = e
		}
		return emit(c)
	}
	es, err := s.entries(e.ID)
	if err != nil {
		return err
	}
	for _, c := range es {
		if err := s.emitAll(c, p, op, emit); err != nil {
			return err
		}
	}
	return nil
}
