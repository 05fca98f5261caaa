package server

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/gitobj"
)

// pipedObjects is memObjects that hands objects over as a pipe of git
// cat-file --batch records (helper.PushObjectPiper), which write, if set,
// replaces: what a hostile client's "git" could write.
type pipedObjects struct {
	memObjects
	write func(w *os.File, ids []gitobj.OID)
	// file, if set, is handed over instead of a pipe.
	file   *os.File
	extra  gitobj.Object // an object not pushed
	waited []bool
	// firstAsk, if set, is closed when the server asks for its first
	// object.
	firstAsk chan struct{}
}

func (p *pipedObjects) Listed(context.Context) (int, bool, error) { return len(p.ids), true, nil }

// Pipe writes each record as its id comes, or, with write set, calls
// write with all of them once the server asked for the last.
func (p *pipedObjects) Pipe(ctx context.Context, ids <-chan gitobj.OID) (*os.File, func(bool) error, error) {
	if p.file != nil {
		go func() {
			for range ids {
			}
		}()
		return p.file, func(stop bool) error { p.waited = append(p.waited, stop); return nil }, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer w.Close()
		var asked []gitobj.OID
		for id := range ids {
			if len(asked) == 0 && p.firstAsk != nil {
				close(p.firstAsk)
			}
			asked = append(asked, id)
			if p.write == nil {
				writeRecord(w, p.objs[id])
			}
		}
		p.asked = append(p.asked, asked...)
		if p.write != nil {
			p.write(w, asked)
		}
	}()
	return r, func(stop bool) error {
		p.waited = append(p.waited, stop)
		if !stop {
			<-done
		}
		return nil
	}, nil
}

func writeRecord(w *os.File, o gitobj.Object) {
	fmt.Fprintf(w, "%s %s %d\n", o.OID, o.Type, len(o.Data))
	w.Write(o.Data)
	w.Write([]byte{'\n'})
}

// bigHistory is a history of enough objects for a push to pipe them.
func bigHistory(t *testing.T, p *pipedObjects) gitobj.OID {
	var tip gitobj.OID
	for i := 0; 3*i < pipeMin+30; i++ {
		tip = p.history(t, fmt.Sprintf("v%d\n", i), fmt.Sprintf("c%d", i), tip)
	}
	return tip
}

// TestGitPushPiped: a big push over the Unix socket hands the server a
// pipe; the objects arrive whole, are counted, and come back exactly.
func TestGitPushPiped(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	c := f.client(t)
	var objs pipedObjects
	tip := bigHistory(t, &objs)
	res, err := c.Git(true).Push(ctx, []helper.RefUpdate{{Name: "refs/heads/main", Old: gitobj.SHA1.ZeroOID(), New: tip}}, helper.PushOptions{}, &objs)
	if err != nil || res[0] != nil {
		t.Fatalf("push: %v %v", res, err)
	}
	if len(objs.asked) != len(objs.ids) || fmt.Sprint(objs.waited) != "[false]" {
		t.Errorf("asked for %d of %d objects, waited %v", len(objs.asked), len(objs.ids), objs.waited)
	}
	st, err := c.Status()
	if err != nil || st.PipedPushes != 1 {
		t.Fatalf("status: %+v %v, want one piped push", st, err)
	}
	var got collect
	if err := f.client(t).Git(true).Fetch(ctx, []gitobj.OID{tip}, nil, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(objs.ids) {
		t.Fatalf("fetch gave %d objects, want %d", len(got), len(objs.ids))
	}
	for _, o := range got {
		if w := objs.objs[o.OID]; w.Type != o.Type || string(w.Data) != string(o.Data) {
			t.Fatalf("object %s came back as %v %q", o.OID, o.Type, o.Data)
		}
	}
	// A small push streams its objects.
	var small pipedObjects
	one := small.history(t, "small\n", "small", gitobj.OID{})
	res, err = c.Git(true).Push(ctx, []helper.RefUpdate{{Name: "refs/heads/small", Old: gitobj.SHA1.ZeroOID(), New: one}}, helper.PushOptions{}, &small)
	if err != nil || res[0] != nil || small.waited != nil {
		t.Fatalf("small push: %v %v, piped: %v", res, err, small.waited)
	}
}

// listedPiped is pipedObjects that lists its ids as a local git does
// (helper.PushObjectLister, the listing's length unknown up front), and
// holds back the second half of them until the server has asked for an
// object: a server that asked only once the list was done would never
// get it. With failAt > 0 the listing fails after that many ids.
type listedPiped struct {
	pipedObjects
	failAt int
}

func (l *listedPiped) Listed(context.Context) (int, bool, error) { return 0, false, nil }

func (l *listedPiped) List(ctx context.Context, fn func(gitobj.OID) error) error {
	hold := func(i int) error {
		if i != len(l.ids)/2 {
			return nil
		}
		select {
		case <-l.firstAsk:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the server asked for nothing while the ids were still listed")
		}
	}
	return listFailing(l.ids, l.failAt, hold, fn)
}

// TestGitPushPipedWhileListing: a piped push's server asks for objects
// while the ids are still being listed, and stores them all; a push of
// what the store has already asks for nothing; a listing that fails part
// way, after objects were asked for and read, ends the push with the
// client's error, stores no ref, and leaves the connection usable.
func TestGitPushPipedWhileListing(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	c := f.client(t)
	objs := &listedPiped{pipedObjects: pipedObjects{firstAsk: make(chan struct{})}}
	var tip gitobj.OID
	for i := 0; len(objs.ids) < 3*idFrame; i++ {
		tip = objs.history(t, fmt.Sprintf("w%d\n", i), fmt.Sprintf("w%d", i), tip)
	}
	push := func(objs helper.PushObjects, ref string) error {
		res, err := c.Git(true).Push(ctx, []helper.RefUpdate{{Name: ref, Old: gitobj.SHA1.ZeroOID(), New: tip}}, helper.PushOptions{}, objs)
		if err == nil && res[0] != nil {
			err = res[0]
		}
		return err
	}
	if err := push(objs, "refs/heads/main"); err != nil {
		t.Fatal(err)
	}
	if len(objs.asked) != len(objs.ids) {
		t.Fatalf("asked for %d of %d objects", len(objs.asked), len(objs.ids))
	}
	var got collect
	if err := f.client(t).Git(true).Fetch(ctx, []gitobj.OID{tip}, nil, &got); err != nil || len(got) != len(objs.ids) {
		t.Fatalf("fetch: %d objects, %v; want %d", len(got), err, len(objs.ids))
	}

	again := &listedPiped{pipedObjects: pipedObjects{memObjects: objs.memObjects, firstAsk: make(chan struct{})}}
	again.asked = nil
	close(again.firstAsk) // nothing will be asked for
	if err := push(again, "refs/heads/copy"); err != nil || len(again.asked) != 0 {
		t.Fatalf("a push of stored objects: %v, asked for %d", err, len(again.asked))
	}

	broken := &listedPiped{pipedObjects: pipedObjects{firstAsk: make(chan struct{})}, failAt: 2 * idFrame}
	tip = gitobj.OID{}
	for i := 0; len(broken.ids) < 3*idFrame; i++ {
		tip = broken.history(t, fmt.Sprintf("b%d\n", i), fmt.Sprintf("b%d", i), tip)
	}
	if err := push(broken, "refs/heads/broken"); !errors.Is(err, errListing) {
		t.Fatalf("a push whose listing failed: %v, want %v", err, errListing)
	}
	refs, err := c.Git(true).List(ctx, false)
	var names []string
	for _, r := range refs {
		names = append(names, r.Name)
	}
	if err != nil || strings.Join(names, " ") != "HEAD refs/heads/copy refs/heads/main" {
		t.Fatalf("after the failed push the same connection lists %v, %v; want HEAD, copy and main", names, err)
	}
}

// TestGitPushPipedHostile: what comes through the pipe is checked as a
// stream is; a bad one moves no ref, says why, and leaves the connection
// in step (unless it broke the protocol: a descriptor that is no pipe).
func TestGitPushPipedHostile(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	notPipe, err := os.Create(filepath.Join(t.TempDir(), "file"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		write func(objs *pipedObjects) func(w *os.File, ids []gitobj.OID)
		file  *os.File
		want  string
	}{
		"wrong content": {write: func(objs *pipedObjects) func(*os.File, []gitobj.OID) {
			return func(w *os.File, ids []gitobj.OID) {
				for _, id := range ids {
					o := objs.objs[id]
					if o.Type == gitobj.Blob {
						o.Data = []byte("not what the id says\n")
					}
					writeRecord(w, o)
				}
			}
		}, want: "hash"},
		"unasked object": {write: func(objs *pipedObjects) func(*os.File, []gitobj.OID) {
			return func(w *os.File, ids []gitobj.OID) {
				writeRecord(w, objs.objs[ids[1]])
				writeRecord(w, objs.extra)
			}
		}, want: "was not asked for"},
		"twice": {write: func(objs *pipedObjects) func(*os.File, []gitobj.OID) {
			return func(w *os.File, ids []gitobj.OID) {
				writeRecord(w, objs.objs[ids[1]])
				writeRecord(w, objs.objs[ids[1]])
			}
		}, want: "sent twice"},
		"ends early": {write: func(objs *pipedObjects) func(*os.File, []gitobj.OID) {
			return func(w *os.File, ids []gitobj.OID) {
				for _, id := range ids[:len(ids)/2] {
					writeRecord(w, objs.objs[id])
				}
			}
		}, want: "did not send"},
		"not cat-file": {write: func(objs *pipedObjects) func(*os.File, []gitobj.OID) {
			return func(w *os.File, ids []gitobj.OID) {
				fmt.Fprintf(w, "%s blob\n", ids[0])
			}
		}, want: "unexpected reply"},
		"missing": {write: func(objs *pipedObjects) func(*os.File, []gitobj.OID) {
			return func(w *os.File, ids []gitobj.OID) {
				fmt.Fprintf(w, "%s missing\n", ids[0])
			}
		}, want: "not found"},
		"not a pipe": {file: notPipe, want: "not a pipe"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := f.client(t)
			objs := &pipedObjects{file: tc.file}
			tip := bigHistory(t, objs)
			objs.extra = gitobj.Object{Type: gitobj.Blob, Data: []byte("smuggled\n")}
			objs.extra.OID, _ = gitobj.HashObject(gitobj.SHA1, gitobj.Blob, objs.extra.Data)
			if tc.write != nil {
				objs.write = tc.write(objs)
			}
			_, err := c.Git(true).Push(ctx, []helper.RefUpdate{{Name: "refs/heads/main", Old: gitobj.SHA1.ZeroOID(), New: tip}}, helper.PushOptions{}, objs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
			if errors.Is(err, ErrProtocol) {
				c = f.client(t) // a protocol violation closes the connection
			}
			if refs, err := c.Git(true).List(ctx, false); err != nil || len(refs) != 0 {
				t.Fatalf("after a refused push the store lists %v, %v", refs, err)
			}
		})
	}
}

// TestGitPushPipeBroken: a piped push whose 'p' frame's byte carries no
// descriptor, or two, or that sends ids instead of its pipe, and a 'p'
// inside a stream of ids, are protocol errors.
func TestGitPushPipeBroken(t *testing.T) {
	f := newFixture(t, Options{})
	r1, w1, _ := os.Pipe()
	r2, w2, _ := os.Pipe()
	defer func() { r1.Close(); w1.Close(); r2.Close(); w2.Close() }()
	var objs memObjects
	tip := objs.history(t, "x\n", "x", gitobj.OID{})
	ids := func(c *Client) {
		out := &frameStream{w: c.w}
		for _, id := range objs.ids {
			out.oid(id)
		}
		out.end()
	}
	cases := map[string]struct {
		piped bool
		send  func(c *Client) error
		want  string
	}{
		"no descriptor": {true, func(c *Client) error {
			writeFrame(c.w, framePipe, nil)
			c.w.WriteByte(0) // no SCM_RIGHTS with it
			return c.w.Flush()
		}, "none came with it"},
		"two descriptors": {true, func(c *Client) error {
			writeFrame(c.w, framePipe, nil)
			c.w.Flush()
			_, _, err := c.c.(*net.UnixConn).WriteMsgUnix([]byte{0}, unix.UnixRights(int(r1.Fd()), int(r2.Fd())), nil)
			return err
		}, "more than one descriptor"},
		"ids instead of the pipe": {true, func(c *Client) error {
			ids(c)
			return c.w.Flush()
		}, "without its pipe"},
		"pipe inside a stream": {false, func(c *Client) error {
			writeFrame(c.w, frameData, []byte{byte(len(tip.Bytes()))})
			writeFrame(c.w, framePipe, nil)
			return c.w.Flush()
		}, "frame kind 'p' in a stream"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := f.client(t)
			c.e.b = append(c.e.b[:0], opGitPush)
			c.e.u(1)
			c.e.str("refs/heads/main")
			c.e.oid(gitobj.SHA1.ZeroOID())
			c.e.oid(tip)
			for range 4 { // force, lease, atomic, dry-run
				c.e.flag(false)
			}
			c.e.flag(tc.piped)
			if err := writeFrame(c.w, frameQuery, c.e.b); err != nil {
				t.Fatal(err)
			}
			if err := tc.send(c); err != nil {
				t.Fatal(err)
			}
			kind, p, err := readFrame(c.r, nil)
			if err != nil || kind != frameError {
				t.Fatalf("server answered %q, %v; want an error", kind, err)
			}
			if err := decodeError(&dec{b: p}); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a protocol error saying %q", err, tc.want)
			}
		})
	}
}

// TestGitPushPipeStalled: a client that keeps its pipe open and writes
// nothing holds its own connection only; once it goes away the server
// gives up on the pipe (within pipeCheck), and it stops when asked.
func TestGitPushPipeStalled(t *testing.T) {
	f := newFixture(t, Options{})
	release := make(chan struct{})
	defer close(release)
	objs := &pipedObjects{}
	tip := bigHistory(t, objs)
	objs.write = func(w *os.File, ids []gitobj.OID) { <-release }
	c := f.client(t)
	pushed := make(chan error, 1)
	go func() {
		_, err := c.Git(true).Push(context.Background(), []helper.RefUpdate{{Name: "refs/heads/main", Old: gitobj.SHA1.ZeroOID(), New: tip}}, helper.PushOptions{}, objs)
		pushed <- err
	}()
	sc := f.client(t)
	status := func() Status {
		st, err := sc.Status()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	deadline := time.Now().Add(10 * time.Second)
	for status().PipedPushes == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the push never handed over its pipe")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The client goes, its pipe stays open; a byte it sent is left unread
	// (it does not hide that the connection is closed).
	c.c.Write([]byte{1})
	c.c.Close()
	if err := <-pushed; err == nil {
		t.Fatal("a push whose connection closed succeeded")
	}
	// The server is done with the push's connection: only this one is open.
	deadline = time.Now().Add(3 * pipeCheck)
	for status().Open != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the server still reads the pipe of a client that went away: %+v", status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
