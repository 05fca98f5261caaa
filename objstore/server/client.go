package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/helios-vcs/helios/objstore"
)

var _ Store = (*Client)(nil)

// Client is a connection to a store's server. It carries one request at a
// time; concurrent calls wait for each other (open more clients for
// parallel work).
type Client struct {
	mu  sync.Mutex
	c   net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	buf []byte
	e   enc
	err error // a broken connection stays broken

	dropMu sync.Mutex
	drops  []uint64 // prepared states given up, sent with the next state request (states.go)

	// ServerBuild and ServerPID are what the server said in the handshake.
	ServerBuild string
	ServerPID   int
}

// Dial connects to the server of the store in dir and shakes hands with
// build (empty: any build). A server of another build answers with
// ErrVersion and shuts down.
func Dial(dir, build string) (*Client, error) {
	c, err := dialSocket(dir)
	if err != nil {
		return nil, err
	}
	return handshake(c, build)
}

// NewClient shakes hands over an established connection (tests, or a
// transport other than the store's socket).
func NewClient(c net.Conn, build string) (*Client, error) { return handshake(c, build) }

func handshake(c net.Conn, build string) (*Client, error) { return handshakeWith(c, build, "") }

// handshakeWith sends the hello, ending with token when there is one (TLS).
func handshakeWith(c net.Conn, build, token string) (*Client, error) {
	cl := &Client{c: c, r: bufio.NewReaderSize(c, 32<<10), w: bufio.NewWriterSize(c, 32<<10)}
	cl.e.u(protoVersion)
	cl.e.str(build)
	if token != "" {
		cl.e.str(token)
	}
	if err := writeFrame(cl.w, frameHello, cl.e.b); err != nil {
		c.Close()
		return nil, err
	}
	// A server that accepts but never answers (stopped, hung) must not
	// hang every command.
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var d *dec
	err := cl.exchange(nil, func(dd *dec) { d = dd; cl.ServerBuild, cl.ServerPID = d.str(), int(d.u()) })
	if err == nil {
		err = d.done()
	}
	c.SetDeadline(time.Time{})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("server: handshake: %w", err)
	}
	return cl, nil
}

// Close closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = objstore.ErrClosed
	}
	return c.c.Close()
}

// call sends request op with the arguments req encodes, copies data frames
// to data, and hands the result's payload to res (valid during the call).
func (c *Client) call(op byte, req func(*enc), data io.Writer, res func(*dec)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.e.b = append(c.e.b[:0], op)
	if req != nil {
		req(&c.e)
	}
	if len(c.e.b) > maxFrame {
		// Nothing was sent: the connection is still good.
		return fmt.Errorf("%w: a request of %d bytes (at most %d)", ErrTooLarge, len(c.e.b), maxFrame)
	}
	if err := writeFrame(c.w, frameQuery, c.e.b); err != nil {
		return c.broke(err)
	}
	var d *dec
	err := c.exchange(data, func(dd *dec) {
		d = dd
		if res != nil {
			res(d)
		}
	})
	if err == nil && d != nil {
		err = d.done()
	}
	return err
}

// exchange flushes what was written and reads the answer; c.mu is held
// (or the client is not shared yet).
func (c *Client) exchange(data io.Writer, res func(*dec)) error {
	if err := c.w.Flush(); err != nil {
		return c.broke(err)
	}
	var dataErr error
	for {
		kind, p, err := readFrame(c.r, c.buf)
		if err != nil {
			return c.broke(err)
		}
		c.buf = p[:0]
		switch kind {
		case frameData:
			if data == nil {
				return c.broke(fmt.Errorf("%w: unexpected data", ErrProtocol))
			}
			if dataErr == nil {
				_, dataErr = data.Write(p)
			}
		case frameResult:
			if dataErr != nil {
				return dataErr
			}
			res(&dec{b: p})
			return nil
		case frameError:
			return decodeError(&dec{b: p})
		default:
			return c.broke(fmt.Errorf("%w: frame kind %q", ErrProtocol, kind))
		}
	}
}

func (c *Client) broke(err error) error {
	c.err = fmt.Errorf("server: connection: %w", err)
	c.c.Close()
	return c.err
}

// Status is what a server says about itself.
type Status struct {
	Build       string        `json:"build"`
	PID         int           `json:"pid"`
	Started     time.Time     `json:"started"`
	IdleTimeout time.Duration `json:"idle_timeout_ns"`
	Open        int           `json:"open_connections"`
	Connections int           `json:"connections"`
	Requests    int           `json:"requests"`
	// PipedPushes counts the pushes whose objects came through a pipe
	// from the client's git (fdpass.go) instead of the connection.
	PipedPushes int `json:"piped_pushes"`
	// PeerUID and PeerPID are this client as the server saw it.
	PeerUID int `json:"peer_uid"`
	PeerPID int `json:"peer_pid"`
}

// Status asks the server about itself.
func (c *Client) Status() (Status, error) {
	var s Status
	err := c.call(opStatus, nil, nil, func(d *dec) {
		s = Status{Build: d.str(), PID: int(d.u()), Started: d.time(), IdleTimeout: time.Duration(d.i()),
			Open: int(d.u()), Connections: int(d.u()), Requests: int(d.u()), PeerUID: int(d.i()), PeerPID: int(d.i()), PipedPushes: int(d.u())}
	})
	return s, err
}

// Stop asks the server to shut down once its requests in flight are done.
func (c *Client) Stop() error { return c.call(opStop, nil, nil, nil) }

func (c *Client) Snapshot(r SnapshotRequest) (objstore.SnapshotResult, error) {
	var res objstore.SnapshotResult
	if abs, err := filepath.Abs(r.Dir); err == nil {
		r.Dir = abs
	}
	err := c.call(opSnapshot, func(e *enc) {
		e.str(r.Dir)
		e.str(r.Ref)
		e.str(r.Message)
		e.sig(r.Author)
		e.flag(r.Durable)
	}, nil, func(d *dec) { res = d.snapshotResult() })
	return res, err
}

func (c *Client) Checkout(dir string, to objstore.ID, o objstore.CheckoutOptions) (objstore.MaterializeStats, error) {
	var ms objstore.MaterializeStats
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	err := c.call(opCheckout, func(e *enc) { e.str(dir); e.id(to); e.flag(o.Force) }, nil, func(d *dec) {
		ms = objstore.MaterializeStats{Files: int(d.u()), Dirs: int(d.u()), Deleted: int(d.u()), Bytes: d.i()}
	})
	return ms, err
}

func (c *Client) WorktreeState(dir string) (objstore.ID, error) {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	var id objstore.ID
	err := c.call(opWorktreeState, func(e *enc) { e.str(dir) }, nil, func(d *dec) { id = d.id() })
	return id, err
}

func (c *Client) ResolveState(rev string) (objstore.ID, error) {
	var id objstore.ID
	err := c.call(opResolveState, func(e *enc) { e.str(rev) }, nil, func(d *dec) { id = d.id() })
	return id, err
}

func (c *Client) Resolve(name string) (objstore.ID, string, error) {
	var id objstore.ID
	var direct string
	err := c.call(opResolve, func(e *enc) { e.str(name) }, nil, func(d *dec) { id, direct = d.id(), d.str() })
	return id, direct, err
}

func (c *Client) State(id objstore.ID) (*objstore.State, error) {
	var st *objstore.State
	err := c.call(opState, func(e *enc) { e.id(id) }, nil, func(d *dec) { st = d.state() })
	return st, err
}

func (c *Client) Log(start objstore.ID, n int) ([]objstore.ID, []*objstore.State, error) {
	var ids []objstore.ID
	var sts []*objstore.State
	err := c.call(opLog, func(e *enc) { e.id(start); e.u(uint64(max(n, 0))) }, nil, func(d *dec) {
		k := d.n()
		for i := 0; i < k && d.err == nil; i++ {
			ids = append(ids, d.id())
			sts = append(sts, d.state())
		}
	})
	return ids, sts, err
}

func (c *Client) DiffStates(a, b objstore.ID) ([]objstore.Change, error) {
	var cs []objstore.Change
	err := c.call(opDiff, func(e *enc) { e.id(a); e.id(b) }, nil, func(d *dec) { cs = d.changes() })
	return cs, err
}

func (c *Client) Stat(state objstore.ID, path string) (objstore.Entry, error) {
	var x objstore.Entry
	err := c.call(opStat, func(e *enc) { e.id(state); e.str(path) }, nil, func(d *dec) { x = d.entry() })
	return x, err
}

func (c *Client) ListTree(state objstore.ID, path string) ([]objstore.Entry, error) {
	var es []objstore.Entry
	err := c.call(opListTree, func(e *enc) { e.id(state); e.str(path) }, nil, func(d *dec) { es = d.entries() })
	return es, err
}

func (c *Client) ReadFile(state objstore.ID, path string, w io.Writer) (objstore.Entry, error) {
	var x objstore.Entry
	err := c.call(opReadFile, func(e *enc) { e.id(state); e.str(path) }, w, func(d *dec) { x = d.entry() })
	return x, err
}

func (c *Client) Refs(prefix string) ([]objstore.Ref, error) {
	var rs []objstore.Ref
	err := c.call(opRefs, func(e *enc) { e.str(prefix) }, nil, func(d *dec) { rs = d.refs() })
	return rs, err
}

func (c *Client) UpdateRefs(durable bool, updates ...objstore.RefUpdate) error {
	return c.call(opUpdateRefs, func(e *enc) {
		e.flag(durable)
		e.u(uint64(len(updates)))
		for _, u := range updates {
			e.str(u.Name)
			e.id(u.Old)
			e.id(u.New)
			e.flag(u.IgnoreOld)
		}
	}, nil, nil)
}

func (c *Client) SetSymbolicRef(name, target string) error {
	return c.call(opSetSymbolicRef, func(e *enc) { e.str(name); e.str(target) }, nil, nil)
}

// Fsck runs on the server; ctx is checked only before the request is sent.
func (c *Client) Fsck(ctx context.Context, full bool) (*objstore.FsckReport, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var rep *objstore.FsckReport
	err := c.call(opFsck, func(e *enc) { e.flag(full) }, nil, func(d *dec) { rep = d.fsckReport() })
	return rep, err
}

// GC runs on the server; ctx is checked only before the request is sent.
func (c *Client) GC(ctx context.Context, compact bool) (*objstore.GCReport, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var rep *objstore.GCReport
	err := c.call(opGC, func(e *enc) { e.flag(compact) }, nil, func(d *dec) { rep = d.gcReport() })
	return rep, err
}

func (c *Client) Stats() (map[string]int64, error) {
	m := map[string]int64{}
	err := c.call(opStats, nil, nil, func(d *dec) {
		n := d.n()
		for i := 0; i < n && d.err == nil; i++ {
			k := d.str()
			m[k] = d.i()
		}
	})
	return m, err
}
