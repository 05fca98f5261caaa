package storeremote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
// commits and trees from the mapping and sending them; blob contents, most
// of the bytes, are read after the walk, in store key order, by a few more
// (blobReaders); the caller's goroutine hands the objects to the sink
// (which compresses and hashes them) in the order they come, so the
// reading and the compression overlap. A pack's entries may come in any
// order.
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
				data, err := r.store.BlobOnce(j.id)
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
		// The walk's blobs are read once it ends, in the order of their
		// store keys: a store's blocks then each decompress once, where
		// the walk's order (random in BLAKE3 ids) reads most blocks of a
		// big fetch several times over once they outgrow the block cache.
		f := &fetchWalk{r: r, ctx: ctx, seen: map[objstore.GitOID]bool{}, out: objs}
		err := f.run(wants, haves)
		if err == nil {
			slices.SortFunc(f.blobs, func(a, b blobJob) int { return bytes.Compare(a.id[:], b.id[:]) })
		feed:
			for _, j := range f.blobs {
				select {
				case blobs <- j:
				case <-ctx.Done():
					break feed
				}
			}
		}
		errc <- err
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
	blobs []blobJob // to be read and sent once the walk ends
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
		f.blobs = append(f.blobs, blobJob{oid, o.ID})
		return nil
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
	commits, edges, err := f.limit(wantCommits, haveCommits)
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
	// The commits, and then their root trees, are read a batch at a time.
	for len(commits) > 0 {
		batch := commits[:min(len(commits), walkBatch)]
		commits = commits[len(batch):]
		objs, err := f.getMany(batch)
		if err != nil {
			return err
		}
		roots := make([]objstore.GitOID, len(batch))
		var unsent []objstore.GitOID
		for i, o := range objs {
			if roots[i], _, err = commitLinks(o.Raw); err != nil {
				return err
			}
			if !f.seen[roots[i]] {
				unsent = append(unsent, roots[i])
			}
		}
		rootObjs, err := f.getMany(unsent)
		if err != nil {
			return err
		}
		rootObj := make(map[objstore.GitOID]objstore.GitObject, len(unsent))
		for i, root := range unsent {
			rootObj[root] = rootObjs[i]
		}
		for i, c := range batch {
			f.seen[c] = true
			if err := f.send(c, objs[i]); err != nil {
				return err
			}
			if !f.seen[roots[i]] {
				if err := f.tree(roots[i], rootObj[roots[i]]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// walkBatch is how many commits the walk reads in one call.
const walkBatch = 256

// getMany is get for many ids, read in one call (Store.GitObjects).
func (f *fetchWalk) getMany(oids []objstore.GitOID) ([]objstore.GitObject, error) {
	objs, found, err := f.r.store.GitObjects(oids)
	if err != nil {
		return nil, fmt.Errorf("storeremote: %w", err)
	}
	for i, oid := range oids {
		if o, ok := f.r.exp[oid]; ok {
			objs[i] = o // as get: an exported object's entry is the Remote's
		} else if !found[i] {
			if objs[i], err = f.get(oid); err != nil {
				return nil, err
			}
		}
	}
	return objs, nil
}

// limit returns the commits reachable from wants and not from haves, and
// the edges: commits reachable from haves that are parents of those. It
// walks both sides together, newest commit first (by committer time), and
// stops as soon as everything left to walk is reachable from a have, as
// git's own revision walk does: a one-commit fetch from a long history
// reads a few commits, not the whole history behind the haves. A commit
// dated out of order may be sent though the other side has it, which is
// harmless; none it lacks is ever left out.
func (f *fetchWalk) limit(wants, haves []objstore.GitOID) (commits, edges []objstore.GitOID, err error) {
	const (
		queued        = 1
		uninteresting = 2
	)
	flags := map[objstore.GitOID]uint8{}
	var q commitQueue
	live := 0 // queued commits not (yet) known to be reachable from a have
	// parents[i] are the parents of commits[i], for the edges once the
	// walk is done.
	var parents [][]gitobj.OID
	add := func(oid objstore.GitOID, have bool) error {
		fl := flags[oid]
		switch {
		case have && fl&uninteresting != 0, !have && fl&queued != 0:
			return nil
		case have && fl&queued != 0:
			// Queued as wanted, or already walked as wanted: only the flag
			// changes (a walked one stays sent).
			flags[oid] = fl | uninteresting
			if q.has(oid) {
				live--
			}
			return nil
		}
		o, ok, err := f.r.object(oid)
		if err != nil {
			return err
		}
		if !ok {
			if have {
				return nil // a have the store never saw
			}
			return fmt.Errorf("storeremote: object %v is not in the store", oid)
		}
		if o.Type != objstore.GitCommit {
			return fmt.Errorf("storeremote: %v is a %v, not a commit", oid, o.Type)
		}
		c, err := gitobj.DecodeCommit(gitobj.SHA1, o.Raw)
		if err != nil {
			return fmt.Errorf("storeremote: %w", err)
		}
		fl |= queued
		if have {
			fl |= uninteresting
		} else {
			live++
		}
		flags[oid] = fl
		q.push(oid, identTime(c.Committer), c)
		return nil
	}
	for _, h := range haves {
		if err := add(h, true); err != nil {
			return nil, nil, err
		}
	}
	for _, w := range wants {
		if err := add(w, false); err != nil {
			return nil, nil, err
		}
	}
	for q.len() > 0 && live > 0 {
		if err := f.ctx.Err(); err != nil {
			return nil, nil, err
		}
		oid, c := q.pop()
		have := flags[oid]&uninteresting != 0
		if !have {
			live--
			commits = append(commits, oid)
			parents = append(parents, c.Parents)
		}
		for _, p := range c.Parents {
			if err := add(fromGit(p), have); err != nil {
				return nil, nil, err
			}
		}
	}
	seenEdge := map[objstore.GitOID]bool{}
	for _, ps := range parents {
		for _, gp := range ps {
			p := fromGit(gp)
			if flags[p]&uninteresting != 0 && !seenEdge[p] {
				seenEdge[p] = true
				edges = append(edges, p)
			}
		}
	}
	return commits, edges, nil
}

// identTime is the Unix time of a "Name <email> TIME ZONE" line (0 when it
// has none).
func identTime(ident string) int64 {
	i := strings.LastIndexByte(ident, '>')
	if i < 0 {
		return 0
	}
	f := strings.Fields(ident[i+1:])
	if len(f) == 0 {
		return 0
	}
	t, _ := strconv.ParseInt(f[0], 10, 64)
	return t
}

// commitQueue is a max-heap of commits by committer time.
type commitQueue struct {
	items []queuedCommit
	in    map[objstore.GitOID]bool
}

type queuedCommit struct {
	oid  objstore.GitOID
	when int64
	c    *gitobj.CommitObject
}

func (q *commitQueue) len() int { return len(q.items) }

func (q *commitQueue) has(oid objstore.GitOID) bool { return q.in[oid] }

func (q *commitQueue) push(oid objstore.GitOID, when int64, c *gitobj.CommitObject) {
	if q.in == nil {
		q.in = map[objstore.GitOID]bool{}
	}
	q.in[oid] = true
	q.items = append(q.items, queuedCommit{oid, when, c})
	for i := len(q.items) - 1; i > 0; {
		p := (i - 1) / 2
		if q.items[p].when >= q.items[i].when {
			break
		}
		q.items[p], q.items[i] = q.items[i], q.items[p]
		i = p
	}
}

func (q *commitQueue) pop() (objstore.GitOID, *gitobj.CommitObject) {
	top := q.items[0]
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	q.items = q.items[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q.items) && q.items[l].when > q.items[m].when {
			m = l
		}
		if r < len(q.items) && q.items[r].when > q.items[m].when {
			m = r
		}
		if m == i {
			break
		}
		q.items[m], q.items[i] = q.items[i], q.items[m]
		i = m
	}
	delete(q.in, top.oid)
	return top.oid, top.c
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

// entries reads, in one call (getMany), the git entries of the entries of
// a tree that are not sent yet: a clone's walk reads one per object, and a
// read each took half as long again (objstore.MultiGetter).
func (f *fetchWalk) entries(raw []byte) (map[objstore.GitOID]objstore.GitObject, error) {
	var oids []objstore.GitOID
	eachTreeEntry(raw, func(e treeEntry) error { // a malformed tree fails in the walk itself
		if entryKind(e.mode) != 0 && !f.seen[e.oid] {
			oids = append(oids, e.oid)
		}
		return nil
	})
	objs, err := f.getMany(oids)
	if err != nil {
		return nil, err
	}
	read := make(map[objstore.GitOID]objstore.GitObject, len(oids))
	for i, oid := range oids {
		read[oid] = objs[i]
	}
	return read, nil
}

// tree sends a tree and what it reaches that was not sent yet.
func (f *fetchWalk) tree(oid objstore.GitOID, o objstore.GitObject) error {
	f.seen[oid] = true
	if err := f.send(oid, o); err != nil {
		return err
	}
	read, err := f.entries(o.Raw)
	if err != nil {
		return err
	}
	return eachTreeEntry(o.Raw, func(e treeEntry) error {
		k := entryKind(e.mode)
		if k == 0 || f.seen[e.oid] {
			return nil
		}
		c := read[e.oid] // unseen now, so unseen when entries read it
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
