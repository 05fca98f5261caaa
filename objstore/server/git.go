package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/audit/storeaudit"
	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/helper/gitrepo"
	"github.com/helios-vcs/helios/helper/storeremote"
	"github.com/helios-vcs/helios/objstore"
	"golang.org/x/mod/sumdb/tlog"
)

// The git operations run git-remote-helios's side of a clone, fetch or push
// inside the server, on the store it holds: the helper process then costs a
// connection instead of a database open. Each connection has its own
// storeremote.Remote (the git ids it exported, what it listed), made on the
// connection's first git request.
//
// Objects travel as records in a byte stream cut into 'd' frames:
//
//	type (1 byte) · id length (1 byte) · id · content length (uvarint) · content
//
// and id lists as "id length · id" records. A stream from the client ends
// with 'z', or with 'e' when the client gives up (its error then wins).

// maxGitObject bounds one object's content on the wire (git's own limit
// is the memory it has; a pushed object above this is refused).
const maxGitObject = 1 << 30

// maxRecheck bounds the bytes of small blobs a push keeps in memory in case
// a later tree names one of them .gitmodules or .gitattributes (see
// helper.ObjectChecker); such a file bigger than recheckBlob, sent before
// the tree that names it, fails the push.
const (
	maxRecheck  = 64 << 20
	recheckBlob = 64 << 10
)

// gitRemote is the connection's git session: its pushes commit as the
// peer, and each ref update is judged as a write, force or delete on the
// states it moves between (authorizeRefUpdates' rules), refusals audited.
func (s *Server) gitRemote(sc *serverConn) *storeremote.Remote {
	if sc.git == nil {
		sc.git = storeremote.NewShared(s.o.Store)
		sc.git.Actor = sc.peer.Name()
		sc.git.ClonePacks = s.o.ClonePacks
		sc.git.Judge = func(ups []objstore.RefUpdate) []error {
			verdicts := make([]error, len(ups))
			for i := range ups {
				u := &ups[i]
				op, err := s.refOp(sc, u)
				if err == nil {
					if aerr := s.o.Authorizer.Authorize(sc.peer, op, u.Name); aerr != nil {
						err = s.refused(sc, op, u.Name, aerr)
					}
				}
				verdicts[i] = err
			}
			return verdicts
		}
	}
	return sc.git
}

// auditLog finishes decoding an audit request, authorizes it and opens the
// store's audit log.
func (s *Server) auditLog(sc *serverConn, op byte, d *dec) (*audit.Log, error) {
	if err := d.done(); err != nil {
		return nil, err
	}
	if err := s.authorize(sc, op, ""); err != nil {
		return nil, err
	}
	return storeaudit.OpenLog(s.o.Store.KV(), nil)
}

// offeredBy is the set of values refs list (git ids and peeled tags).
func offeredBy(refs []helper.Ref) map[gitobj.OID]bool {
	offered := make(map[gitobj.OID]bool, 2*len(refs))
	for _, ref := range refs {
		offered[ref.OID], offered[ref.Peeled] = true, true
	}
	return offered
}

// gitReadable lists the refs the peer may read.
func (s *Server) gitReadable(ctx context.Context, sc *serverConn, forPush bool) ([]helper.Ref, error) {
	refs, err := s.gitRemote(sc).List(ctx, forPush)
	if err != nil {
		return nil, err
	}
	// A symbolic ref is judged by its target.
	out := refs[:0]
	for _, ref := range refs {
		name := ref.Name
		if ref.Symref != "" {
			name = ref.Symref
		}
		if s.o.Authorizer.Authorize(sc.peer, RefRead, name) == nil {
			out = append(out, ref)
		}
	}
	return out, nil
}

// runGit serves the git and audit operations; r is the connection, for the
// streams a push sends.
func (s *Server) runGit(sc *serverConn, r *bufio.Reader, w *bufio.Writer, e *enc, op byte, d *dec) error {
	ctx := context.Background()
	switch op {
	case opGitList:
		forPush := d.flag()
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorize(sc, op, ""); err != nil {
			return err
		}
		out, err := s.gitReadable(ctx, sc, forPush)
		if err != nil {
			return err
		}
		if !forPush {
			sc.offered = offeredBy(out)
		}
		e.u(uint64(len(out)))
		for _, ref := range out {
			e.str(ref.Name)
			e.oid(ref.OID)
			e.str(ref.Symref)
			e.oid(ref.Peeled)
		}
		return nil
	case opGitFetch:
		wants, haves := d.oids(), d.oids()
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorizeWants(ctx, sc, op, wants); err != nil {
			return err
		}
		out := &frameStream{w: w}
		err := s.gitRemote(sc).Fetch(ctx, wants, haves, objectWriter{out})
		if err == nil {
			err = out.flush()
		}
		if err != nil && out.broken {
			return fmt.Errorf("%w: %w", errBroken, err)
		}
		return err
	case opGitPush:
		return s.gitPush(ctx, sc, r, w, e, d)
	case opGitClonePack:
		wants, link := d.oids(), d.flag()
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorizeWants(ctx, sc, op, wants); err != nil {
			return err
		}
		return s.gitClonePack(ctx, sc, w, e, wants, link && !sc.tls)
	case opAuditCheckpoint:
		log, err := s.auditLog(sc, op, d)
		if err != nil {
			return err
		}
		cp, err := log.Checkpoint()
		if err != nil {
			return err
		}
		e.bytes(cp)
		e.str(s.o.VerifierKey)
		return nil
	case opAuditProve:
		t, n := d.i(), d.i()
		log, err := s.auditLog(sc, op, d)
		if err != nil {
			return err
		}
		proof, err := log.ProveTree(t, n)
		if err != nil {
			return err
		}
		e.u(uint64(len(proof)))
		for _, h := range proof {
			e.b = append(e.b, h[:]...)
		}
		return nil
	case opAuditWitnessed:
		if _, err := s.auditLog(sc, op, d); err != nil {
			return err
		}
		text, err := storeaudit.LoadWitnessPolicy(s.o.Store.KV())
		if err != nil {
			return err
		}
		cosigned, err := storeaudit.Cosigned(s.o.Store.KV())
		if err != nil {
			return err
		}
		e.str(text)
		e.u(uint64(len(cosigned)))
		for _, c := range cosigned {
			e.bytes(c)
		}
		return nil
	case opAuditCosign:
		msg := d.bytes()
		if _, err := s.auditLog(sc, op, d); err != nil {
			return err
		}
		v, err := audit.LoadVerifier(s.o.VerifierKey)
		if err != nil {
			return fmt.Errorf("the store keeps no audit log: %w", err)
		}
		names, err := storeaudit.AddCosigned(s.o.Store.KV(), v, msg)
		if err != nil {
			return err
		}
		e.u(uint64(len(names)))
		for _, n := range names {
			e.str(n)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown operation %d", ErrProtocol, op)
}

// authorizeWants lets the peer fetch wants only if each is the value of a
// ref it may read (git asks for nothing else).
func (s *Server) authorizeWants(ctx context.Context, sc *serverConn, op byte, wants []gitobj.OID) error {
	if err := s.authorize(sc, op, ""); err != nil {
		return err
	}
	offered := sc.offered
	if offered == nil {
		refs, err := s.gitReadable(ctx, sc, false)
		if err != nil {
			return err
		}
		offered = offeredBy(refs)
	}
	for _, want := range wants {
		if !offered[want] {
			return fmt.Errorf("%w: %s is not the value of a ref this peer may read", ErrDenied, want)
		}
	}
	return nil
}

// gitClonePack streams a clone pack for wants (building one if none fits)
// and the wants' objects; the answer says whether there was one. With link
// (a client on this machine that can reach the store directory) the pack's
// files are named, not sent: the client links them from the cache, and asks
// again without link if it cannot.
func (s *Server) gitClonePack(ctx context.Context, sc *serverConn, w *bufio.Writer, e *enc, wants []gitobj.OID, link bool) error {
	cp, err := s.gitRemote(sc).ClonePack(ctx, wants)
	if err != nil {
		return err
	}
	if cp == nil {
		e.flag(false)
		return nil
	}
	pack, idx, err := cp.Open()
	if err != nil {
		return err
	}
	defer pack.Close()
	defer idx.Close()
	var sizes [2]int64
	for i, f := range []*os.File{pack, idx} {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		sizes[i] = fi.Size()
	}
	out := &frameStream{w: w}
	var h [binary.MaxVarintLen64]byte
	uv := func(v uint64) { out.write(h[:binary.PutUvarint(h[:], v)]) }
	uv(uint64(len(cp.Name)))
	out.write([]byte(cp.Name))
	uv(uint64(len(cp.Tips)))
	for _, t := range cp.Tips {
		out.oid(t)
	}
	uv(uint64(sizes[0]))
	uv(uint64(sizes[1]))
	files := []*os.File{pack, idx}
	if link {
		out.write([]byte{0})
		files = nil
	} else {
		out.write([]byte{1})
	}
	buf := make([]byte, dataChunk)
	for i, f := range files {
		if n, err := io.CopyBuffer(streamWriter{out}, io.LimitReader(f, sizes[i]), buf); err != nil || n != sizes[i] {
			if err == nil {
				err = fmt.Errorf("server: clone pack %s changed while it was sent", cp.Name)
			}
			if out.broken {
				return fmt.Errorf("%w: %w", errBroken, err)
			}
			return err
		}
	}
	uv(uint64(len(cp.Wanted)))
	for _, o := range cp.Wanted {
		out.object(o)
	}
	if err := out.flush(); err != nil {
		return fmt.Errorf("%w: %w", errBroken, err)
	}
	e.flag(true)
	return nil
}

// streamWriter is an io.Writer onto a frameStream.
type streamWriter struct{ s *frameStream }

func (sw streamWriter) Write(p []byte) (int, error) {
	sw.s.write(p)
	if sw.s.err != nil {
		return 0, sw.s.err
	}
	return len(p), nil
}

func (s *Server) gitPush(ctx context.Context, sc *serverConn, r *bufio.Reader, w *bufio.Writer, e *enc, d *dec) error {
	n := d.count(1 + 1 + 1 + 1 + 1) // name, old, new, force, lease
	updates := make([]helper.RefUpdate, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		updates = append(updates, helper.RefUpdate{Name: d.str(), Old: d.oid(), New: d.oid(), Force: d.flag(), Lease: d.flag()})
	}
	opts := helper.PushOptions{Atomic: d.flag(), DryRun: d.flag()}
	piped := d.flag()
	if err := d.done(); err != nil {
		return err
	}
	objs := &streamedObjects{r: r, w: w, fds: sc.fds, piped: &s.pipedPushes}
	if piped {
		// The pipe git cat-file writes into comes first ('p' and the
		// byte that carries it), then the ids.
		var err error
		if objs.pipe, err = takePushPipe(r, sc.fds); err != nil {
			return err
		}
		defer objs.pipe.Close()
		// The asks end with 'z' before the answer, even when the push
		// was refused before it asked for anything.
		defer func() {
			if !objs.asked {
				(&frameStream{w: w}).end()
			}
		}()
	}
	// The ids follow, as the client's git lists them: the remote reads
	// them as they come (streamedObjects.Stream). Whatever it leaves
	// unread (a dry run, a push rejected up front) is read before the
	// answer, which keeps the connection in step.
	in := &frameSource{r: r}
	objs.in, objs.idr = in, bufio.NewReader(in)
	if err := s.authorize(sc, opGitPush, ""); err != nil {
		return in.fail(err)
	}
	results, err := s.gitRemote(sc).Push(ctx, updates, opts, objs)
	if err := in.fail(err); err != nil {
		return err
	}
	if len(results) != len(updates) {
		return fmt.Errorf("server: push: %d results for %d updates", len(results), len(updates))
	}
	e.pushResults(results)
	if !opts.DryRun && slices.Contains(results, nil) {
		s.prebuildClonePack()
		s.settleLater()
	}
	return nil
}

// prebuildDelay is how long after a push the server waits before it makes
// sure a clone pack reaches the new refs: pushes often come in bursts.
const prebuildDelay = 100 * time.Millisecond

// prebuildClonePack makes sure, in the background, that the cache has a
// clone pack whose tips the values of all refs reach (building one when
// none does: after the first push into a store, or a forced update or a
// deletion of a ref a pack holds), so that the next clone installs it
// instead of packing every object while git waits. A fast-forward needs no
// new pack: the old one plus the new commits serve a clone. One build runs
// at a time; a push during it asks for one more check after it. Shutdown
// cancels it.
func (s *Server) prebuildClonePack() {
	if s.o.ClonePacks == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return
	}
	if s.prebuilding {
		s.prebuildAgain = true
		return
	}
	s.prebuilding = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-s.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		for {
			select {
			case <-time.After(prebuildDelay):
			case <-ctx.Done():
			}
			if ctx.Err() == nil {
				if err := s.clonePackOfAllRefs(ctx); err != nil && ctx.Err() == nil {
					s.o.Logf("clone pack: %v", err)
				}
			}
			s.mu.Lock()
			again := s.prebuildAgain && ctx.Err() == nil
			s.prebuildAgain = false
			s.prebuilding = again
			s.mu.Unlock()
			if !again {
				return
			}
		}
	}()
}

// clonePackOfAllRefs finds or builds the clone pack of the values of the
// branches and tags: what a plain clone asks for (a mirror clone asks for
// more, and gets the rest on top of the pack).
func (s *Server) clonePackOfAllRefs(ctx context.Context) error {
	r := storeremote.NewShared(s.o.Store)
	defer r.Close()
	r.ClonePacks = s.o.ClonePacks
	refs, err := r.List(ctx, false)
	if err != nil {
		return err
	}
	var wants []gitobj.OID
	seen := map[gitobj.OID]bool{}
	for _, ref := range refs {
		cloned := strings.HasPrefix(ref.Name, "refs/heads/") || strings.HasPrefix(ref.Name, "refs/tags/")
		if cloned && !seen[ref.OID] && !ref.OID.IsZero() {
			seen[ref.OID] = true
			wants = append(wants, ref.OID)
		}
	}
	_, err = r.ClonePack(ctx, wants)
	return err
}

// takePushPipe reads the 'p' frame and the byte that carries a push's
// pipe, which must come first when the push says it is piped.
func takePushPipe(r *bufio.Reader, fds *fdConn) (*os.File, error) {
	kind, _, err := readFrame(r, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBroken, err)
	}
	if kind != framePipe {
		return nil, fmt.Errorf("%w: a piped push without its pipe (frame %q)", ErrProtocol, kind)
	}
	if _, err := r.ReadByte(); err != nil {
		return nil, fmt.Errorf("%w: %w", errBroken, err)
	}
	if fds == nil {
		return nil, fmt.Errorf("%w: a pipe on a connection that cannot pass one", ErrProtocol)
	}
	return fds.takePipe()
}

// streamedObjects is helper.PushObjects on the server: it asks the client
// for the objects the store lacks and checks each one as git fsck --strict
// does (the client's own checks are not trusted), before the store sees
// it. The objects come as records on the connection after the server
// asked for all it lacks, or, from a client on this machine, through a
// pipe that git cat-file writes into while the ids are still coming
// (streamPiped).
type streamedObjects struct {
	in    *frameSource  // the ids' stream
	idr   *bufio.Reader // reads in
	r     *bufio.Reader
	w     *bufio.Writer
	fds   *fdConn       // nil: the connection cannot pass a pipe
	pipe  *os.File      // the client's pipe, nil: the objects come on the connection
	asked bool          // streamPiped ended its asks
	piped *atomic.Int64 // counts the pushes that passed one
	check helper.ObjectChecker
}

var _ helper.PushObjectStreamer = (*streamedObjects)(nil)

// IDs reads the ids the client lists.
func (o *streamedObjects) IDs(context.Context) ([]gitobj.OID, error) {
	var ids []gitobj.OID
	err := o.eachID(func(id gitobj.OID) error {
		ids = append(ids, id)
		return nil
	})
	return ids, err
}

// Stream asks want about the ids as they arrive, while the client's git
// still lists them, in runs of those at hand (eachRun). A piped push asks
// the client for the ones want accepts at once (streamPiped); otherwise
// the server asks for all of them once the list is done (Read).
func (o *streamedObjects) Stream(ctx context.Context, want func([]gitobj.OID) ([]bool, error), fn func(gitobj.Object) error) error {
	idle := func() bool { return o.idr.Buffered() == 0 && len(o.in.cur) == 0 }
	if o.pipe != nil {
		return o.streamPiped(o.eachID, idle, want, fn)
	}
	var need []gitobj.OID
	err := eachRun(o.eachID, idle, want, func(id gitobj.OID) error {
		need = append(need, id)
		return nil
	}, nil)
	if err != nil || len(need) == 0 {
		return err
	}
	return o.Read(ctx, need, fn)
}

// eachRun calls fn with each id list lists that want accepts. It asks
// want about runs of ids: those listed until idle says no more are at
// hand (nil: never), helper.WantRun at most; ran, if set, is called after
// each run whose end idle marked. The first error ends it.
func eachRun(list func(func(gitobj.OID) error) error, idle func() bool, want func([]gitobj.OID) ([]bool, error), fn func(gitobj.OID) error, ran func() error) error {
	run := make([]gitobj.OID, 0, helper.WantRun)
	ask := func() error {
		if len(run) == 0 {
			return nil
		}
		ok, err := want(run)
		if err != nil {
			return err
		}
		if len(ok) != len(run) {
			return fmt.Errorf("server: push: %d verdicts for %d ids", len(ok), len(run))
		}
		for i, id := range run {
			if ok[i] {
				if err := fn(id); err != nil {
					return err
				}
			}
		}
		run = run[:0]
		return nil
	}
	err := list(func(id gitobj.OID) error {
		run = append(run, id)
		atHand := idle == nil || !idle()
		if len(run) < helper.WantRun && atHand {
			return nil
		}
		if err := ask(); err != nil || atHand || ran == nil {
			return err
		}
		return ran()
	})
	if err != nil {
		return err
	}
	return ask()
}

// eachID calls fn with each id of the client's list; an error (fn's, or
// a malformed list) drains the rest of it.
func (o *streamedObjects) eachID(fn func(gitobj.OID) error) error {
	for {
		id, err := readOID(o.idr)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err == nil {
			err = fn(id)
		}
		if err != nil {
			return o.in.fail(err)
		}
	}
}

// Read asks the client for ids and reads them: all ids first, then the
// records, in any order, each asked for and sent once.
func (o *streamedObjects) Read(ctx context.Context, ids []gitobj.OID, fn func(gitobj.Object) error) error {
	if o.pipe != nil {
		each := func(fn func(gitobj.OID) error) error {
			for _, id := range ids {
				if err := fn(id); err != nil {
					return err
				}
			}
			return nil
		}
		all := func(ids []gitobj.OID) ([]bool, error) {
			ok := make([]bool, len(ids))
			for i := range ok {
				ok[i] = true
			}
			return ok, nil
		}
		return o.streamPiped(each, nil, all, fn)
	}
	out := &frameStream{w: o.w}
	for _, id := range ids {
		out.oid(id)
	}
	if err := out.end(); err != nil {
		return fmt.Errorf("%w: %w", errBroken, err)
	}
	in := &frameSource{r: o.r}
	br := bufio.NewReaderSize(in, 64<<10)
	want := make(map[gitobj.OID]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	next := func() (gitobj.Object, error) {
		obj, err := readObject(br)
		switch {
		case errors.Is(err, io.EOF) && len(want) > 0:
			return obj, fmt.Errorf("server: push: the client did not send %d of the %d objects asked for", len(want), len(ids))
		case err != nil:
			return obj, err
		case !want[obj.OID]:
			return obj, fmt.Errorf("%w: object %s was not asked for, or sent twice", ErrProtocol, obj.OID)
		}
		delete(want, obj.OID)
		return obj, nil
	}
	if err := o.consume(next, fn); err != nil {
		return in.fail(err)
	}
	return nil
}

// errReaderStopped ends the listing of a piped push whose reader failed.
var errReaderStopped = errors.New("server: push: the reading stopped")

// streamPiped asks for the objects of a piped push while they are still
// listed: list calls its function with each id, want decides, and each id
// it accepts goes out to the client at once (in frames sent whenever
// idle says no more ids are at hand), whose git cat-file writes the
// object into the pipe. A second goroutine reads the pipe and checks that
// every object is the next one asked for. The ask ends with 'z' whatever
// happens, so that the client knows no more come; the first error ends
// both sides (the pipe closed: git stops).
func (o *streamedObjects) streamPiped(list func(func(gitobj.OID) error) error, idle func() bool, want func([]gitobj.OID) ([]bool, error), fn func(gitobj.Object) error) error {
	o.piped.Add(1)
	q := &idQueue{wake: make(chan struct{}, 1)}
	pr := bufio.NewReaderSize(&pipeReader{f: o.pipe, c: o.fds.c}, 256<<10)
	stopped := make(chan struct{}) // the reader failed
	read := make(chan error, 1)
	go func() {
		err := o.consume(func() (gitobj.Object, error) {
			id, ok := q.next()
			if !ok {
				return gitobj.Object{}, io.EOF // all came: git's exit is not waited for
			}
			obj, err := gitrepo.ReadBatchObject(pr, maxGitObject)
			switch {
			case errors.Is(err, errClientGone):
			case errors.Is(err, io.EOF):
				err = fmt.Errorf("server: push: the client did not send %s, which was asked for, or any object after it", id)
			case err != nil:
				err = fmt.Errorf("server: push: from the client's git: %w", err)
			case obj.OID != id:
				err = fmt.Errorf("%w: object %s was not asked for, or sent twice (the next asked for is %s)", ErrProtocol, obj.OID, id)
			}
			return obj, err
		}, fn)
		if err != nil {
			close(stopped)
			o.pipe.Close() // git stops
		}
		read <- err
	}()
	out := &frameStream{w: o.w}
	// A failed reader stops the listing at the next id, before any more
	// lookups.
	listing := func(fn func(gitobj.OID) error) error {
		return list(func(id gitobj.OID) error {
			select {
			case <-stopped:
				return errReaderStopped
			default:
			}
			return fn(id)
		})
	}
	lerr := eachRun(listing, idle, want, func(id gitobj.OID) error {
		q.push(id)
		out.oid(id)
		return out.err
	}, func() error {
		out.send() // git cat-file gets to work on the run
		return out.err
	})
	q.close()
	if lerr != nil {
		o.pipe.Close() // the objects asked for will not be read
	}
	eerr := out.end()
	o.asked = true
	rerr := <-read
	switch {
	case eerr != nil:
		return fmt.Errorf("%w: %w", errBroken, eerr)
	case lerr != nil && (rerr == nil || !errors.Is(lerr, errReaderStopped)):
		return lerr
	}
	return rerr
}

// idQueue hands the ids a piped push asked for, in order, from the
// listing's goroutine to the pipe's reader. It does not block the lister:
// the reader may be behind by what git holds back in its buffer.
type idQueue struct {
	mu     sync.Mutex
	ids    []gitobj.OID
	head   int
	closed bool
	wake   chan struct{} // capacity 1
}

func (q *idQueue) push(id gitobj.OID) {
	q.mu.Lock()
	q.ids = append(q.ids, id)
	q.mu.Unlock()
	q.signal()
}

func (q *idQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *idQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next waits for the next id; false: the queue is closed and empty.
func (q *idQueue) next() (gitobj.OID, bool) {
	for {
		q.mu.Lock()
		if q.head < len(q.ids) {
			id := q.ids[q.head]
			q.head++
			if q.head == len(q.ids) {
				q.ids, q.head = q.ids[:0], 0
			}
			q.mu.Unlock()
			return id, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return gitobj.OID{}, false
		}
		<-q.wake
	}
}

// consume checks each object next returns (up to io.EOF) and passes it to
// fn, then runs the checks that need a later tree.
func (o *streamedObjects) consume(next func() (gitobj.Object, error), fn func(gitobj.Object) error) error {
	kept := map[gitobj.OID][]byte{} // small blobs, for a late .gitmodules
	keptBytes := 0
	unkept := map[gitobj.OID]bool{} // blobs that could fail the late checks, too big to keep
	var recheck []gitobj.OID
	for {
		obj, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		again, err := o.check.Check(obj)
		if err != nil {
			return err
		}
		recheck = append(recheck, again...)
		// A blob may be named .gitmodules or .gitattributes by a tree
		// that comes after it; those checks then need its bytes. Only the
		// blobs that could fail them are kept (a push of a whole history
		// kept 64 MiB of source files in memory before).
		if obj.Type == gitobj.Blob && !gitobj.PassesLateChecks(obj.Data) {
			if len(obj.Data) <= recheckBlob && keptBytes+len(obj.Data) <= maxRecheck {
				kept[obj.OID] = obj.Data
				keptBytes += len(obj.Data)
			} else {
				unkept[obj.OID] = true
			}
		}
		if err := fn(obj); err != nil {
			return err
		}
	}
	for _, id := range recheck {
		data, ok := kept[id]
		if !ok && !unkept[id] {
			continue // it passes whatever its name
		}
		if !ok {
			return &gitobj.FsckError{OID: id, ID: "gitmodulesOrder", Detail: "a large .gitmodules or .gitattributes blob arrived before the tree that names it"}
		}
		if err := o.check.CheckBlob(gitobj.Object{Type: gitobj.Blob, OID: id, Data: data}); err != nil {
			return err
		}
	}
	return nil
}

// objectWriter is a helper.ObjectSink that writes records to a stream.
type objectWriter struct{ s *frameStream }

func (o objectWriter) WriteObject(obj gitobj.Object) error {
	o.s.object(obj)
	return o.s.err
}

// frameStream cuts a byte stream into 'd' frames of dataChunk bytes. A
// write error sticks (broken: the connection is unusable).
type frameStream struct {
	w      *bufio.Writer
	buf    []byte
	err    error
	broken bool
}

func (f *frameStream) write(p []byte) {
	for f.err == nil && len(p) > 0 {
		n := min(len(p), dataChunk-len(f.buf))
		f.buf = append(f.buf, p[:n]...)
		p = p[n:]
		if len(f.buf) == dataChunk {
			f.emit()
		}
	}
}

func (f *frameStream) emit() {
	if f.err == nil && len(f.buf) > 0 {
		if f.err = writeFrame(f.w, frameData, f.buf); f.err != nil {
			f.broken = true
		}
	}
	f.buf = f.buf[:0]
}

func (f *frameStream) oid(id gitobj.OID) {
	b := id.Bytes()
	f.write([]byte{byte(len(b))})
	f.write(b)
}

func (f *frameStream) object(obj gitobj.Object) {
	var h [1 + 10]byte
	h[0] = byte(obj.Type)
	f.write(h[:1])
	f.oid(obj.OID)
	n := binary.PutUvarint(h[:], uint64(len(obj.Data)))
	f.write(h[:n])
	f.write(obj.Data)
}

// flush sends what is buffered.
func (f *frameStream) flush() error {
	f.emit()
	return f.err
}

// send is flush, and flushes the connection too.
func (f *frameStream) send() {
	f.emit()
	if f.err == nil {
		if f.err = f.w.Flush(); f.err != nil {
			f.broken = true
		}
	}
}

// end flushes, closes the stream with 'z' and flushes the connection.
func (f *frameStream) end() error {
	f.emit()
	if f.err == nil {
		f.err = writeFrame(f.w, frameEnd, nil)
	}
	if f.err == nil {
		f.err = f.w.Flush()
	}
	if f.err != nil {
		f.broken = true
	}
	return f.err
}

// abort closes the stream with the sender's error instead of 'z'.
func (f *frameStream) abort(err error) error {
	f.buf = f.buf[:0]
	if f.err == nil {
		var e enc
		encodeError(&e, err)
		f.err = writeFrame(f.w, frameError, e.b)
	}
	if f.err == nil {
		f.err = f.w.Flush()
	}
	return f.err
}

// frameSource reads a stream of 'd' frames up to its 'z' (io.EOF) or 'e'
// (the sender's error).
type frameSource struct {
	r    *bufio.Reader
	buf  []byte
	cur  []byte
	done bool
	err  error
}

func (f *frameSource) Read(p []byte) (int, error) {
	for len(f.cur) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		if f.done {
			return 0, io.EOF
		}
		kind, payload, err := readFrame(f.r, f.buf)
		if err != nil {
			f.err = fmt.Errorf("%w: %w", errBroken, err)
			return 0, f.err
		}
		f.buf = payload[:0]
		switch kind {
		case frameData:
			f.cur = payload
		case frameEnd:
			f.done = true
		case frameError:
			f.done = true
			f.err = decodeError(&dec{b: payload})
		default:
			f.err = fmt.Errorf("%w: frame kind %q in a stream", ErrProtocol, kind)
		}
	}
	n := copy(p, f.cur)
	f.cur = f.cur[n:]
	return n, nil
}

// fail drains the rest of the stream, so that the connection stays in step
// with its peer, and returns err, or the sender's own error if it sent one.
func (f *frameSource) fail(err error) error {
	var one [1]byte
	for !f.done && f.err == nil {
		f.cur = nil
		f.Read(one[:])
	}
	if f.err != nil {
		return f.err
	}
	return err
}

func readOID(r *bufio.Reader) (gitobj.OID, error) {
	n, err := r.ReadByte()
	if err != nil {
		return gitobj.OID{}, err
	}
	var b [32]byte
	if int(n) > len(b) {
		return gitobj.OID{}, fmt.Errorf("%w: object id of %d bytes", ErrProtocol, n)
	}
	if _, err := io.ReadFull(r, b[:n]); err != nil {
		return gitobj.OID{}, fmt.Errorf("%w: %w", ErrProtocol, io.ErrUnexpectedEOF)
	}
	if n == 0 {
		return gitobj.OID{}, nil
	}
	id, err := gitobj.OIDFromBytes(b[:n])
	if err != nil {
		return gitobj.OID{}, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return id, nil
}

func readOIDs(r *bufio.Reader) ([]gitobj.OID, error) {
	var ids []gitobj.OID
	for {
		id, err := readOID(r)
		if errors.Is(err, io.EOF) {
			return ids, nil
		}
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
}

// readObject reads one object record; io.EOF at a record boundary ends the
// stream.
func readObject(r *bufio.Reader) (gitobj.Object, error) {
	t, err := r.ReadByte()
	if err != nil {
		return gitobj.Object{}, err
	}
	truncated := func(err error) error {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("%w: object record: %w", ErrProtocol, err)
	}
	id, err := readOID(r)
	if err != nil {
		return gitobj.Object{}, truncated(err)
	}
	switch gitobj.Type(t) {
	case gitobj.Blob, gitobj.Tree, gitobj.Commit, gitobj.Tag:
	default:
		return gitobj.Object{}, fmt.Errorf("%w: object %s of type %d", ErrProtocol, id, t)
	}
	size, err := binary.ReadUvarint(r)
	if err != nil {
		return gitobj.Object{}, truncated(err)
	}
	if size > maxGitObject {
		return gitobj.Object{}, fmt.Errorf("%w: object %s of %d bytes is above the limit of %d", ErrProtocol, id, size, maxGitObject)
	}
	// Grown as the bytes arrive: a header alone does not buy maxGitObject.
	data, err := readPayload(r, []byte{}, int(size))
	if err != nil {
		return gitobj.Object{}, truncated(err)
	}
	return gitobj.Object{Type: gitobj.Type(t), OID: id, Data: data}, nil
}

func (e *enc) oid(id gitobj.OID) { e.bytes(id.Bytes()) }

func (e *enc) oids(ids []gitobj.OID) {
	e.u(uint64(len(ids)))
	for _, id := range ids {
		e.oid(id)
	}
}

func (d *dec) oid() gitobj.OID {
	b := d.raw(d.n())
	if len(b) == 0 {
		return gitobj.OID{}
	}
	id, err := gitobj.OIDFromBytes(b)
	if err != nil {
		d.fail("object id")
	}
	return id
}

// oids reads a list of object ids, none of them empty (each takes 1+20
// bytes at least).
func (d *dec) oids() []gitobj.OID {
	n := d.count(1 + 20)
	ids := make([]gitobj.OID, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		id := d.oid()
		if !id.Valid() {
			d.fail("object id")
		}
		ids = append(ids, id)
	}
	return ids
}

// Push result codes.
const (
	pushOK        = 0
	pushRejection = 1 // a helper.Rejection, in git's words
	pushError     = 2 // any other reason ("remote rejected")
)

func (e *enc) pushResults(results []error) {
	e.u(uint64(len(results)))
	for _, err := range results {
		var rej helper.Rejection
		switch {
		case err == nil:
			e.byte1(pushOK)
		case errors.As(err, &rej):
			e.byte1(pushRejection)
			e.str(string(rej))
		default:
			e.byte1(pushError)
			e.str(err.Error())
		}
	}
}

func (d *dec) pushResults() []error {
	n := d.n()
	results := make([]error, n)
	for i := 0; i < n && d.err == nil; i++ {
		switch d.byte1() {
		case pushOK:
		case pushRejection:
			results[i] = helper.Rejection(d.str())
		case pushError:
			results[i] = errors.New(d.str())
		default:
			d.fail("push result")
		}
	}
	return results
}

func decodeTreeProof(d *dec) tlog.TreeProof {
	n := d.count(len(tlog.Hash{}))
	proof := make(tlog.TreeProof, 0, n)
	for range n {
		var h tlog.Hash
		copy(h[:], d.raw(len(h)))
		proof = append(proof, h)
	}
	return proof
}
