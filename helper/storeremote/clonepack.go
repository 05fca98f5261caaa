package storeremote

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/clonepack"
	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/objstore"
)

var _ helper.ClonePacker = (*Remote)(nil)

// InstallClonePack implements helper.ClonePacker: it installs ClonePack's
// pack by hard links where it can.
func (r *Remote) InstallClonePack(ctx context.Context, wants []gitobj.OID, packDir string) (*helper.InstalledPack, error) {
	p, err := r.ClonePack(ctx, wants)
	if p == nil || err != nil {
		return nil, err
	}
	if err := p.Install(packDir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Evicted by another process's build since it was chosen:
			// the objects are sent one by one instead.
			return nil, nil
		}
		return nil, err
	}
	return &helper.InstalledPack{Tips: p.Tips, Wanted: p.Wanted}, nil
}

// ClonePack is the helper.ClonePacker with the Remote's ClonePacks: the
// newest pack whose tips wants reach (each tip is wanted, or is a commit
// that a wanted commit's history reaches straight from commits the clone
// lacks: the old value of a branch that moved forward), else a new pack of
// wants. A clone by someone who may read only some refs asks only for
// those refs' values, so a pack it is given holds nothing else.
func (r *Remote) ClonePack(ctx context.Context, wants []gitobj.OID) (*ClonePack, error) {
	if r.ClonePacks == nil || len(wants) == 0 {
		return nil, nil
	}
	if err := r.ensure(false); err != nil {
		return nil, err
	}
	p, err := r.ClonePacks.Find(func(tips []gitobj.OID) (bool, error) { return r.reaches(ctx, wants, tips) })
	if err != nil {
		return nil, err
	}
	if p == nil {
		p, err = r.ClonePacks.Build(ctx, wants, func(sink helper.ObjectSink) error {
			return r.Fetch(ctx, wants, nil, sink)
		})
		if err != nil {
			return nil, err
		}
	}
	wanted, err := r.objects(wants)
	if err != nil {
		return nil, err
	}
	return &ClonePack{p, wanted}, nil
}

// objects reads the objects ids name, blobs included.
func (r *Remote) objects(ids []gitobj.OID) ([]gitobj.Object, error) {
	out := make([]gitobj.Object, 0, len(ids))
	for _, id := range ids {
		oid := fromGit(id)
		o, ok, err := r.object(oid)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("storeremote: object %v is not in the store", oid)
		}
		data := o.Raw
		if o.Type == objstore.GitBlob {
			if data, err = r.store.Blob(o.ID); err != nil {
				return nil, fmt.Errorf("storeremote: blob %v: %w", oid, err)
			}
		}
		out = append(out, gitobj.Object{Type: gitobj.Type(o.Type), OID: id, Data: data})
	}
	return out, nil
}

// reaches says whether every tip is reachable from wants, as far as a
// fetch walk from wants with tips as haves shows it: a tip that is wanted,
// or a commit on the boundary of what wants add (a parent of a commit the
// walk would send).
func (r *Remote) reaches(ctx context.Context, wants, tips []gitobj.OID) (bool, error) {
	wanted := make(map[gitobj.OID]bool, len(wants))
	for _, w := range wants {
		wanted[w] = true
	}
	var rest []objstore.GitOID
	for _, t := range tips {
		if !wanted[t] {
			rest = append(rest, fromGit(t))
		}
	}
	if len(rest) == 0 {
		return true, nil
	}
	// Wanted tags stand for the commits they point at.
	var wantCommits []objstore.GitOID
	for _, w := range wants {
		oid := fromGit(w)
		for {
			o, ok, err := r.object(oid)
			if err != nil || !ok {
				return false, err
			}
			if o.Type == objstore.GitCommit {
				wantCommits = append(wantCommits, oid)
				break
			}
			if o.Type != objstore.GitTag {
				break
			}
			if oid, _, err = tagTarget(o.Raw); err != nil {
				return false, err
			}
		}
	}
	for _, t := range rest {
		o, ok, err := r.object(t)
		if err != nil || !ok || o.Type != objstore.GitCommit {
			return false, err
		}
	}
	f := &fetchWalk{r: r, ctx: ctx, seen: map[objstore.GitOID]bool{}}
	_, edges, err := f.limit(wantCommits, rest)
	if err != nil {
		return false, err
	}
	onEdge := make(map[objstore.GitOID]bool, len(edges))
	for _, e := range edges {
		onEdge[e] = true
	}
	for _, t := range rest {
		if !onEdge[t] {
			return false, nil
		}
	}
	return true, nil
}

// ClonePack is a clone pack of the Remote's cache and the objects the
// wants it was chosen for name.
type ClonePack struct {
	*clonepack.Pack
	Wanted []gitobj.Object
}
