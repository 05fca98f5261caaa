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
// its object format: from the repository's config file when it is plain
// (configFormat), else from git rev-parse --show-object-format. One git
// process less matters: a one-commit push is a few of them.
func Open(ctx context.Context, gitDir string) (*Repo, error) {
	abs, err := filepath.Abs(gitDir)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: %w", err)
	}
	r := &Repo{gitDir: abs}
	if f, ok := configFormat(abs); ok {
		r.format = f
		return r, nil
	}
	out, err := r.git(ctx, nil, "rev-parse", "--show-object-format")
	if err != nil {
		return nil, fmt.Errorf("gitrepo: open %q: %w", gitDir, err)
	}
	if r.format, err = gitobj.ParseFormat(strings.TrimSpace(string(out))); err != nil {
		return nil, fmt.Errorf("gitrepo: open %q: %w", gitDir, err)
	}
	return r, nil
}

// commonDir is the directory a linked worktree's git directory shares
// with the main one (its "commondir" file), or gitDir itself; ok is false
// when the file is there but cannot be read.
func commonDir(gitDir string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(gitDir, "commondir"))
	if errors.Is(err, os.ErrNotExist) {
		return gitDir, true
	}
	if err != nil {
		return "", false
	}
	c := strings.TrimSpace(string(b))
	if !filepath.IsAbs(c) {
		c = filepath.Join(gitDir, c)
	}
	return c, true
}

// configFormat reads extensions.objectFormat from the repository's own
// config file, where git reads it (setup.c reads that one file, without
// includes; a linked worktree's is its common directory's). ok is false
// when the file cannot be read or holds anything this reader does not
// fully understand (quotes, escapes, continuations, an unknown value,
// $GIT_COMMON_DIR or $GIT_CONFIG_PARAMETERS in the environment): the
// caller then asks git.
func configFormat(gitDir string) (f gitobj.Format, ok bool) {
	if os.Getenv("GIT_COMMON_DIR") != "" || os.Getenv("GIT_CONFIG_PARAMETERS") != "" || os.Getenv("GIT_DEFAULT_HASH") != "" {
		return f, false
	}
	common, ok := commonDir(gitDir)
	if !ok {
		return f, false
	}
	b, err := os.ReadFile(filepath.Join(common, "config"))
	if err != nil {
		return f, false
	}
	name := "sha1"
	inExt := false
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasSuffix(line, "\\") {
			return f, false // a continued line: the next one may not be what it seems
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			end := strings.LastIndexByte(line, ']')
			if end < 0 {
				return f, false
			}
			if rest := strings.TrimSpace(line[end+1:]); rest != "" && rest[0] != '#' && rest[0] != ';' {
				return f, false // a key on the header's line
			}
			// [section], [section "subsection"], [section.subsection]
			inExt = strings.EqualFold(strings.TrimSpace(line[1:end]), "extensions")
			continue
		}
		if !inExt {
			continue
		}
		if strings.ContainsAny(line, "\"\\") {
			return f, false
		}
		key, val, _ := strings.Cut(line, "=")
		if strings.EqualFold(strings.TrimSpace(key), "objectformat") {
			if i := strings.IndexAny(val, "#;"); i >= 0 {
				val = val[:i]
			}
			name = strings.ToLower(strings.TrimSpace(val))
		}
	}
	f, err = gitobj.ParseFormat(name)
	return f, err == nil
}

// GitDir is the absolute path of the repository's git directory.
func (r *Repo) GitDir() string { return r.gitDir }

// Format is the repository's object format.
func (r *Repo) Format() gitobj.Format { return r.format }

// command builds a git command bound to this repository.
func (r *Repo) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append(HugeMalloc(os.Environ()), "GIT_DIR="+r.gitDir)
	return cmd
}

// hugeMallocTunable has glibc's malloc ask for transparent huge pages for
// the memory it maps. A page fault costs 15–18 µs on the virtual machines
// we measure on; git cat-file reading a 32k-object history took 7,000 of
// them with 4 KiB pages and 1,400 with huge ones, and ran 0.48 s → 0.42 s
// (rev-list --objects: 0.14 s → 0.08 s). glibc before 2.35 ignores it.
const hugeMallocTunable = "glibc.malloc.hugetlb=1"

// HugeMalloc adds hugeMallocTunable to an environment's GLIBC_TUNABLES,
// unless it already says what malloc is to do about huge pages: for the
// git processes a helper runs, and for the store's server (RocksDB's
// table builders and caches allocate through malloc).
func HugeMalloc(env []string) []string {
	for i, kv := range env {
		v, ok := strings.CutPrefix(kv, "GLIBC_TUNABLES=")
		if !ok {
			continue
		}
		if !strings.Contains(v, "glibc.malloc.hugetlb=") {
			if v != "" {
				v += ":"
			}
			env[i] = "GLIBC_TUNABLES=" + v + hugeMallocTunable
		}
		return env
	}
	return append(env, "GLIBC_TUNABLES="+hugeMallocTunable)
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
// commit b. With a cat-file reader it first walks b's history a little
// way itself (CatFile.WalkTo), which answers the usual push, a few commits
// on top of the old value, without a git merge-base process.
func (r *Repo) IsAncestor(ctx context.Context, cat *CatFile, a, b gitobj.OID) (bool, error) {
	if cat != nil && !r.grafted() {
		if found, sure, err := cat.WalkTo(ctx, a, b, walkLimit); err != nil || sure {
			return found, err
		}
	}
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

// walkLimit is how many commits IsAncestor reads itself before asking git.
const walkLimit = 256

// grafted reports whether the history git sees differs from the commits'
// own parent lines (a shallow clone, grafts), which only git applies.
// Both files live in the common directory (a linked worktree has none of
// its own).
func (r *Repo) grafted() bool {
	common, ok := commonDir(r.gitDir)
	if !ok {
		return true
	}
	for _, name := range []string{"shallow", "info/grafts"} {
		if _, err := os.Stat(filepath.Join(common, name)); !errors.Is(err, os.ErrNotExist) {
			return true
		}
	}
	return false
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
