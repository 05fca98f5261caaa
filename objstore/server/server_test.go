package server

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
)

// The tests that need a server in another process (racing starts, SIGKILL)
// re-run this test binary with serveEnv set: it then serves the store in
// that directory like "helios serve" does.
const (
	serveEnv = "HELIOS_SERVER_TEST_SERVE"
	buildEnv = "HELIOS_SERVER_TEST_BUILD"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(serveEnv); dir != "" {
		if err := serveMain(dir, os.Getenv(buildEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveMain is "helios serve" in miniature.
func serveMain(dir, build string) error {
	if c, err := Dial(dir, ""); err == nil {
		c.Close()
		return errors.New("already running")
	}
	lock, err := LockServer(dir, 10*time.Second)
	if err != nil {
		return err
	}
	defer lock.Release()
	s, err := openRocks(dir)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := Listen(dir)
	if err != nil {
		return err
	}
	srv := New(Options{Store: s, Build: build, IdleTimeout: time.Minute})
	go func() { <-srv.Done(); srv.Shutdown() }()
	return srv.Serve(ln)
}

func openRocks(dir string) (*objstore.Store, error) {
	kv, err := rocksdb.Open(filepath.Join(dir, "db"), rocksdb.Options{Create: true, LockWait: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	s, err := objstore.Init(kv, objstore.Options{})
	if err != nil {
		kv.Close()
	}
	return s, err
}

// serveCommand runs this test binary as the server of dir.
func serveCommand(build string) func(string) *exec.Cmd {
	return func(dir string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), serveEnv+"="+dir, buildEnv+"="+build)
		return cmd
	}
}

// fixture is a store served in this process over a socket in its directory.
type fixture struct {
	dir   string
	store *objstore.Store
	srv   *Server
	done  chan error
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	dir := t.TempDir()
	s, err := objstore.Init(objstore.NewMemKV(), objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return serveStore(t, dir, s, o)
}

func serveStore(t *testing.T, dir string, s *objstore.Store, o Options) *fixture {
	t.Helper()
	lock, err := LockServer(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	o.Store = s
	f := &fixture{dir: dir, store: s, srv: New(o), done: make(chan error, 1)}
	go func() { f.done <- f.srv.Serve(ln) }()
	t.Cleanup(func() {
		f.srv.Shutdown()
		if err := <-f.done; err != nil {
			t.Errorf("serve: %v", err)
		}
		s.Close()
		lock.Release()
	})
	return f
}

func (f *fixture) client(t *testing.T) *Client {
	t.Helper()
	c, err := Dial(f.dir, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSameAsLocal runs every operation through a server and on the store
// in process and compares results and errors.
func TestSameAsLocal(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.client(t)
	local := Local{S: f.store}
	wt := filepath.Join(t.TempDir(), "wt")
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB: five data frames
	writeTree(t, wt, map[string]string{"a.txt": "a\n", "src/b.go": "package b\n", "big.bin": string(big)})
	author := objstore.Signature{Name: "t", Email: "t@x", When: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))}
	r1, err := c.Snapshot(SnapshotRequest{Dir: wt, Ref: "refs/heads/main", Message: "one", Author: author, Durable: true})
	if err != nil || !r1.Changed || r1.Read != 3 {
		t.Fatalf("snapshot: %+v, %v", r1, err)
	}
	writeTree(t, wt, map[string]string{"a.txt": "a2\n"})
	r2, err := c.Snapshot(SnapshotRequest{Dir: wt, Ref: "refs/heads/main", Message: "two", Author: author})
	if err != nil || len(r2.Changes) != 1 || r2.Parent != r1.State {
		t.Fatalf("second snapshot: %+v, %v", r2, err)
	}
	if err := c.SetSymbolicRef("HEAD", "refs/heads/main"); err != nil {
		t.Fatal(err)
	}
	co := filepath.Join(t.TempDir(), "co")

	for _, api := range []Store{c, local} {
		name := fmt.Sprintf("%T", api)
		check := func(what string, got, want any) {
			t.Helper()
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("%s: %s: -want +got\n%s", name, what, d)
			}
		}
		id, err := api.ResolveState("main")
		check("resolve-state", id, r2.State)
		check("resolve-state err", err, nil)
		id, direct, err := api.Resolve("HEAD")
		check("resolve", []any{id, direct, err}, []any{r2.State, "refs/heads/main", nil})
		st, err := api.State(r2.State)
		want, _ := f.store.State(r2.State)
		check("state", st.Message, want.Message)
		if !st.Author.When.Equal(author.When) || st.Parents[0] != r1.State || err != nil {
			t.Errorf("%s: state = %+v, %v", name, st, err)
		}
		ids, sts, err := api.Log(r2.State, 0)
		if len(ids) != 2 || ids[1] != r1.State || sts[1].Message != "one" || err != nil {
			t.Errorf("%s: log = %v, %v", name, ids, err)
		}
		cs, err := api.DiffStates(r1.State, r2.State)
		wantCs, _ := f.store.DiffStates(r1.State, r2.State)
		check("diff", fmt.Sprint(cs, err), fmt.Sprint(wantCs, nil))
		e, err := api.Stat(r2.State, "src")
		check("stat", e.Mode, objstore.ModeDir)
		es, err2 := api.ListTree(r2.State, "")
		check("list-tree", len(es), 3)
		check("stat/list errors", []error{err, err2}, []error{nil, nil})
		var buf bytes.Buffer
		e, err = api.ReadFile(r2.State, "big.bin", &buf)
		if !bytes.Equal(buf.Bytes(), big) || e.Mode != objstore.ModeFile || err != nil {
			t.Errorf("%s: read-file: %d bytes, %v, %v", name, buf.Len(), e, err)
		}
		refs, err := api.Refs("H")
		refs2, err2 := api.Refs("refs/heads/")
		check("refs", fmt.Sprint(append(refs, refs2...), err, err2), fmt.Sprint([]objstore.Ref{{Name: "HEAD", Target: "refs/heads/main"}, {Name: "refs/heads/main", ID: r2.State}}, nil, nil))

		// Errors keep their sentinels and types.
		if _, err := api.ResolveState("nope"); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("%s: missing ref: %v", name, err)
		}
		if _, err := api.ReadFile(r2.State, "missing", &buf); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("%s: missing file: %v", name, err)
		}
		err = api.UpdateRefs(false, objstore.RefUpdate{Name: "refs/heads/main", Old: r1.State, New: r1.State})
		var conflict *objstore.RefConflictError
		if !errors.As(err, &conflict) || conflict.Got != r2.State || conflict.Want != r1.State {
			t.Errorf("%s: lost CAS: %v", name, err)
		}
		if err := api.UpdateRefs(false, objstore.RefUpdate{Name: "bad name"}); !errors.Is(err, objstore.ErrBadRefName) {
			t.Errorf("%s: bad ref name: %v", name, err)
		}
		if err := api.UpdateRefs(true, objstore.RefUpdate{Name: "refs/tags/" + strings.TrimPrefix(name, "*server."), New: r1.State}); err != nil {
			t.Errorf("%s: create tag: %v", name, err)
		}

		// Checkout: fill, then switch back and forth.
		dir := co + name
		ms, err := api.Checkout(dir, r1.State, objstore.CheckoutOptions{})
		if ms.Files != 3 || err != nil {
			t.Errorf("%s: checkout = %+v, %v", name, ms, err)
		}
		if got, err := api.WorktreeState(dir); got != r1.State || err != nil {
			t.Errorf("%s: worktree state = %v, %v", name, got, err)
		}
		if ms, err := api.Checkout(dir, r2.State, objstore.CheckoutOptions{}); ms.Files != 1 || err != nil {
			t.Errorf("%s: switch = %+v, %v", name, ms, err)
		}
		os.WriteFile(filepath.Join(dir, "a.txt"), []byte("local edit"), 0o644)
		if _, err := api.Checkout(dir, r1.State, objstore.CheckoutOptions{}); !errors.Is(err, objstore.ErrLocalChanges) {
			t.Errorf("%s: checkout over a local edit: %v", name, err)
		}

		rep, err := api.Fsck(t.Context(), true)
		if err != nil || !rep.Clean() || rep.Reachable["state"] != 2 {
			t.Errorf("%s: fsck = %+v, %v", name, rep, err)
		}
		gc, err := api.GC(t.Context(), false)
		if err != nil || gc.Reachable["state"] != 2 {
			t.Errorf("%s: gc = %+v, %v", name, gc, err)
		}
		stats, err := api.Stats()
		if err != nil || stats["states"] != 2 || stats["refs"] < 3 {
			t.Errorf("%s: stats = %v, %v", name, stats, err)
		}
	}
}

// TestConcurrentClients moves one ref by compare-and-swap from many
// clients while others take snapshots: every acknowledged move is in the
// ref's history, and no snapshot is lost.
func TestConcurrentClients(t *testing.T) {
	dir := t.TempDir()
	s, err := openRocks(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := serveStore(t, dir, s, Options{})
	// A chain of states for the counter ref to walk through.
	const steps = 200
	d, _ := s.NewDraft(objstore.ZeroID)
	chain := []objstore.ID{}
	for i := range steps + 1 {
		d.Put("n", objstore.ModeFile, fmt.Appendf(nil, "%d", i))
		id, err := d.Commit(objstore.CommitOptions{Message: "step"})
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, id)
	}
	index := map[objstore.ID]int{}
	for i, id := range chain {
		index[id] = i
	}
	if err := s.UpdateRefs(objstore.RefUpdate{Name: "refs/heads/counter", New: chain[0]}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	moves, conflicts := 0, 0
	errc := make(chan error, 100)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(f.dir, "")
			if err != nil {
				errc <- err
				return
			}
			defer c.Close()
			for {
				cur, _, err := c.Resolve("refs/heads/counter")
				if err != nil {
					errc <- err
					return
				}
				i := index[cur]
				if i == steps {
					return
				}
				err = c.UpdateRefs(w%2 == 0, objstore.RefUpdate{Name: "refs/heads/counter", Old: cur, New: chain[i+1]})
				mu.Lock()
				if err == nil {
					moves++
				} else if errors.Is(err, objstore.ErrRefConflict) {
					conflicts++
				} else {
					errc <- err
				}
				mu.Unlock()
			}
		}()
	}
	snaps := make([]int, 4)
	for w := range snaps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(f.dir, "")
			if err != nil {
				errc <- err
				return
			}
			defer c.Close()
			wt := filepath.Join(t.TempDir(), "wt")
			ref := fmt.Sprintf("refs/heads/w%d", w)
			for i := range 15 {
				writeTree(t, wt, map[string]string{"f": fmt.Sprint(i), fmt.Sprintf("d/%d", i): "x"})
				res, err := c.Snapshot(SnapshotRequest{Dir: wt, Ref: ref, Message: fmt.Sprint(i)})
				if err != nil || !res.Changed {
					errc <- fmt.Errorf("snapshot %d on %s: %+v %w", i, ref, res, err)
					return
				}
				snaps[w]++
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	t.Logf("%d moves, %d lost races", moves, conflicts)
	if moves != steps {
		t.Errorf("got %d acknowledged moves, want %d (one per step: none lost, none doubled)", moves, steps)
	}
	for w, n := range snaps {
		id, _, err := s.Resolve(fmt.Sprintf("refs/heads/w%d", w))
		ids, _, err2 := s.Log(id, 0)
		if err != nil || err2 != nil || len(ids) != n {
			t.Errorf("w%d: %d states in the log, want %d (%v %v)", w, len(ids), n, err, err2)
		}
	}
}

func TestAuthorizerAndPeer(t *testing.T) {
	f := newFixture(t, Options{Authorizer: denyTags{}})
	c := f.client(t)
	err := c.UpdateRefs(false, objstore.RefUpdate{Name: "refs/tags/v1", IgnoreOld: true})
	if !errors.Is(err, ErrDenied) {
		t.Errorf("update of a tag: %v, want ErrDenied", err)
	}
	if _, err := c.Refs("refs/heads/"); err != nil {
		t.Errorf("refs: %v", err)
	}
	st, err := c.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.PeerUID != os.Getuid() || st.PeerPID != os.Getpid() || st.PID != os.Getpid() || st.Requests < 2 {
		t.Errorf("status = %+v: want this process as peer and server", st)
	}
}

type denyTags struct{}

func (denyTags) Authorize(p Peer, op, target string) error {
	if strings.HasPrefix(target, "refs/tags/") {
		return fmt.Errorf("uid %d may not touch tags", p.UID)
	}
	return nil
}

func TestVersionMismatchStopsServer(t *testing.T) {
	f := newFixture(t, Options{Build: "one"})
	if _, err := Dial(f.dir, "two"); !errors.Is(err, ErrVersion) {
		t.Fatalf("dial with another build: %v, want ErrVersion", err)
	}
	<-f.srv.Done()
	if r := f.srv.Reason(); !strings.Contains(r, "another build") {
		t.Errorf("reason = %q", r)
	}
}

func TestIdleTimeoutAndStop(t *testing.T) {
	f := newFixture(t, Options{IdleTimeout: 20 * time.Millisecond})
	<-f.srv.Done() // no connection ever came
	if r := f.srv.Reason(); !strings.Contains(r, "idle") {
		t.Errorf("reason = %q", r)
	}

	g := newFixture(t, Options{})
	c := g.client(t)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	<-g.srv.Done()
	g.srv.Shutdown()
	if _, err := c.Refs(""); err == nil {
		t.Error("a request after stop succeeded")
	}
	if _, err := Dial(g.dir, ""); err == nil {
		t.Error("dial after shutdown succeeded")
	}
}

func TestProtocolErrors(t *testing.T) {
	f := newFixture(t, Options{})
	// Garbage instead of a hello: the server hangs up.
	conn, err := dialSocket(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte{0, 0, 0, 0, 'x'})
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 10)); err == nil {
		t.Errorf("server answered %d bytes to a zero-length frame", n)
	}
	conn.Close()
	// An unknown operation is a protocol error, and ends the connection.
	c := f.client(t)
	if err := c.call(200, nil, nil, nil); !errors.Is(err, ErrProtocol) {
		t.Errorf("unknown op: %v", err)
	}
	if _, err := c.Refs(""); err == nil {
		t.Error("connection still used after a protocol error")
	}
	// Trailing bytes in a request.
	c2 := f.client(t)
	if err := c2.call(opStats, func(e *enc) { e.u(1) }, nil, nil); !errors.Is(err, ErrProtocol) {
		t.Errorf("trailing bytes: %v", err)
	}
}

func TestDecoderBounds(t *testing.T) {
	for _, p := range [][]byte{{}, {0xff}, {200, 1}, {5, 'a'}} {
		d := dec{b: p}
		d.str()
		if d.err == nil {
			t.Errorf("str of %v decoded", p)
		}
	}
	d := dec{b: []byte{1, 2, 3}}
	d.ids()
	if d.err == nil {
		t.Error("ids beyond the payload decoded")
	}
	var e enc
	e.i(0)
	e.i(1 << 40) // zone offset out of range
	d = dec{b: e.b}
	d.time()
	if d.err == nil {
		t.Error("time with a bad zone decoded")
	}
}

func TestStaleSocketAndLongPath(t *testing.T) {
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	if err := os.MkdirAll(long, 0o777); err != nil {
		t.Fatal(err)
	}
	// A socket file nobody listens on, as a killed server leaves it.
	os.WriteFile(filepath.Join(long, SocketName), nil, 0o600)
	if _, err := Dial(long, ""); err == nil {
		t.Fatal("dial of a stale socket succeeded")
	}
	if Running(long) {
		t.Error("Running with no lock holder")
	}
	s, _ := objstore.Init(objstore.NewMemKV(), objstore.Options{})
	f := serveStore(t, long, s, Options{})
	if !Running(long) {
		t.Error("not Running while served")
	}
	if _, err := LockServer(long, 0); !errors.Is(err, ErrRunning) {
		t.Errorf("second lock: %v", err)
	}
	c := f.client(t)
	if _, err := c.Status(); err != nil {
		t.Fatal(err)
	}
	if _, err := Connect(t.TempDir(), ConnectOptions{}); err == nil {
		t.Error("connect without a server or a command succeeded")
	}
}

// TestRacingStarts: ten clients find no server and start one between them.
func TestRacingStarts(t *testing.T) {
	dir := t.TempDir()
	s, err := openRocks(dir) // make the store, then let the server have it
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	var wg sync.WaitGroup
	pids := make([]int, 10)
	for i := range pids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Connect(dir, ConnectOptions{Build: "b1", Command: serveCommand("b1")})
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			pids[i] = c.ServerPID
		}()
	}
	wg.Wait()
	for _, p := range pids {
		if p != pids[0] {
			t.Errorf("server pids %v: want one server", pids)
			break
		}
	}
	// A client of another build replaces it.
	c, err := Connect(dir, ConnectOptions{Build: "b2", Command: serveCommand("b2")})
	if err != nil {
		t.Fatal(err)
	}
	if c.ServerPID == pids[0] || c.ServerBuild != "b2" {
		t.Errorf("after replacement: pid %d build %q, old pid %d", c.ServerPID, c.ServerBuild, pids[0])
	}
	stopServer(t, c, dir)
}

func stopServer(t *testing.T, c *Client, dir string) {
	t.Helper()
	if err := c.Stop(); err != nil {
		t.Error(err)
	}
	c.Close()
	if err := WaitStopped(dir, 30*time.Second); err != nil {
		t.Error(err)
	}
}

// TestKillLosesNoAcknowledgedCommit kills the server with SIGKILL while
// clients take snapshots; every acknowledged state is on its ref after the
// next start, and that start is a fresh server.
func TestKillLosesNoAcknowledgedCommit(t *testing.T) {
	dir := t.TempDir()
	s, err := openRocks(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	opts := ConnectOptions{Build: "k", Command: serveCommand("k")}
	first, err := Connect(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	pid := first.ServerPID
	const writers = 3
	acked := make([]objstore.ID, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(dir, "k")
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			wt := filepath.Join(t.TempDir(), "wt")
			for i := 0; ; i++ {
				writeTree(t, wt, map[string]string{"f": fmt.Sprint(i)})
				res, err := c.Snapshot(SnapshotRequest{Dir: wt, Ref: fmt.Sprintf("refs/heads/w%d", w), Message: fmt.Sprint(i)})
				if err != nil {
					return // the server died
				}
				acked[w] = res.State
			}
		}()
	}
	// Let some commits through, then kill.
	for {
		if refs, err := first.Refs("refs/heads/"); err == nil && len(refs) == writers {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	syscall.Kill(pid, syscall.SIGKILL)
	wg.Wait()
	first.Close()

	c, err := Connect(dir, opts)
	if err != nil {
		t.Fatalf("connect after the kill: %v", err)
	}
	if c.ServerPID == pid {
		t.Fatal("still talking to the killed server")
	}
	for w, want := range acked {
		got, _, err := c.Resolve(fmt.Sprintf("refs/heads/w%d", w))
		if err != nil {
			t.Fatal(err)
		}
		ids, _, err := c.Log(got, 0)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, id := range ids {
			found = found || id == want
		}
		if !found {
			t.Errorf("w%d: acknowledged %v is not in the history of %v", w, want, got)
		}
	}
	rep, err := c.Fsck(t.Context(), false)
	if err != nil || !rep.Clean() {
		t.Errorf("fsck after the kill: %+v %v", rep, err)
	}
	stopServer(t, c, dir)
}

var _ net.Conn = (*net.UnixConn)(nil)
