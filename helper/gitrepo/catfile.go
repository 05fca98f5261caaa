package gitrepo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"

	"github.com/helios-vcs/helios/helper/gitobj"
)

// ErrNotFound reports an object the repository does not have.
var ErrNotFound = errors.New("gitrepo: object not found")

// CatFile reads objects through one long-lived
// `git cat-file --batch-command --buffer` process. It is safe for
// concurrent use (requests are serialized). After a failed Stream the
// process is stopped and every later call fails; open a new one.
type CatFile struct {
	format gitobj.Format

	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	in     *bufio.Writer
	out    *bufio.Reader
	stderr bytes.Buffer
	broken error
}

// CatFile starts the object reader. Close it when done.
func (r *Repo) CatFile(ctx context.Context) (*CatFile, error) {
	c := &CatFile{format: r.format}
	c.cmd = r.command(ctx, "cat-file", "--batch-command", "--buffer")
	c.cmd.Stderr = &c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("gitrepo: cat-file: %w", err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("gitrepo: cat-file: %w", err)
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("gitrepo: cat-file: %w", err)
	}
	c.in = bufio.NewWriterSize(c.stdin, 64<<10)
	c.out = bufio.NewReaderSize(stdout, 256<<10)
	return c, nil
}

// Close stops the process.
func (c *CatFile) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return nil
	}
	c.broken = errors.New("gitrepo: cat-file closed")
	_ = c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		return fmt.Errorf("gitrepo: cat-file: %w: %s", err, strings.TrimSpace(c.stderr.String()))
	}
	return nil
}

func (c *CatFile) fail(err error) error {
	c.broken = err
	_ = c.stdin.Close()
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
	return err
}

// Info returns an object's type and size; ErrNotFound when missing.
func (c *CatFile) Info(id gitobj.OID) (gitobj.Type, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return 0, 0, c.broken
	}
	fmt.Fprintf(c.in, "info %s\nflush\n", id)
	if err := c.in.Flush(); err != nil {
		return 0, 0, c.fail(fmt.Errorf("gitrepo: cat-file: %w", err))
	}
	t, size, err := c.readHeader(id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return 0, 0, c.fail(err)
	}
	return t, size, err
}

// Resolve resolves a revision expression to an object id and type, as
// git rev-parse --verify <expr>^{object} does (cat-file resolves names
// with the same function), without a process of its own. Expressions with
// white space are refused: ErrBadRevision, and the caller may ask
// rev-parse.
func (c *CatFile) Resolve(expr string) (gitobj.OID, gitobj.Type, error) {
	if expr == "" || strings.HasPrefix(expr, "-") || strings.ContainsFunc(expr, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return gitobj.OID{}, 0, fmt.Errorf("%w: %q", ErrBadRevision, expr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return gitobj.OID{}, 0, c.broken
	}
	fmt.Fprintf(c.in, "info %s\nflush\n", expr)
	if err := c.in.Flush(); err != nil {
		return gitobj.OID{}, 0, c.fail(fmt.Errorf("gitrepo: cat-file: %w", err))
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		return gitobj.OID{}, 0, c.fail(fmt.Errorf("gitrepo: cat-file: %w: %s", err, strings.TrimSpace(c.stderr.String())))
	}
	f := strings.Fields(line)
	if len(f) == 2 && f[0] == expr && (f[1] == "missing" || f[1] == "ambiguous") {
		return gitobj.OID{}, 0, fmt.Errorf("%w: %q is %s", ErrBadRevision, expr, f[1])
	}
	if len(f) != 3 {
		return gitobj.OID{}, 0, c.fail(fmt.Errorf("gitrepo: cat-file: unexpected reply %q for %q", line, expr))
	}
	id, err := gitobj.ParseOIDFormat(c.format, f[0])
	if err != nil {
		return id, 0, c.fail(fmt.Errorf("gitrepo: cat-file: %w", err))
	}
	t, err := gitobj.ParseType(f[1])
	if err != nil {
		return id, 0, c.fail(fmt.Errorf("gitrepo: cat-file: %w", err))
	}
	return id, t, nil
}

// WalkTo looks for commit a in the history of commit b, reading at most
// limit commits, newest generation first. sure is false when the walk
// stopped before it could tell (the limit, a parent that is missing, an
// object that is not a commit): ask git merge-base then.
func (c *CatFile) WalkTo(ctx context.Context, a, b gitobj.OID, limit int) (found, sure bool, err error) {
	if a == b {
		return true, true, nil
	}
	sure, err = c.walkCommits(ctx, []gitobj.OID{b}, nil, limit, func(_ gitobj.OID, cm *gitobj.CommitObject) error {
		if slices.Contains(cm.Parents, a) {
			found = true
			return errStopWalk
		}
		return nil
	})
	return found, sure, err
}

// errStopWalk, from walkCommits' visit, ends the walk: it is complete.
// errUnsure gives it up: it cannot tell.
var (
	errStopWalk = errors.New("gitrepo: walk stopped")
	errUnsure   = errors.New("gitrepo: walk gave up")
)

// walkCommits reads the commits in front and then, generation by
// generation, their parents that skip (if set) does not exclude, each once,
// and calls visit with every commit, decoded (its parents as git reads
// them: gitobj.DecodeCommit). sure is false, with no error, when the walk
// cannot finish: more than limit commits, a missing object, one that is not
// a commit or has a malformed header, or visit returning errUnsure. visit's
// errStopWalk ends the walk early, sure.
func (c *CatFile) walkCommits(ctx context.Context, front []gitobj.OID, skip func(gitobj.OID) bool, limit int, visit func(id gitobj.OID, cm *gitobj.CommitObject) error) (sure bool, err error) {
	seen := make(map[gitobj.OID]bool, len(front))
	for _, id := range front {
		seen[id] = true
	}
	for n := 0; len(front) > 0; {
		if n += len(front); n > limit {
			return false, nil
		}
		var next []gitobj.OID
		err := c.Stream(ctx, front, func(o gitobj.Object) error {
			if o.Type != gitobj.Commit {
				return errUnsure
			}
			cm, err := gitobj.DecodeCommit(c.format, o.Data)
			if err != nil {
				return errUnsure
			}
			if err := visit(o.OID, cm); err != nil {
				return err
			}
			for _, p := range cm.Parents {
				if !seen[p] && (skip == nil || !skip(p)) {
					seen[p] = true
					next = append(next, p)
				}
			}
			return nil
		})
		switch {
		case errors.Is(err, errStopWalk):
			return true, nil
		case errors.Is(err, ErrNotFound), errors.Is(err, errUnsure):
			return false, nil
		case err != nil:
			return false, err
		}
		front = next
	}
	return true, nil
}

// Has reports whether the repository has the object.
func (c *CatFile) Has(id gitobj.OID) (bool, error) {
	_, _, err := c.Info(id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Read returns one object; ErrNotFound when missing.
func (c *CatFile) Read(id gitobj.OID) (gitobj.Object, error) {
	var obj gitobj.Object
	err := c.Stream(context.Background(), []gitobj.OID{id}, func(o gitobj.Object) error {
		obj = o
		return nil
	})
	return obj, err
}

// Stream calls fn with each object of ids, in order, pipelining the
// requests. Data passed to fn is fn's to keep. The first missing object
// (ErrNotFound) or error from fn stops the calls to fn and is returned.
func (c *CatFile) Stream(ctx context.Context, ids []gitobj.OID, fn func(gitobj.Object) error) error {
	ch := make(chan gitobj.OID, 1024)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(ch)
		for _, id := range ids {
			select {
			case ch <- id:
			case <-stop:
				return
			}
		}
	}()
	return c.StreamFrom(ctx, ch, fn)
}

// StreamFrom is Stream for ids that arrive on a channel while the replies
// are read (a listing still running): requests are written as ids come and
// flushed to git whenever none is waiting. It returns once ids is closed
// and every reply is read, or at the first failure; it then stops reading
// ids, so the sender must not block on ids forever (select on its own
// context, or close it).
func (c *CatFile) StreamFrom(ctx context.Context, ids <-chan gitobj.OID, fn func(gitobj.Object) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return c.broken
	}
	// The writer hands each requested id to the reader, in order.
	order := make(chan gitobj.OID, 4096)
	stop := make(chan struct{})
	werr := make(chan error, 1)
	go func() {
		defer close(order)
		n := 0
		// Nothing waiting: let git answer what it has.
		idle := func() error {
			if n == 0 {
				return nil
			}
			n = 0
			c.in.WriteString("flush\n")
			return c.in.Flush()
		}
		for {
			id, ok, err := nextID(ids, stop, idle)
			if err != nil {
				if errors.Is(err, errStopped) {
					err = nil
				}
				werr <- err
				return
			}
			if !ok {
				break
			}
			c.in.WriteString("contents ")
			c.in.WriteString(id.String())
			c.in.WriteByte('\n')
			if n++; n == 1024 {
				c.in.WriteString("flush\n")
				n = 0
			}
			select {
			case order <- id:
			case <-stop:
				werr <- nil
				return
			}
		}
		c.in.WriteString("flush\n")
		werr <- c.in.Flush()
	}()
	// On a broken stream the process is killed first: the writer may be
	// blocked on a full pipe that git no longer reads.
	broken := func(err error) error {
		err = c.fail(err)
		close(stop)
		<-werr
		return err
	}
	// After a missing object or an error from fn the remaining replies are
	// still read (and dropped) so that the process stays usable.
	var first error
	for id := range order {
		if first == nil {
			first = ctx.Err()
		}
		t, size, err := c.readHeader(id)
		if errors.Is(err, ErrNotFound) {
			if first == nil {
				first = err
			}
			continue
		}
		if err != nil {
			return broken(err)
		}
		if first != nil {
			if _, err := c.out.Discard(int(size) + 1); err != nil {
				return broken(fmt.Errorf("gitrepo: cat-file: %w", err))
			}
			continue
		}
		data := make([]byte, size+1)
		if _, err := io.ReadFull(c.out, data); err != nil {
			return broken(fmt.Errorf("gitrepo: cat-file: %w", err))
		}
		if data[size] != '\n' {
			return broken(errors.New("gitrepo: cat-file: missing object terminator"))
		}
		first = fn(gitobj.Object{Type: t, OID: id, Data: data[:size:size]})
	}
	close(stop)
	if err := <-werr; err != nil {
		return c.fail(fmt.Errorf("gitrepo: cat-file: %w", err))
	}
	return first
}

// readHeader reads "<oid> <type> <size>" or "<oid> missing".
func (c *CatFile) readHeader(id gitobj.OID) (gitobj.Type, int64, error) {
	line, err := c.out.ReadSlice('\n')
	if err != nil {
		return 0, 0, fmt.Errorf("gitrepo: cat-file: %w: %s", err, strings.TrimSpace(c.stderr.String()))
	}
	got, t, size, err := parseBatchHeader(line)
	switch {
	case got != id:
		return 0, 0, fmt.Errorf("gitrepo: cat-file: unexpected reply %q for %s", bytes.TrimSpace(line), id)
	case err != nil:
		return 0, 0, err
	}
	return t, size, nil
}

// errStopped is nextID's answer when its done channel closed first.
var errStopped = errors.New("gitrepo: stopped")

// nextID takes the next id from ids. When none is ready it first calls
// idle (which has git write out what it holds back: --buffer's flush),
// then waits, until done closes (errStopped). ok false: ids is closed.
func nextID(ids <-chan gitobj.OID, done <-chan struct{}, idle func() error) (id gitobj.OID, ok bool, err error) {
	select {
	case id, ok = <-ids:
		return id, ok, nil
	default:
	}
	if err := idle(); err != nil {
		return id, false, err
	}
	select {
	case id, ok = <-ids:
		return id, ok, nil
	case <-done:
		return id, false, errStopped
	}
}
