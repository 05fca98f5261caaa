package storeremote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/objstore"
)

// Fetch implements helper.Remote.
//
// The walk: the commits reachable from the haves the store knows are
// uninteresting; the commits reachable from the wants and not from them
// are sent, with every tree and blob they reach except those in the full
// trees of the uninteresting commits on the boundary (git's
// mark_edges_uninteresting). One goroutine walks the history, reading
// commits and trees from the mapping; blob contents, most of the bytes, are
// read by a few more (blobReaders); the caller's goroutine hands the
// objects to the sink (which compresses and hashes them) in the order they
// come, so all of it overlaps. A pack's entries may come in any order.
func (r *Remote) Fetch(ctx context.Context, wants, haves []gitobj.OID, sink helper.ObjectSink) error {
	if err := r.ensure(false); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	objs := make(chan gitobj.Object, 64)
	blobs := make(chan blobJob, 256)
	var readers sync.WaitGroup
	var readErr atomic.Pointer[error]
	for range blobReaders {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for j := range blobs {
				if ctx.Err() != nil {
					continue
				}
				data, err := r.store.Blob(j.id)
				if err != nil {
					err = fmt.Errorf("storeremote: blob %v: %w", j.oid, err)
					readErr.CompareAndSwap(nil, &err)
					cancel()
					continue
				}
				select {
				case objs <- gitobj.Object{Type: gitobj.Blob, OID: toGit(j.oid), Data: data}:
				case <-ctx.Done():
				}
			}
		}()
	}
	errc := make(chan error, 1)
	go func() {
		f := &fetchWalk{r: r, ctx: ctx, seen: map[objstore.GitOID]bool{}, out: objs, blobs: blobs}
		errc <- f.run(wants, haves)
		close(blobs)
		readers.Wait()
		close(objs)
	}()
	var sinkErr error
	for o := range objs {
		if sinkErr == nil {
			if sinkErr = sink.WriteObject(o); sinkErr != nil {
				cancel()
			}
		}
	}
	err := <-errc
	if e := readErr.Load(); e != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = *e
	}
	if err != nil && sinkErr == nil {
		return err
	}
	return sinkErr
}

// blobReaders is the number of goroutines that read blob contents for a
// fetch: with the walk and the sink's compression workers, enough to keep
// the cores busy.
const blobReaders = 2

// blobJob is a blob the walk wants sent.
type blobJob struct {
	oid objstore.GitOID
	id  objstore.ID
}

type fetchWalk struct {
	r     *Remote
	ctx   context.Context
	seen  map[objstore.GitOID]bool // not to be sent (sent, or the other side has it)
	out   chan<- gitobj.Object
	blobs chan<- blobJob // blobs go to the readers
}

func (f *fetchWalk) get(oid objstore.GitOID) (objstore.GitObject, error) {
	o, ok, err := f.r.object(oid)
	if err != nil {
		return o, err
	}
	if !ok {
		return o, fmt.Errorf("storeremote: object %v is not in the store", oid)
	}
	return o, nil
}

func (f *fetchWalk) send(oid objstore.GitOID, o objstore.GitObject) error {
	if o.Type == objstore.GitBlob {
		select {
		case f.blobs <- blobJob{oid, o.ID}:
			return nil
		case <-f.ctx.Done():
			return f.ctx.Err()
		}
	}
	select {
	case f.out <- gitobj.Object{Type: gitobj.Type(o.Type), OID: toGit(oid), Data: o.Raw}:
		return nil
	case <-f.ctx.Done():
		return f.ctx.Err()
	}
}

func (f *fetchWalk) run(wants, haves []gitobj.OID) error {
	// The other side's tags, and the commits its refs name.
	var haveCommits []objstore.GitOID
	for _, h := range haves {
		oid := fromGit(h)
		for !f.seen[oid] {
			o, ok, err := f.r.object(oid)
			if err != nil {
				return err
			}
			if !ok {
				break // a have the store never saw
			}
			if o.Type == objstore.GitCommit {
				haveCommits = append(haveCommits, oid)
				break
			}
			f.seen[oid] = true
			if o.Type != objstore.GitTag {
				break
			}
			if oid, _, err = tagTarget(o.Raw); err != nil {
				return err
			}
		}
	}
	uninteresting, err := f.ancestors(haveCommits, nil)
	if err != nil {
		return err
	}
	// Wanted tags, trees and blobs go out now; commits are walked below.
	var wantCommits []objstore.GitOID
	for _, w := range wants {
		oid := fromGit(w)
		for !f.seen[oid] {
			o, err := f.get(oid)
			if err != nil {
				return err
			}
			if o.Type == objstore.GitCommit {
				wantCommits = append(wantCommits, oid)
				break
			}
			if o.Type == objstore.GitTree {
				if err := f.tree(oid, o); err != nil {
					return err
				}
				break
			}
			f.seen[oid] = true
			if err := f.send(oid, o); err != nil {
				return err
			}
			if o.Type != objstore.GitTag {
				break
			}
			if oid, _, err = tagTarget(o.Raw); err != nil {
				return err
			}
		}
	}
	var commits []objstore.GitOID
	var edges []objstore.GitOID
	_, err = f.ancestors(wantCommits, func(oid objstore.GitOID, parents []objstore.GitOID) bool {
		if uninteresting[oid] {
			return false
		}
		commits = append(commits, oid)
		for _, p := range parents {
			if uninteresting[p] {
				edges = append(edges, p)
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	// What the other side has: the whole trees of the boundary commits.
	for _, e := range edges {
		o, err := f.get(e)
		if err != nil {
			return err
		}
		root, _, err := commitLinks(o.Raw)
		if err != nil {
			return err
		}
		if err := f.markHave(root); err != nil {
			return err
		}
	}
	for _, c := range commits {
		o, err := f.get(c)
		if err != nil {
			return err
		}
		f.seen[c] = true
		if err := f.send(c, o); err != nil {
			return err
		}
		root, _, err := commitLinks(o.Raw)
		if err != nil {
			return err
		}
		if !f.seen[root] {
			ro, err := f.get(root)
			if err != nil {
				return err
			}
			if err := f.tree(root, ro); err != nil {
				return err
			}
		}
	}
	return nil
}

// ancestors walks the commits reachable from tips and returns them as a
// set. visit, if set, is called once per commit with its parents; a false
// return stops the walk there.
func (f *fetchWalk) ancestors(tips []objstore.GitOID, visit func(objstore.GitOID, []objstore.GitOID) bool) (map[objstore.GitOID]bool, error) {
	set := make(map[objstore.GitOID]bool)
	stack := append([]objstore.GitOID(nil), tips...)
	for len(stack) > 0 {
		oid := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if set[oid] {
			continue
		}
		if err := f.ctx.Err(); err != nil {
			return nil, err
		}
		set[oid] = true
		o, err := f.get(oid)
		if err != nil {
			return nil, err
		}
		if o.Type != objstore.GitCommit {
			return nil, fmt.Errorf("storeremote: %v is a %v, not a commit", oid, o.Type)
		}
		_, parents, err := commitLinks(o.Raw)
		if err != nil {
			return nil, err
		}
		if visit != nil && !visit(oid, parents) {
			continue
		}
		stack = append(stack, parents...)
	}
	return set, nil
}

// markHave marks a tree and everything under it as present on the other
// side.
func (f *fetchWalk) markHave(oid objstore.GitOID) error {
	if f.seen[oid] {
		return nil
	}
	f.seen[oid] = true
	o, err := f.get(oid)
	if err != nil {
		return err
	}
	return eachTreeEntry(o.Raw, func(e treeEntry) error {
		switch entryKind(e.mode) {
		case objstore.GitTree:
			return f.markHave(e.oid)
		case objstore.GitBlob:
			f.seen[e.oid] = true
		}
		return nil
	})
}

// tree sends a tree and what it reaches that was not sent yet.
func (f *fetchWalk) tree(oid objstore.GitOID, o objstore.GitObject) error {
	f.seen[oid] = true
	if err := f.send(oid, o); err != nil {
		return err
	}
	return eachTreeEntry(o.Raw, func(e treeEntry) error {
		k := entryKind(e.mode)
		if k == 0 || f.seen[e.oid] {
			return nil
		}
		c, err := f.get(e.oid)
		if err != nil {
			return err
		}
		if c.Type != k {
			return fmt.Errorf("storeremote: tree %v names %v as a %v, the store has a %v", oid, e.oid, k, c.Type)
		}
		if k == objstore.GitTree {
			return f.tree(e.oid, c)
		}
		f.seen[e.oid] = true
		return f.send(e.oid, c)
	})
}
