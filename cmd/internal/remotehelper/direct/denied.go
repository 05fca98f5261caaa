package direct

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/cmd/internal/storedir"
	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/objstore"
)

// denial is a ref update the policy refused.
type denial struct {
	ref string
	op  audit.Op
	err error
}

// recordDenials appends one audit record (event "denied": who, op, ref,
// reason) per refused update, through the store's audit journal: the
// store this helper already holds open for writing when it has one, else
// the store opened for writing just for this (after any running server
// handed it over), so that the log has one writer at a time under the
// journal's lock. A store without an audit log records nothing.
func (p *policyRemote) recordDenials(ds []denial) error {
	if len(ds) == 0 || !storedir.AuditEnabled(p.dir) {
		return nil
	}
	var s *objstore.Store
	if p.store != nil {
		s = p.store()
	}
	if s == nil || !s.Journaled() {
		var err error
		s, err = storedir.Open(p.dir, storedir.Options{Write: true, LockWait: lockWait, StopServer: true})
		if err != nil {
			return fmt.Errorf("audit the refusal: %w", err)
		}
		defer s.Close()
	}
	j, err := storedir.Journal(p.dir, s.KV())
	if err != nil {
		return fmt.Errorf("audit the refusal: %w", err)
	}
	for _, d := range ds {
		rec := audit.Denial(time.Now(), p.user, "local", string(d.op), d.ref, d.err)
		if err := j.Record(s, rec, nil); err != nil {
			return fmt.Errorf("audit the refusal of %s %s: %w", d.op, d.ref, err)
		}
	}
	return nil
}

// fastForward reports whether old is an ancestor of new in the local
// repository (git merge-base --is-ancestor); any doubt (no repository,
// old not present locally) is false.
func fastForward(ctx context.Context, gitDir string, old, new gitobj.OID) bool {
	if gitDir == "" {
		return false
	}
	cmd := exec.CommandContext(ctx, "git", "--git-dir", gitDir, "merge-base", "--is-ancestor", old.String(), new.String())
	return cmd.Run() == nil
}
