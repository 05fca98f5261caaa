package gitrepo

import (
	"context"
	"errors"
	"slices"

	"github.com/helios-vcs/helios/helper/gitobj"
)

// ListNew lists, through the cat-file reader, the objects a push of a few
// commits on top of the remote's refs sends: the commits between tips and
// haves, and each one's trees and blobs that none of its parents has at
// the same path. That is what git rev-list --objects tips --not haves
// lists, or a little more (an object moved to a new path, or one another
// ref of the remote already has), which the remote skips; and it costs no
// rev-list process, which reads every have's whole tree.
//
// ok is false when ListNew cannot tell cheaply: a tip that is not a
// commit, more than maxCommits new commits, a root commit or a history that
// does not reach a have (a branch started from an older commit), a missing
// object, a shallow or grafted repository. The caller then asks rev-list.
func (r *Repo) ListNew(ctx context.Context, cat *CatFile, tips, haves []gitobj.OID, maxCommits int) (ids []gitobj.OID, ok bool, err error) {
	if len(tips) == 0 || len(haves) == 0 || r.grafted() {
		return nil, false, nil
	}
	have := make(map[gitobj.OID]bool, len(haves))
	for _, h := range haves {
		have[h] = true
	}
	// The new commits, newest first, decoded.
	commits := map[gitobj.OID]*gitobj.CommitObject{}
	var order []gitobj.OID
	front := make([]gitobj.OID, 0, len(tips))
	for _, t := range tips {
		if !have[t] && !slices.Contains(front, t) {
			front = append(front, t)
		}
	}
	sure, err := cat.walkCommits(ctx, front, func(p gitobj.OID) bool { return have[p] }, maxCommits,
		func(id gitobj.OID, cm *gitobj.CommitObject) error {
			if len(cm.Parents) == 0 {
				return errUnsure // a root commit: the whole tree is new, rev-list is as cheap
			}
			commits[id] = cm
			order = append(order, id)
			return nil
		})
	if err != nil || !sure {
		return nil, false, err
	}
	// Each new commit's tree against its parents' trees.
	seen := map[gitobj.OID]bool{}
	add := func(id gitobj.OID) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	// treeOf is a parent's tree: a new commit's, or a have's read now.
	treeOf := func(c gitobj.OID) (gitobj.OID, bool, error) {
		if cm, ok := commits[c]; ok {
			return cm.Tree, true, nil
		}
		o, err := cat.Read(c)
		if errors.Is(err, ErrNotFound) {
			return gitobj.OID{}, false, nil
		}
		if err != nil {
			return gitobj.OID{}, false, err
		}
		if o.Type != gitobj.Commit {
			return gitobj.OID{}, false, nil
		}
		cm, err := gitobj.DecodeCommit(cat.format, o.Data)
		if err != nil {
			return gitobj.OID{}, false, nil
		}
		commits[c] = cm
		return cm.Tree, true, nil
	}
	for _, c := range order {
		add(c)
	}
	for _, c := range order {
		var bases []gitobj.OID
		for _, p := range commits[c].Parents {
			t, ok, err := treeOf(p)
			if err != nil || !ok {
				return nil, false, err
			}
			bases = append(bases, t)
		}
		root := commits[c].Tree
		if ok, err := diffTrees(ctx, cat, root, bases, add); err != nil || !ok {
			return nil, false, err
		}
	}
	return ids, true, nil
}

// diffTrees adds tree and, below it, every tree and blob that is not at the
// same path in any of bases. Gitlinks name commits of other repositories
// and are never sent.
func diffTrees(ctx context.Context, cat *CatFile, tree gitobj.OID, bases []gitobj.OID, add func(gitobj.OID)) (bool, error) {
	for _, b := range bases {
		if b == tree {
			return true, nil
		}
	}
	add(tree)
	objs := map[gitobj.OID]gitobj.Object{}
	err := cat.Stream(ctx, append([]gitobj.OID{tree}, bases...), func(o gitobj.Object) error {
		objs[o.OID] = o
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	entries := func(id gitobj.OID) ([]gitobj.TreeEntry, bool) {
		o := objs[id]
		if o.Type != gitobj.Tree {
			return nil, false
		}
		t, err := gitobj.DecodeTree(cat.format, o.Data)
		if err != nil {
			return nil, false
		}
		return t.Entries, true
	}
	mine, ok := entries(tree)
	if !ok {
		return false, nil
	}
	baseEntries := make([]map[string]gitobj.TreeEntry, 0, len(bases))
	for _, b := range bases {
		es, ok := entries(b)
		if !ok {
			return false, nil
		}
		m := make(map[string]gitobj.TreeEntry, len(es))
		for _, e := range es {
			m[e.Name] = e
		}
		baseEntries = append(baseEntries, m)
	}
	for _, e := range mine {
		if e.Mode&0o170000 == gitobj.ModeGitlink {
			continue
		}
		same := false
		var sub []gitobj.OID
		for _, m := range baseEntries {
			be, ok := m[e.Name]
			if !ok {
				continue
			}
			if be.OID == e.OID {
				same = true
				break
			}
			if be.Mode.IsDir() {
				sub = append(sub, be.OID)
			}
		}
		switch {
		case same:
		case e.Mode.IsDir():
			if ok, err := diffTrees(ctx, cat, e.OID, sub, add); err != nil || !ok {
				return ok, err
			}
		default:
			add(e.OID)
		}
	}
	return true, nil
}
