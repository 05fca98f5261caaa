package helper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"

	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/helper/gitrepo"
)

// pushLine is one parsed "push [+]<src>:<dst>" line.
type pushLine struct {
	src, dst string
	force    bool
}

func parsePushLine(line string) (pushLine, error) {
	spec := strings.TrimPrefix(line, "push ")
	var p pushLine
	if strings.HasPrefix(spec, "+") {
		p.force = true
		spec = spec[1:]
	}
	// <dst> is a ref name and cannot hold ':'; <src> is whatever the user
	// typed and may (HEAD:path), so split at the last colon like git.
	i := strings.LastIndexByte(spec, ':')
	if i < 0 {
		return p, fmt.Errorf("helper: malformed push %q: want [+]<src>:<dst>", line)
	}
	p.src, p.dst = spec[:i], spec[i+1:]
	if strings.HasPrefix(p.src, "+") || strings.HasPrefix(p.src, "-") {
		return p, fmt.Errorf("helper: malformed push %q", line)
	}
	if p.dst == "HEAD" {
		return p, fmt.Errorf("helper: malformed push %q: cannot push to HEAD", line)
	}
	if err := CheckRefName(p.dst); err != nil {
		return p, err
	}
	return p, nil
}

// push implements:
//
//	push +<src>:<dst>
//		Pushes the given local <src> commit or branch to the remote branch
//		described by <dst>. A batch sequence of one or more push commands
//		is terminated with a blank line (if there is only one reference to
//		push, a single push command is followed by a blank line).
//		Zero or more protocol options may be entered after the last push
//		command, before the batch's terminating blank line.
//		When the push is complete, outputs one or more ok <dst> or
//		error <dst> <why>? lines to indicate success or failure of each
//		pushed ref. The status report output is terminated by a blank
//		line. The option field <why> may be quoted in a C style string if
//		it contains an LF.
//
// A leading + forces the update; an empty <src> deletes <dst>. The
// remote's current value must still be the one `list for-push` (or
// `option cas`) gave, else "fetch first" ("stale info" for a lease).
func (s *session) push(ctx context.Context, first string) error {
	lines, err := s.batch(first, "push")
	if err != nil {
		return err
	}
	if _, err := s.connect(); err != nil {
		return err
	}
	specs := make([]pushLine, len(lines))
	dsts := make(map[string]bool)
	for i, line := range lines {
		if specs[i], err = parsePushLine(line); err != nil {
			return err
		}
		if dsts[specs[i].dst] {
			return fmt.Errorf("helper: %q pushed twice in one batch", specs[i].dst)
		}
		dsts[specs[i].dst] = true
	}
	status := make([]error, len(specs))
	updates := make([]RefUpdate, len(specs))
	forced := make([]bool, len(specs))
	refs, err := s.localRefs(ctx, specs)
	if err != nil {
		return err
	}
	for i, p := range specs {
		u := RefUpdate{Name: p.dst, Old: s.forPush[p.dst], Force: p.force}
		if exp, ok := s.cas[p.dst]; ok {
			u.Old, u.Lease = exp, true
		}
		if id, ok := refs[p.src]; ok {
			u.New = id
		} else if p.src != "" {
			local, err := s.localRepo(ctx)
			if err != nil {
				return err
			}
			if u.New, err = s.resolve(ctx, local, p.src); err != nil {
				status[i] = fmt.Errorf("src refspec %s does not match any object", p.src)
				continue
			}
		}
		updates[i] = u
		forced[i], status[i] = s.checkUpdate(ctx, u)
	}
	if s.atomic && anyErr(status) {
		for i := range status {
			if status[i] == nil {
				status[i] = AtomicFailed
			}
		}
	}
	var todo []RefUpdate
	var idx []int
	for i := range specs {
		if status[i] == nil {
			todo = append(todo, updates[i])
			idx = append(idx, i)
		}
	}
	if len(todo) > 0 {
		results, err := s.sendUpdates(ctx, todo)
		for k, i := range idx {
			switch {
			case err != nil:
				status[i] = err
			case k < len(results):
				status[i] = results[k]
			default:
				status[i] = errors.New("helper: remote reported no status")
			}
		}
	}
	for i, p := range specs {
		if status[i] == nil {
			if forced[i] {
				fmt.Fprintf(s.out, "ok %s forced update\n", p.dst)
			} else {
				fmt.Fprintf(s.out, "ok %s\n", p.dst)
			}
			continue
		}
		fmt.Fprintf(s.out, "error %s %s\n", p.dst, quoteC(reason(status[i])))
	}
	s.out.WriteString("\n")
	// Leases and options are per batch.
	s.cas = make(map[string]gitobj.OID)
	return nil
}

// localRefs lists the local refs in one git for-each-ref when the batch
// pushes several full ref names (git push --mirror, --all, refs/heads/*
// refspecs send those), instead of one git rev-parse per ref: a full name
// resolves to that ref, which is what rev-parse would find first.
func (s *session) localRefs(ctx context.Context, specs []pushLine) (map[string]gitobj.OID, error) {
	n := 0
	for _, p := range specs {
		if strings.HasPrefix(p.src, "refs/") {
			n++
		}
	}
	if n < 2 {
		return nil, nil
	}
	local, err := s.localRepo(ctx)
	if err != nil {
		return nil, err
	}
	refs, err := s.localRefList(ctx, local)
	if err != nil {
		return nil, err
	}
	m := make(map[string]gitobj.OID, len(refs))
	for _, r := range refs {
		m[r.Name] = r.OID
	}
	return m, nil
}

// resolve resolves a push's <src> through the cat-file reader the push
// needs anyway, and through git rev-parse when that reader cannot take the
// expression (white space in it).
func (s *session) resolve(ctx context.Context, local *gitrepo.Repo, expr string) (gitobj.OID, error) {
	cat, err := s.catFile(ctx)
	if err != nil {
		return gitobj.OID{}, err
	}
	id, _, err := cat.Resolve(expr)
	if err == nil || !errors.Is(err, gitrepo.ErrBadRevision) || !strings.ContainsFunc(expr, unicode.IsSpace) {
		return id, err
	}
	return local.ResolveRev(ctx, expr)
}

func anyErr(errs []error) bool {
	for _, e := range errs {
		if e != nil {
			return true
		}
	}
	return false
}

// reason is the <why> of an error line: git's own words for a Rejection,
// the fsck message for a rejected object, the error text otherwise.
func reason(err error) string {
	var rej Rejection
	if errors.As(err, &rej) {
		return string(rej)
	}
	var fe *gitobj.FsckError
	if errors.As(err, &fe) {
		return "object " + fe.OID.String() + " rejected: " + fe.Reason()
	}
	return strings.TrimPrefix(err.Error(), "helper: ")
}

// checkUpdate applies git's client-side rules (remote.c
// set_ref_status_for_push) against the local repository, since the
// store's ref values may have moved since git checked: tags are never
// moved without force, the old value must be known locally and be an
// ancestor of the new one. It reports whether the update is a forced
// non-fast-forward.
func (s *session) checkUpdate(ctx context.Context, u RefUpdate) (forced bool, err error) {
	if u.New.IsZero() || u.Old.IsZero() || u.Old == u.New {
		return false, nil
	}
	// A lease that still holds forces the update (git push
	// --force-with-lease); the remote's compare-and-swap enforces it.
	u.Force = u.Force || u.Lease
	if !u.Force && strings.HasPrefix(u.Name, "refs/tags/") {
		return false, AlreadyExists
	}
	cat, err := s.catFile(ctx)
	if err != nil {
		return false, err
	}
	oldType, _, err := cat.Info(u.Old)
	if errors.Is(err, gitrepo.ErrNotFound) {
		if u.Force {
			return true, nil
		}
		return false, FetchFirst
	}
	if err != nil {
		return false, err
	}
	newType, _, err := cat.Info(u.New)
	if err != nil {
		return false, err
	}
	ff := false
	if oldType == gitobj.Commit && newType == gitobj.Commit {
		if ff, err = s.local.IsAncestor(ctx, cat, u.Old, u.New); err != nil {
			return false, err
		}
	}
	switch {
	case ff:
		return false, nil
	case u.Force:
		return true, nil
	case oldType != gitobj.Commit || newType != gitobj.Commit:
		return false, NeedsForce
	}
	return false, NonFastForward
}

// sendUpdates hands the accepted updates to the remote.
func (s *session) sendUpdates(ctx context.Context, todo []RefUpdate) ([]error, error) {
	opts := PushOptions{Atomic: s.atomic, DryRun: s.dryRun}
	objs := &localObjects{s: s}
	if c, ok := s.remote.(CheckingRemote); ok && c.ChecksPushedObjects() {
		objs.unchecked = true
	}
	if !s.dryRun {
		for _, u := range todo {
			if !u.New.IsZero() {
				objs.tips = append(objs.tips, u.New)
			}
		}
		for _, v := range s.forPush {
			objs.haves = append(objs.haves, v)
		}
		for _, v := range s.cas {
			objs.haves = append(objs.haves, v)
		}
	}
	results, err := s.remote.Push(ctx, todo, opts, objs)
	if err != nil {
		return nil, err
	}
	if len(results) != len(todo) {
		return nil, fmt.Errorf("helper: remote returned %d statuses for %d updates", len(results), len(todo))
	}
	objs.done()
	return results, nil
}

// localObjects is PushObjects over the local repository. Read and Stream
// verify every object (id and git fsck --strict rules) before the remote
// sees it. The listing (git rev-list) runs when the remote first asks.
type localObjects struct {
	s           *session
	tips, haves []gitobj.OID
	ids         []gitobj.OID
	listed      bool
	quickTried  bool // quickList ran (Listed, then List or Stream, ask in turn)
	n           int

	checker ObjectChecker
	recheck []gitobj.OID // blobs named .gitmodules or .gitattributes after they were passed
	// unchecked: the remote checks every object itself (CheckingRemote),
	// so they are not checked twice.
	unchecked bool
}

var (
	_ PushObjectLister   = (*localObjects)(nil)
	_ PushObjectStreamer = (*localObjects)(nil)
	_ PushObjectPiper    = (*localObjects)(nil)
)

// list runs git rev-list over the push (once), calling fn for each id.
func (o *localObjects) list(ctx context.Context, fn func(gitobj.OID) error) error {
	if o.listed {
		for _, id := range o.ids {
			if err := fn(id); err != nil {
				return err
			}
		}
		return nil
	}
	if len(o.tips) > 0 {
		local, err := o.s.localRepo(ctx)
		if err != nil {
			return err
		}
		var ids []gitobj.OID
		err = local.ListObjects(ctx, o.tips, o.haves, func(id gitobj.OID) error {
			ids = append(ids, id)
			return fn(id)
		})
		if err != nil {
			return fmt.Errorf("helper: push: %w", err)
		}
		o.ids = ids
	}
	o.listed = true
	return nil
}

func (o *localObjects) IDs(ctx context.Context) ([]gitobj.OID, error) {
	err := o.List(ctx, func(gitobj.OID) error { return nil })
	return o.ids, err
}

// List implements PushObjectLister: the ids of IDs, each as git rev-list
// prints it.
func (o *localObjects) List(ctx context.Context, fn func(gitobj.OID) error) error {
	if err := o.quickList(ctx); err != nil {
		return err
	}
	return o.list(ctx, fn)
}

// quickList lists a push of a few commits on top of the remote's refs
// through the cat-file reader (gitrepo.Repo.ListNew) when it can, which
// saves the git rev-list process that would read every have's whole tree.
// It runs before the streaming starts, which holds the reader.
func (o *localObjects) quickList(ctx context.Context) error {
	if o.listed || o.quickTried || len(o.tips) == 0 || len(o.haves) == 0 {
		return nil
	}
	o.quickTried = true
	local, err := o.s.localRepo(ctx)
	if err != nil {
		return err
	}
	cat, err := o.s.catFile(ctx)
	if err != nil {
		return err
	}
	ids, ok, err := local.ListNew(ctx, cat, o.tips, o.haves, quickListCommits)
	if err != nil {
		return fmt.Errorf("helper: push: %w", err)
	}
	if ok {
		o.ids, o.listed = ids, true
	}
	return nil
}

// quickListCommits is how many new commits quickList lists itself.
const quickListCommits = 32

func (o *localObjects) Read(ctx context.Context, ids []gitobj.OID, fn func(gitobj.Object) error) error {
	cat, err := o.s.catFile(ctx)
	if err != nil {
		return err
	}
	err = cat.Stream(ctx, ids, func(obj gitobj.Object) error {
		if err := o.check(obj); err != nil {
			return err
		}
		return fn(obj)
	})
	if err != nil {
		return err
	}
	return o.checkLate(ctx, cat)
}

// Stream implements PushObjectStreamer: git rev-list feeds git cat-file
// while its output is still coming.
func (o *localObjects) Stream(ctx context.Context, want func([]gitobj.OID) ([]bool, error), fn func(gitobj.Object) error) error {
	if err := o.quickList(ctx); err != nil {
		return err
	}
	cat, err := o.s.catFile(ctx)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ids := make(chan gitobj.OID, 1024)
	lerr := make(chan error, 1)
	go func() {
		defer close(ids)
		run := make([]gitobj.OID, 1) // git lists one at a time here
		lerr <- o.list(lctx, func(id gitobj.OID) error {
			run[0] = id
			ok, err := want(run)
			switch {
			case err != nil:
				return err
			case len(ok) != 1:
				return fmt.Errorf("helper: push: %d verdicts for 1 id", len(ok))
			case !ok[0]:
				return nil
			}
			select {
			case ids <- id:
				return nil
			case <-lctx.Done():
				return lctx.Err()
			}
		})
	}()
	err = cat.StreamFrom(ctx, ids, func(obj gitobj.Object) error {
		err := o.check(obj)
		if err == nil {
			err = fn(obj)
		}
		if err != nil {
			cancel() // stop listing; the replies already asked for are dropped
		}
		return err
	})
	cancel()
	for range ids {
	}
	if lerr := <-lerr; err == nil && lerr != nil {
		err = lerr
	}
	if err != nil {
		return err
	}
	return o.checkLate(ctx, cat)
}

// Listed implements PushObjectPiper.
func (o *localObjects) Listed(ctx context.Context) (int, bool, error) {
	if err := o.quickList(ctx); err != nil {
		return 0, false, err
	}
	if len(o.tips) == 0 {
		return 0, true, nil // nothing to list: a deletion
	}
	return len(o.ids), o.listed, nil
}

// Pipe implements PushObjectPiper, for a remote that checks every object
// itself only.
func (o *localObjects) Pipe(ctx context.Context, ids <-chan gitobj.OID) (*os.File, func(bool) error, error) {
	if !o.unchecked {
		return nil, nil, errors.New("helper: push: objects are piped only to a remote that checks them")
	}
	local, err := o.s.localRepo(ctx)
	if err != nil {
		return nil, nil, err
	}
	p, err := local.BatchPipe(ctx, ids, o.progress)
	if err != nil {
		return nil, nil, fmt.Errorf("helper: push: %w", err)
	}
	return p.R(), p.Wait, nil
}

// check verifies one object on its way to the remote.
func (o *localObjects) check(obj gitobj.Object) error {
	if o.unchecked {
		o.progress()
		return nil
	}
	again, err := o.checker.Check(obj)
	if err != nil {
		var fe *gitobj.FsckError
		if errors.As(err, &fe) {
			return err
		}
		return fmt.Errorf("helper: local object: %w", err)
	}
	o.recheck = append(o.recheck, again...)
	o.progress()
	return nil
}

func (o *localObjects) progress() {
	o.n++
	if o.s.progress && o.s.verbosity >= 1 && o.n%1000 == 0 {
		fmt.Fprintf(o.s.cfg.Err, "\rhelios: writing objects: %d", o.n)
	}
}

// checkLate checks the blobs passed before the tree that names them
// .gitmodules or .gitattributes.
func (o *localObjects) checkLate(ctx context.Context, cat *gitrepo.CatFile) error {
	recheck := o.recheck
	o.recheck = nil
	return cat.Stream(ctx, recheck, o.checker.CheckBlob)
}

func (o *localObjects) done() {
	if o.s.progress && o.s.verbosity >= 1 && o.n > 0 {
		fmt.Fprintf(o.s.cfg.Err, "\rhelios: writing objects: %d, done.\n", o.n)
	}
}
