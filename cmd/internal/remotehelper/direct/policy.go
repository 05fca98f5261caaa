package direct

import (
	"context"
	"errors"
	"fmt"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/audit/storeaudit"
	"github.com/helios-vcs/helios/cmd/internal/storedir"
	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/objstore"
)

// policyRemote applies the store's policy (package audit: ordered rules,
// first match wins, deny by default) to what this user may list, fetch
// and push: refs the user may not read are not listed, and each ref update
// needs write, force or delete permission, refused per ref with the rule
// that decided. On a local-path store this is advice, not enforcement:
// whoever can open the store's files can bypass it; helios serve is where
// policy is enforced. A store without a policy allows everything.
type policyRemote struct {
	helper.Remote
	dir, user string
	policy    *audit.Policy // nil: no policy
	loaded    bool
	// store, if set, returns the store the helper holds open (nil if none):
	// refusals are recorded through it when it is open for writing.
	store func() *objstore.Store
	// gitDir is the local repository, where a forced update is checked
	// for being a fast-forward after all ("" : never).
	gitDir string
}

func (p *policyRemote) load() error {
	if p.loaded {
		return nil
	}
	s, err := storedir.Open(p.dir, storedir.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	pol, err := storeaudit.LoadPolicy(s.KV())
	switch {
	case errors.Is(err, storeaudit.ErrNoPolicy):
	case err != nil:
		return fmt.Errorf("policy: %w", err)
	default:
		p.policy = pol
	}
	p.loaded = true
	return nil
}

// List implements "list": refs the user may not read are left out.
func (p *policyRemote) List(ctx context.Context, forPush bool) ([]helper.Ref, error) {
	refs, err := p.Remote.List(ctx, forPush)
	if err != nil || p.load() != nil || p.policy == nil {
		return refs, err
	}
	out := refs[:0]
	for _, r := range refs {
		name := r.Name
		if r.Symref != "" {
			name = r.Symref
		}
		if p.policy.Authorize(p.user, name, audit.OpRead) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// InstallClonePack implements helper.ClonePacker: a pack holds only what
// the wants, values List offered, reach.
func (p *policyRemote) InstallClonePack(ctx context.Context, wants []gitobj.OID, packDir string) (*helper.InstalledPack, error) {
	if cp, ok := p.Remote.(helper.ClonePacker); ok {
		return cp.InstallClonePack(ctx, wants, packDir)
	}
	return nil, nil
}

// Fetch serves only what List offered (git asks for nothing else).
func (p *policyRemote) Fetch(ctx context.Context, wants, haves []gitobj.OID, sink helper.ObjectSink) error {
	return p.Remote.Fetch(ctx, wants, haves, sink)
}

// Push refuses, per ref, the updates the policy does not allow, and
// records each refusal in the store's audit log (not for --dry-run); the
// rest go on to the store (with --atomic, one refusal fails the batch). A
// refusal that cannot be recorded fails the whole push.
func (p *policyRemote) Push(ctx context.Context, updates []helper.RefUpdate, opts helper.PushOptions, objects helper.PushObjects) ([]error, error) {
	if err := p.load(); err != nil {
		return nil, err
	}
	if p.policy == nil {
		return p.Remote.Push(ctx, updates, opts, objects)
	}
	results := make([]error, len(updates))
	var allowed []helper.RefUpdate
	var idx []int
	var denied []denial
	for i, u := range updates {
		op := audit.OpWrite
		switch {
		case u.New.IsZero():
			op = audit.OpDelete
		case u.Force && !u.Old.IsZero() && !fastForward(ctx, p.gitDir, u.Old, u.New):
			// git marks every update of push --force; only one that is
			// not a fast-forward needs force permission.
			op = audit.OpForce
		}
		if err := p.policy.Authorize(p.user, u.Name, op); err != nil {
			results[i] = err
			denied = append(denied, denial{ref: u.Name, op: op, err: err})
			continue
		}
		allowed = append(allowed, u)
		idx = append(idx, i)
	}
	if !opts.DryRun {
		if err := p.recordDenials(denied); err != nil {
			return nil, err
		}
	}
	if len(allowed) < len(updates) && opts.Atomic {
		for i := range results {
			if results[i] == nil {
				results[i] = helper.AtomicFailed
			}
		}
		return results, nil
	}
	if len(allowed) == 0 {
		return results, nil
	}
	res, err := p.Remote.Push(ctx, allowed, opts, objects)
	if err != nil {
		return nil, err
	}
	for j, i := range idx {
		results[i] = res[j]
	}
	return results, nil
}
