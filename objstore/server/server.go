package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helios-vcs/helios/helper/clonepack"
	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/helper/storeremote"
	"github.com/helios-vcs/helios/objstore"
)

// Operations, the first byte of a query frame's payload.
const (
	opStatus byte = iota + 1
	opStop
	opSnapshot
	opCheckout
	opWorktreeState
	opResolveState
	opResolve
	opState
	opLog
	opDiff
	opStat
	opListTree
	opReadFile
	opRefs
	opUpdateRefs
	opSetSymbolicRef
	opFsck
	opGC
	opStats
	opGitList
	opGitFetch
	opGitPush
	opAuditCheckpoint
	opAuditProve
	opWalk
	opMakeState
	opPrepareState
	opCommitState
	opImportState
	opGitClonePack
	opAuditWitnessed
	opAuditCosign
	opMax
)

// opNames are what an Authorizer is asked about.
var opNames = [opMax]string{
	opStatus: "status", opStop: "stop", opSnapshot: "snapshot", opCheckout: "checkout",
	opWorktreeState: "worktree-state", opResolveState: "resolve-state", opResolve: "resolve",
	opState: "state", opLog: "log", opDiff: "diff", opStat: "stat", opListTree: "list-tree",
	opReadFile: "read-file", opRefs: "refs", opUpdateRefs: "update-refs",
	opSetSymbolicRef: "set-symbolic-ref", opFsck: "fsck", opGC: "gc", opStats: "stats",
	opGitList: "git-list", opGitFetch: "git-fetch", opGitPush: "git-push",
	opAuditCheckpoint: "audit-checkpoint", opAuditProve: "audit-prove",
	opWalk: "walk", opMakeState: "make-state", opPrepareState: "prepare-state",
	opCommitState: "commit-state", opImportState: "import-state",
	opGitClonePack:   "git-clone-pack",
	opAuditWitnessed: "audit-witnessed", opAuditCosign: "audit-cosign",
}

// protoVersion changes with any incompatible change of the protocol.
const protoVersion = 4

// Peer is who is at the other end of a connection: on the Unix socket as
// the kernel says (SO_PEERCRED; UID is -1 when the platform cannot tell),
// over TLS as its verified client certificate or token says (see tls.go).
type Peer struct {
	UID, GID, PID int
	// Via is how the peer was identified: ViaUnix, ViaCert or ViaToken.
	Via string
	// User is the authenticated user of a TLS peer (the certificate's name
	// or the token's user); "" on the Unix socket, where the Authorizer
	// maps UID.
	User string
	// TokenID names the token a ViaToken peer presented (not its secret),
	// so that the Authorizer can apply its scope, and see it revoked or
	// expired, on every request.
	TokenID string
}

// Authorizer decides whether peer may run op ("snapshot", "update-refs",
// ... see the package documentation) on target (a ref name, a directory, or
// ""). Besides the request names it is asked RefRead for each ref a
// listing returns, RefWrite, RefForce or RefDelete for each ref a request
// moves, and OpAdmin with the request's name. A non-nil error refuses the
// request; the client sees it wrapping ErrDenied. Authorize decides only
// (the server may ask without acting on the answer); refusals the server
// acts on go to Options.Denied. Authorize is called concurrently.
type Authorizer interface {
	Authorize(peer Peer, op, target string) error
}

// AllowAll is the default Authorizer: a local store is single-user (see
// DESIGN.md, Security), so policy arrives later with roles.
type AllowAll struct{}

func (AllowAll) Authorize(Peer, string, string) error { return nil }

// Options configure a Server.
type Options struct {
	// Store is the open store the server serves. The server does not close it.
	Store *objstore.Store
	// Build identifies the executable; a client of another build is refused
	// with ErrVersion and the server shuts down so that the client can start
	// its own. Empty accepts every client.
	Build string
	// Authorizer defaults to AllowAll.
	Authorizer Authorizer
	// Authenticator checks the tokens TLS clients present (nil: none are
	// taken; certificates still work).
	Authenticator Authenticator
	// Admin answers administrative requests (nil: none).
	Admin Admin
	// Denied, if set, hears of every request refused by the Authorizer
	// (to audit it); it runs before the refusal is answered.
	Denied func(peer Peer, op, target string, err error)
	// IdleTimeout shuts the server down after this long without a
	// connection (0: never).
	IdleTimeout time.Duration
	// SettleQuiet is how long without a request the server waits before it
	// compacts what a push left (settle.go; 0: 5 s).
	SettleQuiet time.Duration
	// Logf, if set, receives one line per connection and per shutdown.
	Logf func(format string, args ...any)
	// Watch configures the file watcher that tells a snapshot which paths
	// changed (see watch.go); on by default. Watched worktrees unused for
	// IdleTimeout are dropped.
	Watch WatchOptions
	// VerifierKey is the audit log's public key (note format), handed to
	// git clients that check the log's consistency (see git.go).
	VerifierKey string
	// ClonePacks, if set, is the store's cache of clone packs, which
	// git-clone-pack serves (nil: the operation answers "none").
	ClonePacks *clonepack.Cache
	// FailureLimit limits the failures (failed handshakes and
	// authentications, refused requests) a peer may cause; see
	// ratelimit.go.
	FailureLimit FailureLimit
}

// Server serves a Store over a stream listener (a Unix socket in the store
// directory, see Listen). Each connection runs in its own goroutine and
// carries one request at a time; requests on different connections run
// concurrently, and writes are serialized by the store itself.
type Server struct {
	o       Options
	local   Local
	started time.Time
	watch   *watchSet // nil when the watcher is off
	limit   *failureLimiter
	janitor chan struct{}

	mu       sync.Mutex
	lns      []net.Listener
	conns    map[*serverConn]struct{}
	idle     *time.Timer
	stopping bool
	done     chan struct{} // closed when the server decided to stop
	// prebuilding: a clone pack check runs (git.go); prebuildAgain: a push
	// came during it.
	prebuilding, prebuildAgain bool
	// settling: a quiet-time compaction waits or runs (settle.go);
	// lastBusy is when the last request ended.
	settling bool
	lastBusy time.Time
	reason   string
	wg       sync.WaitGroup

	requests, connections atomic.Int64
	pipedPushes           atomic.Int64 // pushes whose objects came through a pipe (fdpass.go)
	pendingStates         atomic.Int64 // prepared states held, all connections
}

type serverConn struct {
	c    net.Conn
	fds  *fdConn // a Unix socket's reader, with the descriptors passed on it
	peer Peer
	tls  bool                // a TLS connection: authenticated in its hello
	busy bool                // guarded by Server.mu
	git  *storeremote.Remote // this connection's git session (git.go)
	// offered holds the values of the refs the last git-list gave this
	// peer: what a fetch may ask for.
	offered map[gitobj.OID]bool
	// pending holds this connection's prepared states (states.go), by
	// handle; they are dropped when the connection ends.
	pending     map[uint64]*pendingState
	nextPending uint64
	// roots holds the root trees this connection's state requests gave:
	// a prepare-state that may commit at once does so only for a root not
	// among them (states.go).
	roots map[objstore.ID]struct{}
	// limitKey is the peer's failure bucket (ratelimit.go); limited says
	// it went over its limit: the connection closes after this answer.
	limitKey      string
	limited       bool
	failedRequest bool // a failure of the current request was counted
}

// New makes a server; Serve starts it.
func New(o Options) *Server {
	if o.Authorizer == nil {
		o.Authorizer = AllowAll{}
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	s := &Server{o: o, local: Local{S: o.Store}, started: time.Now(),
		conns: map[*serverConn]struct{}{}, done: make(chan struct{}), janitor: make(chan struct{}),
		limit: newFailureLimiter(o.FailureLimit)}
	if !o.Watch.Disabled {
		s.watch = newWatchSet(o.Watch, o.IdleTimeout, o.Logf)
	}
	return s
}

// Done is closed when the server decides to stop: idle timeout, a stop
// request, or a client of another build. The owner then calls Shutdown.
func (s *Server) Done() <-chan struct{} { return s.done }

// Reason says why Done was closed.
func (s *Server) Reason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

func (s *Server) stop(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopping {
		s.stopping, s.reason = true, reason
		close(s.done)
	}
}

// Serve accepts connections until Shutdown and returns nil then. It may
// run on several listeners at once (the Unix socket and a TLS listener).
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns = append(s.lns, ln)
	first := len(s.lns) == 1
	s.armIdle()
	janitor := s.janitor
	s.mu.Unlock()
	if first && s.watch != nil && janitor != nil {
		go s.watch.janitor(janitor)
	}
	if first {
		s.settleLater() // what an earlier server left
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			stopping := s.stopping
			s.mu.Unlock()
			if stopping {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("server: accept: %w", err)
		}
		sc := &serverConn{c: c, peer: peerOf(c)}
		sc.limitKey = limitKey(c, sc.peer)
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.conns[sc] = struct{}{}
		if s.idle != nil {
			s.idle.Stop()
		}
		s.wg.Add(1)
		s.mu.Unlock()
		s.connections.Add(1)
		go s.serveConn(sc)
	}
}

// armIdle starts the idle timer when no connection is open; s.mu is held.
func (s *Server) armIdle() {
	if s.o.IdleTimeout <= 0 || len(s.conns) > 0 || s.stopping {
		return
	}
	if s.idle == nil {
		s.idle = time.AfterFunc(s.o.IdleTimeout, s.idleFired)
		return
	}
	s.idle.Reset(s.o.IdleTimeout)
}

func (s *Server) idleFired() {
	s.mu.Lock()
	idle := len(s.conns) == 0
	s.mu.Unlock()
	if idle {
		s.stop(fmt.Sprintf("idle for %v", s.o.IdleTimeout))
	}
}

// Shutdown stops accepting, lets requests in flight finish, closes the
// connections and returns. It does not close the store.
func (s *Server) Shutdown() {
	s.stop("shutdown")
	s.mu.Lock()
	if s.idle != nil {
		s.idle.Stop()
	}
	for _, ln := range s.lns {
		ln.Close()
	}
	for sc := range s.conns {
		if !sc.busy {
			// Wakes a connection waiting for its next request; one that is
			// busy ends after its request (serveConn checks stopping).
			sc.c.SetReadDeadline(time.Now())
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	if s.janitor != nil {
		close(s.janitor)
		s.janitor = nil
	}
	s.mu.Unlock()
	if s.watch != nil {
		s.watch.close()
	}
}

func (s *Server) serveConn(sc *serverConn) {
	defer s.wg.Done()
	defer func() {
		sc.c.Close()
		s.dropPending(sc)
		s.mu.Lock()
		delete(s.conns, sc)
		s.armIdle()
		s.mu.Unlock()
	}()
	var src io.Reader = sc.c
	if uc, ok := sc.c.(*net.UnixConn); ok {
		sc.fds = newFDConn(uc)
		src = sc.fds
		defer sc.fds.close()
	}
	r := bufio.NewReaderSize(src, 32<<10)
	w := bufio.NewWriterSize(sc.c, 64<<10)
	var buf []byte
	var e enc
	if !s.admit(sc) {
		return
	}
	if !s.secure(sc) {
		s.failed(sc, "tls handshake")
		return
	}
	kind, p, err := s.readHello(sc, r)
	if err != nil || kind != frameHello {
		return
	}
	if !s.hello(sc, w, &e, p) {
		return
	}
	if sc.tls {
		sc.c.SetDeadline(time.Time{})
	}
	for {
		kind, p, err := readFrame(r, buf)
		if err != nil {
			return
		}
		buf = p[:0]
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			return
		}
		sc.busy = true
		s.mu.Unlock()
		s.requests.Add(1)
		sc.failedRequest = false
		ok := kind == frameQuery && len(p) > 0 && s.handle(sc, r, w, &e, p[0], p[1:]) == nil
		sc.fds.close() // descriptors the request did not take
		if ferr := w.Flush(); ferr != nil {
			ok = false
		}
		s.mu.Lock()
		sc.busy = false
		s.lastBusy = time.Now()
		stopping := s.stopping
		s.mu.Unlock()
		if !ok || stopping || sc.limited {
			return
		}
	}
}

// hello checks the client's protocol version and build, authenticates a
// TLS client (the hello may end with a token) and answers with the
// server's build and pid.
func (s *Server) hello(sc *serverConn, w *bufio.Writer, e *enc, p []byte) bool {
	d := dec{b: p}
	proto, build := d.u(), d.str()
	var token string
	if len(d.b) > 0 {
		token = d.str()
	}
	if err := d.done(); err != nil {
		return false
	}
	e.b = e.b[:0]
	if proto != protoVersion || (build != "" && s.o.Build != "" && build != s.o.Build) {
		encodeError(e, fmt.Errorf("%w: server %q (protocol %d), client %q (protocol %d)", ErrVersion, s.o.Build, protoVersion, build, proto))
		writeFrame(w, frameError, e.b)
		w.Flush()
		// Only a client of the server's own user replaces it: not a
		// remote one, not another local user of a shared socket.
		if !sc.tls && sc.peer.UID == os.Geteuid() {
			s.stop("replaced by another build")
		}
		return false
	}
	if err := s.authenticate(sc, token); err != nil {
		s.o.Logf("refused %s: %v", sc.c.RemoteAddr(), err)
		s.failed(sc, "authentication")
		encodeError(e, err)
		writeFrame(w, frameError, e.b)
		w.Flush()
		return false
	}
	e.str(s.o.Build)
	e.u(uint64(os.Getpid()))
	writeFrame(w, frameResult, e.b)
	return w.Flush() == nil
}

// handle runs one request and writes its answer. A non-nil return means
// the connection can no longer be used (a write or protocol failure).
func (s *Server) handle(sc *serverConn, r *bufio.Reader, w *bufio.Writer, e *enc, op byte, p []byte) error {
	e.b = e.b[:0]
	d := dec{b: p}
	var err error
	switch {
	case op >= opGitList && op <= opAuditProve, op == opGitClonePack, op == opAuditWitnessed, op == opAuditCosign:
		err = s.runGit(sc, r, w, e, op, &d)
	case op >= opWalk && op <= opImportState:
		err = s.runStates(sc, w, e, op, &d)
	default:
		err = s.run(sc, w, e, op, &d)
	}
	if err == nil {
		return writeFrame(w, frameResult, e.b)
	}
	if errors.Is(err, errBroken) {
		return err
	}
	e.b = e.b[:0]
	encodeError(e, err)
	if werr := writeFrame(w, frameError, e.b); werr != nil {
		return werr
	}
	if errors.Is(err, ErrProtocol) {
		return err
	}
	return nil
}

// errBroken says the connection failed mid-answer (a stream write).
var errBroken = errors.New("server: connection broken")

func (s *Server) authorize(sc *serverConn, op byte, target string) error {
	if err := s.o.Authorizer.Authorize(sc.peer, opNames[op], target); err != nil {
		return s.refused(sc, opNames[op], target, err)
	}
	return nil
}

// run decodes the request of op from d, authorizes and runs it, and
// encodes its result into e.
func (s *Server) run(sc *serverConn, w *bufio.Writer, e *enc, op byte, d *dec) error {
	if op == opAdmin {
		return s.admin(sc, e, d)
	}
	if op == 0 || op >= opMax {
		return fmt.Errorf("%w: unknown operation %d", ErrProtocol, op)
	}
	l := s.local
	// Requests decode first, then authorize on their target, then run.
	switch op {
	case opStatus:
		if err := d.done(); err != nil {
			return err
		}
		s.mu.Lock()
		open := len(s.conns)
		s.mu.Unlock()
		e.str(s.o.Build)
		e.u(uint64(os.Getpid()))
		e.time(s.started)
		e.i(int64(s.o.IdleTimeout))
		e.u(uint64(open))
		e.u(uint64(s.connections.Load()))
		e.u(uint64(s.requests.Load()))
		e.i(int64(sc.peer.UID))
		e.i(int64(sc.peer.PID))
		e.u(uint64(s.pipedPushes.Load()))
		return nil
	case opStop:
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorize(sc, op, ""); err != nil {
			return err
		}
		s.stop("stop requested")
		return nil
	case opSnapshot:
		r := SnapshotRequest{Dir: d.str(), Ref: d.str(), Message: d.str(), Author: d.sig(), Durable: d.flag()}
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorize(sc, op, r.Ref); err != nil {
			return err
		}
		res, err := s.snapshot(r)
		if err != nil {
			return err
		}
		e.snapshotResult(res)
		return nil
	case opCheckout:
		dir, to, force := d.str(), d.id(), d.flag()
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorize(sc, op, dir); err != nil {
			return err
		}
		ms, err := s.checkout(dir, to, objstore.CheckoutOptions{Force: force})
		if err != nil {
			return err
		}
		e.u(uint64(ms.Files))
		e.u(uint64(ms.Dirs))
		e.u(uint64(ms.Deleted))
		e.i(ms.Bytes)
		return nil
	case opWorktreeState:
		dir := d.str()
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorize(sc, op, dir); err != nil {
			return err
		}
		id, err := l.WorktreeState(dir)
		e.id(id)
		return err
	case opResolveState, opResolve:
		name := d.str()
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorize(sc, op, name); err != nil {
			return err
		}
		if op == opResolveState {
			id, err := l.ResolveState(name)
			e.id(id)
			return err
		}
		id, direct, err := l.Resolve(name)
		e.id(id)
		e.str(direct)
		return err
	case opState:
		id := d.id()
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorize(sc, op, ""); err != nil {
			return err
		}
		st, err := l.State(id)
		if err != nil {
			return err
		}
		e.state(st)
		return nil
	case opLog:
		start, n := d.id(), int(d.u())
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorize(sc, op, ""); err != nil {
			return err
		}
		ids, sts, err := l.Log(start, n)
		if err != nil {
			return err
		}
		e.u(uint64(len(ids)))
		for i := range ids {
			e.id(ids[i])
			e.state(sts[i])
		}
		return nil
	case opDiff:
		a, b := d.id(), d.id()
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorize(sc, op, ""); err != nil {
			return err
		}
		cs, err := l.DiffStates(a, b)
		if err != nil {
			return err
		}
		e.changes(cs)
		return nil
	case opStat, opListTree, opReadFile:
		state, path := d.id(), d.str()
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorize(sc, op, path); err != nil {
			return err
		}
		switch op {
		case opStat:
			x, err := l.Stat(state, path)
			e.entry(x)
			return err
		case opListTree:
			es, err := l.ListTree(state, path)
			e.entries(es)
			return err
		}
		x, content, err := l.S.ReadFile(state, path)
		if err != nil {
			return err
		}
		// The content goes as data frames; the socket's buffer pushes back
		// on a slow reader (see the package documentation).
		for len(content) > 0 {
			n := min(len(content), dataChunk)
			if err := writeFrame(w, frameData, content[:n]); err != nil {
				return fmt.Errorf("%w: %w", errBroken, err)
			}
			content = content[n:]
		}
		e.entry(x)
		return nil
	case opRefs:
		prefix := d.str()
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorize(sc, op, prefix); err != nil {
			return err
		}
		rs, err := l.Refs(prefix)
		if err != nil {
			return err
		}
		e.refs(s.readable(sc, rs))
		return nil
	case opUpdateRefs:
		durable := d.flag()
		n := d.count(1 + 32 + 32 + 1)
		ups := make([]objstore.RefUpdate, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			ups = append(ups, objstore.RefUpdate{Name: d.str(), Old: d.id(), New: d.id(), IgnoreOld: d.flag()})
		}
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorizeRefUpdates(sc, op, ups); err != nil {
			return err
		}
		return s.updateRefs(sc, durable, ups)
	case opSetSymbolicRef:
		name, target := d.str(), d.str()
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorize(sc, op, name); err != nil {
			return err
		}
		return l.SetSymbolicRef(name, target)
	case opFsck, opGC:
		flag := d.flag()
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorize(sc, op, ""); err != nil {
			return err
		}
		if op == opFsck {
			rep, err := l.Fsck(context.Background(), flag)
			if err != nil {
				return err
			}
			e.fsckReport(rep)
			return nil
		}
		rep, err := l.GC(context.Background(), flag)
		if err != nil {
			return err
		}
		return e.gcReport(rep)
	case opStats:
		if err := d.done(); err != nil {
			return err
		}
		if err := s.authorize(sc, op, ""); err != nil {
			return err
		}
		m, err := l.Stats()
		if err != nil {
			return err
		}
		m["pending_states"] = s.pendingStates.Load()
		if s.watch != nil {
			trees, dirs := s.watch.counts()
			m["watch_worktrees"], m["watch_dirs"] = int64(trees), int64(dirs)
			m["watch_snapshots_partial"] = s.watch.partial.Load()
			m["watch_snapshots_full"] = s.watch.full.Load()
			m["watch_snapshots_not_synced"] = s.watch.notSynced.Load()
		}
		e.u(uint64(len(m)))
		for k, v := range m {
			e.str(k)
			e.i(v)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown operation %d", ErrProtocol, op)
}

var _ io.Writer = (*bufio.Writer)(nil)
