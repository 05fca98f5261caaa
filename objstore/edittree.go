package objstore

import "strings"

// EditTree puts into w the tree base (a tree ID; zero for an empty tree)
// with files put in, and returns its ID. Paths in files are slash-separated
// from base's root; each replaces the file at its path or adds one, making
// the directories above it as needed. A replaced file keeps its mode (a
// regular or executable file, or a symlink); a new one is ModeFile. Only the
// new content and the trees on the changed paths are put (other trees are
// reused by ID, never re-read), and nothing is stored until w commits:
// the ID is known before the write, so a caller can drop an edit whose
// tree it already has (mcts's TreeFirst, the server's prepare-state).
// Every path must pass CleanPath (an error wraps ErrBadPath).
func (w *Writer) EditTree(base ID, files map[string][]byte) (ID, error) {
	for p := range files {
		if _, err := CleanPath(p); err != nil {
			return ZeroID, err
		}
	}
	return w.editTree(base, "", files)
}

func (w *Writer) editTree(base ID, prefix string, files map[string][]byte) (ID, error) {
	var es []Entry
	if !base.IsZero() {
		t, err := w.s.Tree(base)
		if err != nil {
			return ZeroID, err
		}
		es = append(es, t.Entries...) // the cache's: copy before changing
	}
	find := func(name string) int {
		for i := range es {
			if es[i].Name == name {
				return i
			}
		}
		return -1
	}
	set := func(e Entry) {
		if i := find(e.Name); i >= 0 {
			es[i] = e
		} else {
			es = append(es, e)
		}
	}
	var subs map[string]map[string][]byte
	for p, content := range files {
		name, _, isDir := strings.Cut(strings.TrimPrefix(p, prefix), "/")
		if isDir {
			if subs == nil {
				subs = map[string]map[string][]byte{}
			}
			if subs[name] == nil {
				subs[name] = map[string][]byte{}
			}
			subs[name][p] = content
			continue
		}
		id, err := w.PutBlob(content)
		if err != nil {
			return ZeroID, err
		}
		mode := ModeFile
		if i := find(name); i >= 0 && es[i].Mode.IsBlob() {
			mode = es[i].Mode
		}
		set(Entry{Name: name, Mode: mode, ID: id})
	}
	for name, sub := range subs {
		var old ID
		if i := find(name); i >= 0 && es[i].Mode.IsDir() {
			old = es[i].ID
		}
		id, err := w.editTree(old, prefix+name+"/", sub)
		if err != nil {
			return ZeroID, err
		}
		set(Entry{Name: name, Mode: ModeDir, ID: id})
	}
	SortEntries(es)
	return w.PutTree(&Tree{Entries: es})
}
