package mcts

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/helios-vcs/helios/objstore"
)

// Git is the baseline Helios is measured against (--backend git): the
// same Store on a git repository, driven by the git binary the way a tool
// that cares about speed would drive it, so that the difference a search
// sees is the store's and not a strawman's.
//
//   - Reads go through one long-running `git cat-file --batch`; trees and
//     blobs read are kept in memory (up to 64 MiB), as Helios keeps them
//     in its cache.
//   - A state is written without spawning a process: the changed files
//     through a long-running `git hash-object -w --stdin-paths`, the
//     trees above them through `git mktree --batch` (only the directories
//     on the changed paths; the others are reused by ID), the commit
//     through `git hash-object -t commit -w --stdin-paths`. Objects are
//     loose, as `git commit` writes them; git's default fsync settings
//     apply (loose objects are not synced, and neither are Helios's
//     states: its WAL is written without fsync).
//   - A scratch checkout moves with `git read-tree --reset -u <commit>`
//     (what `git checkout -f` does, without HEAD), one process per switch,
//     with an index file per checkout: git writes only the files that
//     differ, using the index's stat data to skip the rest.
//   - Result refs move in one `git update-ref --stdin` transaction, each
//     with its old value (compare-and-swap).
//
// IDs: a git object ID (20 bytes of SHA-1) is carried in an objstore.ID,
// left-aligned and zero-padded, as objstore does for gitlinks; StateName
// prints it as git does. The batch processes are shared under one lock,
// so concurrent workers take turns for reads and writes (checkouts run in
// parallel). Close stops them and removes the index files.
type Git struct {
	gitDir string
	tmp    string
	env    []string
	// Author signs the commits the search makes (default "helios mcts").
	Author objstore.Signature
	// Now is the commit time (default time.Now).
	Now func() time.Time

	mu          sync.Mutex
	cat         *gitPipe // git cat-file --batch
	blobs       *gitPipe // git hash-object -w --no-filters --stdin-paths
	commits     *gitPipe // git hash-object -t commit -w --stdin-paths
	trees       *gitPipe // git mktree --batch
	cache       map[objstore.ID][]byte
	cachedBytes int
	parsed      map[objstore.ID][]objstore.Entry
	roots       map[objstore.ID]objstore.ID // commit → tree
	seq         int
}

var (
	_ Backend   = (*Git)(nil)
	_ TreeFirst = (*Git)(nil)
)

const gitCacheMax = 64 << 20

// InitGit makes a bare repository at dir and opens it.
func InitGit(dir string) (*Git, error) {
	if out, err := exec.Command("git", "init", "-q", "--bare", dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mcts: git init: %w: %s", err, bytes.TrimSpace(out))
	}
	return OpenGit(dir)
}

// OpenGit opens the git repository at dir (a worktree or a bare
// repository) as a Store. The user's worktree and index are never used:
// scratch checkouts have their own.
func OpenGit(dir string) (*Git, error) {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--absolute-git-dir").Output()
	if err != nil {
		return nil, fmt.Errorf("mcts: %q is not a git repository: %w", dir, err)
	}
	tmp, err := os.MkdirTemp("", "helios-mcts-git-")
	if err != nil {
		return nil, err
	}
	g := &Git{gitDir: strings.TrimSpace(string(out)), tmp: tmp, cache: map[objstore.ID][]byte{},
		parsed: map[objstore.ID][]objstore.Entry{}, roots: map[objstore.ID]objstore.ID{}}
	g.env = append(os.Environ(), "GIT_DIR="+g.gitDir, "LC_ALL=C", "GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=gc.auto", "GIT_CONFIG_VALUE_0=0")
	for _, p := range []struct {
		dst  **gitPipe
		args []string
	}{
		{&g.cat, []string{"cat-file", "--batch"}},
		{&g.blobs, []string{"hash-object", "-w", "--no-filters", "--stdin-paths"}},
		{&g.commits, []string{"hash-object", "-t", "commit", "-w", "--stdin-paths"}},
		{&g.trees, []string{"mktree", "--batch"}},
	} {
		if *p.dst, err = g.startPipe(p.args...); err != nil {
			g.Close()
			return nil, err
		}
	}
	return g, nil
}

// Dir is the repository's git directory.
func (g *Git) Dir() string { return g.gitDir }

// Close stops the batch processes and removes the scratch index files.
func (g *Git) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	for _, p := range []*gitPipe{g.cat, g.blobs, g.commits, g.trees} {
		if p != nil {
			errs = append(errs, p.close())
		}
	}
	g.cat, g.blobs, g.commits, g.trees = nil, nil, nil, nil
	errs = append(errs, os.RemoveAll(g.tmp))
	return errors.Join(errs...)
}

// gitPipe is a long-running git command fed lines on stdin.
type gitPipe struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	w      *bufio.Writer
	out    *bufio.Reader
	stderr lockedBuffer
}

// lockedBuffer is a process's stderr: written by exec's copying
// goroutine, read when the process fails.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.TrimSpace(l.b.String())
}

func (g *Git) startPipe(args ...string) (*gitPipe, error) {
	p := &gitPipe{cmd: exec.Command("git", args...)}
	p.cmd.Env = g.env
	p.cmd.Stderr = &p.stderr
	in, err := p.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("mcts: git %s: %w", args[0], err)
	}
	p.in, p.w, p.out = in, bufio.NewWriter(in), bufio.NewReaderSize(out, 64<<10)
	return p, nil
}

// line sends s and reads one answer line (without its end).
func (p *gitPipe) line(s string) (string, error) {
	p.w.WriteString(s)
	if err := p.w.Flush(); err != nil {
		return "", p.fail(err)
	}
	l, err := p.out.ReadString('\n')
	if err != nil {
		return "", p.fail(err)
	}
	return strings.TrimSuffix(l, "\n"), nil
}

func (p *gitPipe) fail(err error) error {
	return fmt.Errorf("mcts: git %s: %w: %s", p.cmd.Args[1], err, p.stderr.String())
}

func (p *gitPipe) close() error {
	p.in.Close()
	return p.cmd.Wait()
}

// gitID carries a git object ID in an objstore.ID.
func gitID(hexID string) (objstore.ID, error) {
	var id objstore.ID
	if len(hexID) != 40 {
		return id, fmt.Errorf("mcts: git: bad object id %q", hexID)
	}
	if _, err := hex.Decode(id[:20], []byte(hexID)); err != nil {
		return id, fmt.Errorf("mcts: git: bad object id %q", hexID)
	}
	return id, nil
}

func gitHex(id objstore.ID) string { return hex.EncodeToString(id[:20]) }

// StateName prints a state as git does (40 hex digits).
func (g *Git) StateName(id objstore.ID) string { return gitHex(id) }

// Resolve returns the commit a git revision names.
func (g *Git) Resolve(rev string) (objstore.ID, error) {
	if strings.HasPrefix(rev, "-") {
		return objstore.ZeroID, fmt.Errorf("mcts: git: bad revision %q", rev)
	}
	out, err := g.git(nil, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	if err != nil {
		return objstore.ZeroID, fmt.Errorf("mcts: git: no commit %q: %w", rev, objstore.ErrNotFound)
	}
	return gitID(strings.TrimSpace(string(out)))
}

// git runs one git command.
func (g *Git) git(env []string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	// A copy: g.env may have room to spare, and workers run git at once.
	cmd.Env = append(slices.Clip(g.env), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("mcts: git %s: %w: %s", args[0], err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// read returns an object's content; g.mu is held.
func (g *Git) read(id objstore.ID, typ string) ([]byte, error) {
	if b, ok := g.cache[id]; ok {
		return b, nil
	}
	if g.cat == nil {
		return nil, objstore.ErrClosed
	}
	h, err := g.cat.line(gitHex(id) + "\n")
	if err != nil {
		return nil, err
	}
	f := strings.Fields(h)
	if len(f) == 2 && f[1] == "missing" {
		return nil, fmt.Errorf("mcts: git object %s: %w", gitHex(id), objstore.ErrNotFound)
	}
	if len(f) != 3 {
		return nil, fmt.Errorf("mcts: git cat-file: %q", h)
	}
	n, err := strconv.Atoi(f[2])
	if err != nil {
		return nil, fmt.Errorf("mcts: git cat-file: %q", h)
	}
	b := make([]byte, n+1)
	if _, err := io.ReadFull(g.cat.out, b); err != nil {
		return nil, g.cat.fail(err)
	}
	b = b[:n]
	if f[1] != typ {
		return nil, fmt.Errorf("mcts: git object %s is a %s, not a %s", gitHex(id), f[1], typ)
	}
	if typ != "commit" {
		if g.cachedBytes+n > gitCacheMax {
			clear(g.cache)
			g.cachedBytes = 0
		}
		g.cache[id] = b
		g.cachedBytes += n
	}
	return b, nil
}

// tree returns a tree's entries in git's order; g.mu is held.
func (g *Git) tree(id objstore.ID) ([]objstore.Entry, error) {
	if es, ok := g.parsed[id]; ok {
		return es, nil
	}
	b, err := g.read(id, "tree")
	if err != nil {
		return nil, err
	}
	var es []objstore.Entry
	for len(b) > 0 {
		sp := bytes.IndexByte(b, ' ')
		nul := bytes.IndexByte(b, 0)
		if sp < 0 || nul < sp || len(b) < nul+21 {
			return nil, fmt.Errorf("mcts: git tree %s: malformed", gitHex(id))
		}
		m, err := strconv.ParseUint(string(b[:sp]), 8, 32)
		if err != nil {
			return nil, fmt.Errorf("mcts: git tree %s: mode %q", gitHex(id), b[:sp])
		}
		e := objstore.Entry{Name: string(b[sp+1 : nul]), Mode: objstore.Mode(m)}
		copy(e.ID[:20], b[nul+1:nul+21])
		es = append(es, e)
		b = b[nul+21:]
	}
	g.parsed[id] = es
	return es, nil
}

// State implements StateReader: the commit's tree, parents and message.
func (g *Git) State(id objstore.ID) (*objstore.State, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state(id)
}

func (g *Git) state(id objstore.ID) (*objstore.State, error) {
	b, err := g.read(id, "commit")
	if err != nil {
		return nil, err
	}
	st := &objstore.State{}
	head, msg, _ := strings.Cut(string(b), "\n\n")
	st.Message = msg
	for _, l := range strings.Split(head, "\n") {
		k, v, _ := strings.Cut(l, " ")
		switch k {
		case "tree":
			if st.Root, err = gitID(v); err != nil {
				return nil, err
			}
		case "parent":
			p, err := gitID(v)
			if err != nil {
				return nil, err
			}
			st.Parents = append(st.Parents, p)
		case "author", "committer":
			sig := parseGitSig(v)
			if k == "author" {
				st.Author = sig
			} else {
				st.Committer = sig
			}
		}
	}
	g.roots[id] = st.Root
	return st, nil
}

func parseGitSig(v string) objstore.Signature {
	var s objstore.Signature
	lt, gt := strings.IndexByte(v, '<'), strings.LastIndexByte(v, '>')
	if lt < 0 || gt < lt {
		return s
	}
	s.Name, s.Email = strings.TrimSpace(v[:lt]), v[lt+1:gt]
	f := strings.Fields(v[gt+1:])
	if len(f) == 2 {
		secs, _ := strconv.ParseInt(f[0], 10, 64)
		t := time.Unix(secs, 0)
		if len(f[1]) == 5 {
			h, _ := strconv.Atoi(f[1][1:3])
			m, _ := strconv.Atoi(f[1][3:])
			off := h*3600 + m*60
			if f[1][0] == '-' {
				off = -off
			}
			t = t.In(time.FixedZone("", off))
		}
		s.When = t
	}
	return s
}

// root returns a commit's tree; g.mu is held.
func (g *Git) root(state objstore.ID) (objstore.ID, error) {
	if r, ok := g.roots[state]; ok {
		return r, nil
	}
	st, err := g.state(state)
	if err != nil {
		return objstore.ZeroID, err
	}
	return st.Root, nil
}

// lookup finds path under tree root; g.mu is held.
func (g *Git) lookup(root objstore.ID, p string) (objstore.Entry, error) {
	e := objstore.Entry{Mode: objstore.ModeDir, ID: root}
	for _, name := range strings.Split(p, "/") {
		if !e.Mode.IsDir() {
			return objstore.Entry{}, fmt.Errorf("mcts: git: %q: %w", p, objstore.ErrNotFound)
		}
		es, err := g.tree(e.ID)
		if err != nil {
			return objstore.Entry{}, err
		}
		i := findEntry(es, name)
		if i < 0 {
			return objstore.Entry{}, fmt.Errorf("mcts: git: %q: %w", p, objstore.ErrNotFound)
		}
		e = es[i]
	}
	return e, nil
}

func findEntry(es []objstore.Entry, name string) int {
	for i := range es {
		if es[i].Name == name {
			return i
		}
	}
	return -1
}

// ReadFile implements FileReader.
func (g *Git) ReadFile(state objstore.ID, p string) (objstore.Entry, []byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	root, err := g.root(state)
	if err != nil {
		return objstore.Entry{}, nil, err
	}
	e, err := g.lookup(root, p)
	if err != nil {
		return objstore.Entry{}, nil, err
	}
	if !e.Mode.IsBlob() {
		return e, nil, fmt.Errorf("mcts: git: %q is a %v, not a file", p, e.Mode)
	}
	b, err := g.read(e.ID, "blob")
	return e, b, err
}

// Walk implements TreeWalker: every entry under root, parents first, in
// git's order.
func (g *Git) Walk(root objstore.ID, fn objstore.WalkFunc) error {
	g.mu.Lock()
	es, err := g.tree(root)
	g.mu.Unlock()
	if err != nil {
		return err
	}
	return g.walk(es, "", fn)
}

func (g *Git) walk(es []objstore.Entry, prefix string, fn objstore.WalkFunc) error {
	for _, e := range es {
		p := prefix + e.Name
		err := fn(p, e)
		if errors.Is(err, objstore.SkipDir) {
			continue
		}
		if err != nil {
			return err
		}
		if e.Mode.IsDir() {
			g.mu.Lock()
			sub, err := g.tree(e.ID)
			g.mu.Unlock()
			if err != nil {
				return err
			}
			if err := g.walk(sub, p+"/", fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// tempPath returns a fresh path under the scratch directory; g.mu is held.
func (g *Git) tempPath() string {
	g.seq++
	return filepath.Join(g.tmp, fmt.Sprintf("obj-%d", g.seq))
}

// hashObject writes content as an object through p; g.mu is held.
func (g *Git) hashObject(p *gitPipe, content []byte) (objstore.ID, error) {
	if p == nil {
		return objstore.ZeroID, objstore.ErrClosed
	}
	tmp := g.tempPath()
	if err := os.WriteFile(tmp, content, 0o600); err != nil {
		return objstore.ZeroID, err
	}
	defer os.Remove(tmp)
	l, err := p.line(tmp + "\n")
	if err != nil {
		return objstore.ZeroID, err
	}
	return gitID(l)
}

// MakeState implements StateMaker: the parent's tree with files replaced
// (new trees only on the changed paths), as a commit whose parent is
// parent (none for the zero ID).
func (g *Git) MakeState(parent objstore.ID, files map[string][]byte, message string) (objstore.ID, objstore.ID, error) {
	return g.makeState(parent, files, nil, message)
}

// makeState is MakeState with the modes of new files (default ModeFile).
func (g *Git) makeState(parent objstore.ID, files map[string][]byte, modes map[string]objstore.Mode, message string) (objstore.ID, objstore.ID, error) {
	ps, err := g.prepare(parent, files, modes)
	if err != nil {
		return objstore.ZeroID, objstore.ZeroID, err
	}
	id, err := ps.Commit(message)
	return id, ps.root, err
}

// PrepareState implements TreeFirst: the blobs and trees are written (git
// has no other way to name a tree), the commit only by Commit.
func (g *Git) PrepareState(parent objstore.ID, files map[string][]byte) (PendingState, error) {
	return g.prepare(parent, files, nil)
}

func (g *Git) prepare(parent objstore.ID, files map[string][]byte, modes map[string]objstore.Mode) (*gitChild, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var root objstore.ID
	if !parent.IsZero() {
		var err error
		if root, err = g.root(parent); err != nil {
			return nil, fmt.Errorf("mcts: make state: %w", err)
		}
	}
	tree, err := g.rebuild(root, "", files, modes)
	if err != nil {
		return nil, fmt.Errorf("mcts: make state: %w", err)
	}
	return &gitChild{g: g, parent: parent, root: tree}, nil
}

// gitChild is a PendingState: its tree is written, its commit is not.
type gitChild struct {
	g            *Git
	parent, root objstore.ID
}

func (c *gitChild) Root() objstore.ID { return c.root }

// Abort leaves the tree's objects to git gc, like any unreachable object.
func (c *gitChild) Abort() {}

func (c *gitChild) Commit(message string) (objstore.ID, error) {
	g := c.g
	author := g.Author
	if author.Name == "" {
		author.Name = "helios mcts"
	}
	if author.When.IsZero() {
		now := time.Now
		if g.Now != nil {
			now = g.Now
		}
		author.When = now()
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "tree %s\n", gitHex(c.root))
	if !c.parent.IsZero() {
		fmt.Fprintf(&b, "parent %s\n", gitHex(c.parent))
	}
	sig := fmt.Sprintf("%s <%s> %d %s", author.Name, author.Email, author.When.Unix(), author.When.Format("-0700"))
	fmt.Fprintf(&b, "author %s\ncommitter %s\n\n%s", sig, sig, message)
	if !strings.HasSuffix(message, "\n") {
		b.WriteByte('\n')
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	id, err := g.hashObject(g.commits, b.Bytes())
	if err != nil {
		return objstore.ZeroID, fmt.Errorf("mcts: make state: %w", err)
	}
	g.roots[id] = c.root
	return id, nil
}

// rebuild writes the tree at prefix (base, or an empty tree when base is
// zero) with files (paths from the repository root) put in; g.mu is held.
func (g *Git) rebuild(base objstore.ID, prefix string, files map[string][]byte, modes map[string]objstore.Mode) (objstore.ID, error) {
	var es []objstore.Entry
	if !base.IsZero() {
		old, err := g.tree(base)
		if err != nil {
			return objstore.ZeroID, err
		}
		es = append(es, old...)
	}
	subs := map[string]map[string][]byte{}
	var names []string
	for p, content := range files {
		rest := strings.TrimPrefix(p, prefix)
		name, _, isDir := strings.Cut(rest, "/")
		if isDir {
			if subs[name] == nil {
				subs[name] = map[string][]byte{}
				names = append(names, name)
			}
			subs[name][p] = content
			continue
		}
		id, err := g.hashObject(g.blobs, content)
		if err != nil {
			return objstore.ZeroID, err
		}
		mode := objstore.ModeFile
		if m, ok := modes[p]; ok {
			mode = m
		}
		if i := findEntry(es, name); i >= 0 {
			if es[i].Mode.IsBlob() {
				mode = es[i].Mode
			}
			es[i] = objstore.Entry{Name: name, Mode: mode, ID: id}
		} else {
			es = append(es, objstore.Entry{Name: name, Mode: mode, ID: id})
		}
	}
	sort.Strings(names)
	for _, name := range names {
		var sub objstore.ID
		i := findEntry(es, name)
		if i >= 0 && es[i].Mode.IsDir() {
			sub = es[i].ID
		}
		id, err := g.rebuild(sub, prefix+name+"/", subs[name], modes)
		if err != nil {
			return objstore.ZeroID, err
		}
		e := objstore.Entry{Name: name, Mode: objstore.ModeDir, ID: id}
		if i >= 0 {
			es[i] = e
		} else {
			es = append(es, e)
		}
	}
	return g.mktree(es)
}

// mktree writes a tree through `git mktree --batch`; g.mu is held.
func (g *Git) mktree(es []objstore.Entry) (objstore.ID, error) {
	if g.trees == nil {
		return objstore.ZeroID, objstore.ErrClosed
	}
	var b strings.Builder
	for _, e := range es {
		typ := "blob"
		switch e.Mode {
		case objstore.ModeDir:
			typ = "tree"
		case objstore.ModeGitlink:
			typ = "commit"
		}
		fmt.Fprintf(&b, "%06o %s %s\t%s\n", uint32(e.Mode), typ, gitHex(e.ID), e.Name)
	}
	b.WriteByte('\n')
	l, err := g.trees.line(b.String())
	if err != nil {
		return objstore.ZeroID, err
	}
	return gitID(l)
}

// ImportDir stores the files under dir (not .git or __pycache__) as a
// commit without parents, as ImportDir does for Helios.
func (g *Git) ImportDir(dir, message string) (objstore.ID, error) {
	files := map[string][]byte{}
	modes := map[string]objstore.Mode{}
	err := WalkImport(dir, func(rel string, mode objstore.Mode, b []byte) error {
		files[rel] = b
		if mode == objstore.ModeExec {
			modes[rel] = objstore.ModeExec
		}
		return nil
	})
	if err != nil {
		return objstore.ZeroID, fmt.Errorf("mcts: import %q: %w", dir, err)
	}
	id, _, err := g.makeState(objstore.ZeroID, files, modes, message)
	return id, err
}

// Checkout implements eval.Switcher with `git read-tree -u` and an index
// file of dir's own: --reset (as `git checkout -f`) with Force, else -m,
// which refuses to overwrite local changes.
func (g *Git) Checkout(dir string, to objstore.ID, o objstore.CheckoutOptions) (objstore.MaterializeStats, error) {
	var ms objstore.MaterializeStats
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ms, err
	}
	if err := os.MkdirAll(abs, 0o777); err != nil {
		return ms, err
	}
	h := sha256.Sum256([]byte(abs))
	index := filepath.Join(g.tmp, "index-"+hex.EncodeToString(h[:8]))
	mode := "-m"
	if o.Force {
		mode = "--reset"
	}
	_, err = g.git([]string{"GIT_WORK_TREE=" + abs, "GIT_INDEX_FILE=" + index}, "read-tree", mode, "-u", gitHex(to))
	return ms, err
}

// Ref implements RefMover.
func (g *Git) Ref(name string) (objstore.Ref, error) {
	if err := objstore.ValidRefName(name); err != nil {
		return objstore.Ref{}, err
	}
	out, err := g.git(nil, "rev-parse", "--verify", "--quiet", name)
	if err != nil {
		return objstore.Ref{}, fmt.Errorf("mcts: git ref %q: %w", name, objstore.ErrNotFound)
	}
	id, err := gitID(strings.TrimSpace(string(out)))
	return objstore.Ref{Name: name, ID: id}, err
}

// UpdateRefs implements RefMover: one `git update-ref --stdin`
// transaction, every ref checked against its old value (zero: must not
// exist). A lost race is a *objstore.RefConflictError.
func (g *Git) UpdateRefs(ups ...objstore.RefUpdate) error {
	var in strings.Builder
	in.WriteString("start\n")
	for _, u := range ups {
		if err := objstore.ValidRefName(u.Name); err != nil {
			return err
		}
		if u.IgnoreOld {
			fmt.Fprintf(&in, "update %s %s\n", u.Name, gitHex(u.New))
		} else {
			fmt.Fprintf(&in, "update %s %s %s\n", u.Name, gitHex(u.New), gitHex(u.Old))
		}
	}
	in.WriteString("prepare\ncommit\n")
	cmd := exec.Command("git", "update-ref", "--stdin")
	cmd.Env = g.env
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	for _, u := range ups {
		if u.IgnoreOld {
			continue
		}
		cur := objstore.ZeroID
		if r, rerr := g.Ref(u.Name); rerr == nil {
			cur = r.ID
		}
		if cur != u.Old {
			return &objstore.RefConflictError{Name: u.Name, Want: u.Old, Got: cur}
		}
	}
	return fmt.Errorf("mcts: git update-ref: %w: %s", err, bytes.TrimSpace(out))
}
