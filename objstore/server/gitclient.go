package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/clonepack"
	"github.com/helios-vcs/helios/helper/gitobj"
	"golang.org/x/mod/sumdb/tlog"
)

var (
	_ helper.Remote          = (*GitRemote)(nil)
	_ helper.VerifyingRemote = (*GitRemote)(nil)
	_ helper.ClonePacker     = (*GitRemote)(nil)
	_ helper.CheckingRemote  = (*GitRemote)(nil)
)

// GitRemote is git-remote-helios's helper.Remote through a store's server:
// the server runs the store side (helper/storeremote) and checks every
// pushed object itself; this side only moves ids and objects.
type GitRemote struct {
	c *Client
	// Trusted says the server is this machine's store, reached through its
	// socket, so objects it serves need not have their git ids re-hashed
	// (helper.VerifyingRemote); a remote host's server is not trusted.
	Trusted bool
	// ClonePacks, if set, is the store's clone pack directory as this
	// process sees it: a clone links the pack from there instead of having
	// it streamed (and has it streamed where it cannot).
	ClonePacks string
}

// Git returns the git remote of c's store.
func (c *Client) Git(trusted bool) *GitRemote { return &GitRemote{c: c, Trusted: trusted} }

// ChecksPushedObjects implements helper.CheckingRemote: the server checks
// every pushed object (streamedObjects.Read).
func (g *GitRemote) ChecksPushedObjects() bool { return true }

// VerifiesObjects implements helper.VerifyingRemote.
func (g *GitRemote) VerifiesObjects() bool { return g.Trusted }

// List implements helper.Remote.
func (g *GitRemote) List(ctx context.Context, forPush bool) ([]helper.Ref, error) {
	var refs []helper.Ref
	err := g.c.call(opGitList, func(e *enc) { e.flag(forPush) }, nil, func(d *dec) {
		n := d.n()
		refs = make([]helper.Ref, 0, hint(n))
		for i := 0; i < n && d.err == nil; i++ {
			refs = append(refs, helper.Ref{Name: d.str(), OID: d.oid(), Symref: d.str(), Peeled: d.oid()})
		}
	})
	return refs, err
}

// Fetch implements helper.Remote: the objects arrive as a stream that a
// second goroutine decodes into sink while the connection reads on.
func (g *GitRemote) Fetch(ctx context.Context, wants, haves []gitobj.OID, sink helper.ObjectSink) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		br := bufio.NewReaderSize(pr, 64<<10)
		var err error
		for {
			var obj gitobj.Object
			obj, err = readObject(br)
			if err == nil {
				err = sink.WriteObject(obj)
			}
			if err != nil {
				break
			}
		}
		if errors.Is(err, io.EOF) {
			err = nil
		}
		// Drain, so that the connection can read the rest of the answer.
		pr.CloseWithError(err)
		done <- err
	}()
	err := g.c.call(opGitFetch, func(e *enc) { e.oids(wants); e.oids(haves) }, pw, nil)
	pw.Close()
	serr := <-done
	if serr != nil && (err == nil || errors.Is(err, io.ErrClosedPipe)) {
		return serr
	}
	return err
}

// Push implements helper.Remote. The request carries the updates; the ids
// of the objects follow as a stream; the server answers with the ids it
// lacks, which this side reads from objects (checked there, and again by
// the server) and streams back; then the server stores them, moves the
// refs and sends one result per update.
func (g *GitRemote) Push(ctx context.Context, updates []helper.RefUpdate, opts helper.PushOptions, objects helper.PushObjects) ([]error, error) {
	c := g.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	// A push of more than a few objects to a server on this machine hands
	// it a pipe that git cat-file writes into, before any id: the server
	// then asks for each object it lacks as soon as the id arrives, and
	// reads the objects while git rev-list still lists.
	var pipe *os.File
	var pipeWait func(stop bool) error // the git process writing the pipe
	var need chan gitobj.OID           // the ids the server asks for, to git
	if pp, ok := objects.(helper.PushObjectPiper); ok && !opts.DryRun && c.canPassPipes() {
		n, listed, err := pp.Listed(ctx)
		if err != nil {
			return nil, err
		}
		if !listed || n >= pipeMin {
			need = make(chan gitobj.OID, 4096)
			if pipe, pipeWait, err = pp.Pipe(ctx, need); err != nil {
				pipe, need = nil, nil // the objects go on the connection
			}
		}
	}
	stopGit := func() {
		if need != nil {
			close(need)
			need = nil
		}
		if pipeWait != nil {
			pipeWait(true)
			pipeWait = nil
		}
	}
	defer stopGit()
	c.e.b = append(c.e.b[:0], opGitPush)
	c.e.u(uint64(len(updates)))
	for _, u := range updates {
		c.e.str(u.Name)
		c.e.oid(u.Old)
		c.e.oid(u.New)
		c.e.flag(u.Force)
		c.e.flag(u.Lease)
	}
	c.e.flag(opts.Atomic)
	c.e.flag(opts.DryRun)
	c.e.flag(pipe != nil)
	err := writeFrame(c.w, frameQuery, c.e.b)
	if err == nil && pipe != nil {
		err = writeFrame(c.w, framePipe, nil)
	}
	if err == nil {
		err = c.w.Flush() // the server reads the refs while git lists
	}
	if err == nil && pipe != nil {
		err = sendPipe(c.c, pipe)
	}
	if pipe != nil {
		pipe.Close() // the server has its own copy, or none is needed
	}
	if err != nil {
		return nil, c.broke(err)
	}
	// While the ids go out, the server's asks come back and go to git.
	var asks chan error
	if need != nil {
		asks = make(chan error, 1)
		go func(need chan<- gitobj.OID) { asks <- c.relayAsks(ctx, need) }(need)
		need = nil // relayAsks closes it
	}
	// The ids go out as git lists them: the server looks each up as it
	// comes, while git rev-list still runs.
	var localErr error
	out := &frameStream{w: c.w}
	if objects != nil && !opts.DryRun {
		n := 0
		localErr = listIDs(ctx, objects, func(id gitobj.OID) error {
			out.oid(id)
			// A piped push's server asks as the ids come: they go out
			// in small frames, not when 64 KiB have gathered (3,000
			// ids, which a slow listing takes a while to print).
			if n++; asks != nil && n%idFrame == 0 {
				out.send()
			}
			return out.err
		})
	}
	if !out.broken {
		if localErr != nil {
			err = out.abort(localErr) // the server answers with an error
		} else {
			err = out.end()
		}
	}
	if out.broken || err != nil {
		if err == nil {
			err = out.err
		}
		// The server may have refused the push and closed the
		// connection (a pipe that is none, say): its reason is better
		// than a broken pipe. Closing the writing side ends the asks
		// of a server that is still there.
		if asks != nil {
			if uc, ok := c.c.(*net.UnixConn); ok {
				uc.CloseWrite()
			}
			if aerr := <-asks; aerr != nil {
				err = aerr
			}
		}
		return nil, c.broke(err)
	}
	// A piped push's asks end with 'z' before the answer.
	asked := asks != nil
	if asks != nil {
		if err := <-asks; err != nil {
			return nil, c.broke(err)
		}
	}
	for {
		kind, p, err := readFrame(c.r, c.buf)
		if err != nil {
			return nil, c.broke(err)
		}
		c.buf = p[:0]
		switch kind {
		case frameData, frameEnd:
			// The server asks for objects: the ids it lacks, up to 'z'.
			if asked {
				return nil, c.broke(fmt.Errorf("%w: the server asked for objects twice", ErrProtocol))
			}
			asked = true
			src := &frameSource{r: c.r, cur: p}
			if kind == frameEnd {
				src.cur, src.done = nil, true
			}
			need, err := readOIDs(bufio.NewReader(src))
			if err != nil {
				return nil, c.broke(err)
			}
			out := &frameStream{w: c.w}
			if objects == nil {
				localErr = errors.New("server: push: the server asked for objects, but none were offered")
			} else {
				localErr = objects.Read(ctx, need, func(obj gitobj.Object) error {
					out.object(obj)
					return out.err
				})
			}
			if out.broken {
				return nil, c.broke(out.err)
			}
			if localErr != nil {
				err = out.abort(localErr)
			} else {
				err = out.end()
			}
			if err != nil {
				return nil, c.broke(err)
			}
		case frameResult:
			if localErr != nil {
				return nil, localErr
			}
			if pipeWait != nil {
				// The server read every object: git has all its input
				// and ends on its own.
				pipeWait(false)
				pipeWait = nil
			}
			d := &dec{b: p}
			results := d.pushResults()
			if err := d.done(); err != nil {
				return nil, err
			}
			if len(results) != len(updates) {
				return nil, fmt.Errorf("server: push: %d results for %d updates", len(results), len(updates))
			}
			return results, nil
		case frameError:
			if localErr != nil {
				return nil, localErr
			}
			err := decodeError(&dec{b: p})
			if pipeWait != nil {
				// What git said, if anything, may tell why the server
				// found the objects wanting (a missing object, say).
				if werr := pipeWait(true); werr != nil {
					err = fmt.Errorf("%w (%v)", err, werr)
				}
				pipeWait = nil
			}
			return nil, err
		default:
			return nil, c.broke(fmt.Errorf("%w: frame kind %q", ErrProtocol, kind))
		}
	}
}

// relayAsks reads the ids a piped push's server asks for and hands them to
// git (need, which it closes), up to the 'z' that ends them. It runs while
// the push's own goroutine writes the ids; the connection's reading side
// is its own until it returns.
func (c *Client) relayAsks(ctx context.Context, need chan<- gitobj.OID) error {
	defer close(need)
	br := bufio.NewReaderSize(&frameSource{r: c.r}, 64<<10)
	for {
		id, err := readOID(br)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case need <- id:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// listIDs calls fn with each id of a push, as they are listed when
// objects can (helper.PushObjectLister).
func listIDs(ctx context.Context, objects helper.PushObjects, fn func(gitobj.OID) error) error {
	if l, ok := objects.(helper.PushObjectLister); ok {
		return l.List(ctx, fn)
	}
	ids, err := objects.IDs(ctx)
	for _, id := range ids {
		if err == nil {
			err = fn(id)
		}
	}
	return err
}

// idFrame is how many ids a piped push sends in one frame.
const idFrame = 256

// pipeMin is the fewest objects a push hands over as a pipe: below it,
// streaming them costs less than a git process of their own.
const pipeMin = 256

// canPassPipes says whether the connection can carry a pipe: a Unix
// socket.
func (c *Client) canPassPipes() bool {
	_, ok := c.c.(*net.UnixConn)
	return ok
}

// AuditCheckpoint returns the store's latest signed audit checkpoint (nil
// when the store keeps no log) and the key it verifies with, as the server
// was told it.
func (g *GitRemote) AuditCheckpoint() (checkpoint []byte, verifierKey string, err error) {
	err = g.c.call(opAuditCheckpoint, nil, nil, func(d *dec) { checkpoint, verifierKey = d.bytes(), d.str() })
	if len(checkpoint) == 0 {
		checkpoint = nil
	}
	return checkpoint, verifierKey, err
}

// ProveTree implements audit.TreeProver through the server: the proof is
// checked by the caller against signed roots, so the server is not trusted.
func (g *GitRemote) ProveTree(t, n int64) (tlog.TreeProof, error) {
	var proof tlog.TreeProof
	err := g.c.call(opAuditProve, func(e *enc) { e.i(t); e.i(n) }, nil, func(d *dec) { proof = decodeTreeProof(d) })
	return proof, err
}

// InstallClonePack implements helper.ClonePacker for this machine's own
// server (Trusted): the server picks or builds the pack and streams its
// files, which are written into packDir as they come. A remote host's
// server is not asked: its pack would reach git unchecked, so a clone
// from it has every object sent, and checked, one by one.
func (g *GitRemote) InstallClonePack(ctx context.Context, wants []gitobj.OID, packDir string) (*helper.InstalledPack, error) {
	if !g.Trusted {
		return nil, nil
	}
	if g.ClonePacks != "" {
		p, err := g.installClonePack(wants, packDir, true)
		if !errors.Is(err, errNotLinked) {
			return p, err
		}
	}
	return g.installClonePack(wants, packDir, false)
}

// errNotLinked: the client could not link the pack the server named.
var errNotLinked = errors.New("server: clone pack not linked")

func (g *GitRemote) installClonePack(wants []gitobj.OID, packDir string, link bool) (*helper.InstalledPack, error) {
	pr, pw := io.Pipe()
	type result struct {
		pack *helper.InstalledPack
		err  error
	}
	done := make(chan result, 1)
	go func() {
		p, err := readClonePack(bufio.NewReaderSize(pr, 64<<10), packDir, g.ClonePacks)
		// Drain, so that the connection can read the rest of the answer.
		pr.CloseWithError(err)
		done <- result{p, err}
	}()
	var has bool
	err := g.c.call(opGitClonePack, func(e *enc) { e.oids(wants); e.flag(link) }, pw, func(d *dec) { has = d.flag() })
	pw.Close()
	res := <-done
	switch {
	case err != nil && !errors.Is(err, io.ErrClosedPipe):
		return nil, err
	case res.err != nil && !(errors.Is(res.err, io.EOF) && !has):
		return nil, res.err
	case !has:
		return nil, nil
	}
	return res.pack, nil
}

// readClonePack reads git-clone-pack's stream (see doc.go) and installs the
// pack into packDir: from the stream, or from the cache directory linkDir
// when the server sent only the pack's name (errNotLinked if that fails).
func readClonePack(br *bufio.Reader, packDir, linkDir string) (*helper.InstalledPack, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, err
	}
	if n > 64 {
		return nil, fmt.Errorf("%w: clone pack name of %d bytes", ErrProtocol, n)
	}
	name := make([]byte, n)
	if _, err := io.ReadFull(br, name); err != nil {
		return nil, err
	}
	ntips, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, err
	}
	p := &helper.InstalledPack{}
	for range ntips {
		id, err := readOID(br)
		if err != nil {
			return nil, err
		}
		p.Tips = append(p.Tips, id)
	}
	var sizes [2]uint64
	for i := range sizes {
		if sizes[i], err = binary.ReadUvarint(br); err != nil {
			return nil, err
		}
	}
	follow, err := br.ReadByte()
	if err != nil {
		return nil, err
	}
	if follow == 1 {
		err = clonepack.InstallFrom(packDir, string(name), exactly(br, sizes[0]), exactly(br, sizes[1]), nil)
	} else if linkDir == "" {
		err = fmt.Errorf("%w: clone pack not sent", ErrProtocol)
	} else if err = clonepack.Open(linkDir, 0).Install(string(name), sizes, packDir); err != nil {
		err = fmt.Errorf("%w: %w", errNotLinked, err)
	}
	if err != nil {
		return nil, err
	}
	nwanted, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, err
	}
	for range nwanted {
		obj, err := readObject(br)
		if err != nil {
			return nil, err
		}
		p.Wanted = append(p.Wanted, obj)
	}
	return p, nil
}

// exactly reads n bytes of r, and fails if r ends before them.
func exactly(r io.Reader, n uint64) io.Reader {
	return &exactReader{r: io.LimitReader(r, int64(n)), left: n}
}

type exactReader struct {
	r    io.Reader
	left uint64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= uint64(n)
	if err == io.EOF && e.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// AuditWitnessed returns the witness policy the store announces (text,
// "" for none) and its cosigned checkpoints, oldest first. Neither is
// trusted: a client pins the policy or brings its own, and verifies every
// cosignature (see audit.ClientWitnesses).
func (g *GitRemote) AuditWitnessed() (policy string, cosigned [][]byte, err error) {
	err = g.c.call(opAuditWitnessed, nil, nil, func(d *dec) {
		policy = d.str()
		for range d.n() {
			cosigned = append(cosigned, d.bytes())
		}
	})
	return policy, cosigned, err
}

// AuditCosign hands the store a checkpoint a witness cosigned; the store
// keeps the cosignatures of the witnesses it lists and returns the names
// of those now cosigning that checkpoint.
func (g *GitRemote) AuditCosign(cosigned []byte) (names []string, err error) {
	err = g.c.call(opAuditCosign, func(e *enc) { e.bytes(cosigned) }, nil, func(d *dec) {
		for range d.n() {
			names = append(names, d.str())
		}
	})
	return names, err
}
