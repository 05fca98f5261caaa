// Package gitrepo is the local side of the remote helper: the repository
// git runs the helper for ($GIT_DIR). Bulk work goes through git's own
// plumbing as subprocesses, which DESIGN.md measured to be 5-60x faster
// than go-git for it:
//
//   - ListObjects: git rev-list --objects --no-object-names --stdin
//   - CatFile: one long-lived git cat-file --batch-command --buffer
//   - ResolveRev, IsAncestor: git rev-parse, git merge-base --is-ancestor
//
// Fetched objects, which come from the store rather than from git, are
// written by PackWriter straight into $GIT_DIR/objects/pack as one pack of
// undeltified zlib entries, its version 2 index and a .keep file, in git's
// own rename order (.keep first, .pack, then .idx last), so git sees either
// nothing or a complete pack. See pack.go.
//
// Every argument that comes from outside (refs, revision expressions) is
// checked before it reaches a git command line; object ids are always
// passed as full hex.
package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/helios-vcs/helios/helper/gitobj"
)

// Repo is a local git repository.
type Repo struct {
	gitDir string
	format gitobj.Format
}

// Open opens the repository at gitDir (a $GIT_DIR, bare or not) and reads
// its object format.
func Open(ctx context.Context, gitDir string) (*Repo, error) {
	abs, err := filepath.Abs(gitDir)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: %w", err)
	}
	r := &Repo{gitDir: abs}
	out, err := r.git(ctx, nil, "rev-parse", "--show-object-format")
	if err != nil {
		return nil, fmt.Errorf("gitrepo: open %q: %w", gitDir, err)
	}
	if r.format, err = gitobj.ParseFormat(strings.TrimSpace(string(out))); err != nil {
		return nil, fmt.Errorf("gitrepo: open %q: %w", gitDir, err)
	}
	return r, nil
}

// GitDir is the absolute path of the repository's git directory.
func (r *Repo) GitDir() string { return r.gitDir }

// Format is the repository's object format.
func (r *Repo) Format() gitobj.Format { return r.format }

// command builds a git command bound to this repository.
func (r *Repo) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append(os.Environ(), "GIT_DIR="+r.gitDir)
	return cmd
}

// git runs a git command and returns its stdout; stderr goes into the error.
func (r *Repo) git(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd := r.command(ctx, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// ErrBadRevision reports a revision expression that git cannot resolve or
// that is not safe to pass to git.
var ErrBadRevision = errors.New("gitrepo: bad revision")

// ResolveRev resolves a revision expression as git push sends it for the
// <src> of a refspec (a ref name, "HEAD~2", an abbreviated id) to an
// object id, like git rev-parse --verify <expr>^{object}.
func (r *Repo) ResolveRev(ctx context.Context, expr string) (gitobj.OID, error) {
	if expr == "" || strings.HasPrefix(expr, "-") || strings.ContainsAny(expr, "\x00\n") {
		return gitobj.OID{}, fmt.Errorf("%w: %q", ErrBadRevision, expr)
	}
	out, err := r.git(ctx, nil, "rev-parse", "--verify", "--quiet", expr+"^{object}")
	if err != nil {
		return gitobj.OID{}, fmt.Errorf("%w: %q", ErrBadRevision, expr)
	}
	return gitobj.ParseOIDFormat(r.format, strings.TrimSpace(string(out)))
}

// IsAncestor reports whether commit a is an ancestor of (or equal to)
// commit b.
func (r *Repo) IsAncestor(ctx context.Context, a, b gitobj.OID) (bool, error) {
	cmd := r.command(ctx, "merge-base", "--is-ancestor", a.String(), b.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return false, nil
	}
	return false, fmt.Errorf("gitrepo: merge-base --is-ancestor: %w: %s", err, strings.TrimSpace(stderr.String()))
}

// LocalRef is one ref of the local repository.
type LocalRef struct {
	Name string
	OID  gitobj.OID
}

// Refs lists the local repository's refs (not HEAD), as git
// for-each-ref does. Their closures are complete by git's invariant, which
// makes their values good "haves" for a fetch.
func (r *Repo) Refs(ctx context.Context) ([]LocalRef, error) {
	out, err := r.git(ctx, nil, "for-each-ref", "--format=%(objectname) %(refname)")
	if err != nil {
		return nil, fmt.Errorf("gitrepo: %w", err)
	}
	var refs []LocalRef
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		hex, name, _ := strings.Cut(line, " ")
		id, err := gitobj.ParseOIDFormat(r.format, hex)
		if err != nil {
			return nil, fmt.Errorf("gitrepo: for-each-ref: %w", err)
		}
		refs = append(refs, LocalRef{Name: name, OID: id})
	}
	return refs, nil
}
