package server

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"sync"

	"github.com/helios-vcs/helios/objstore"
)

// Identity and authorization (see the package documentation, "Policy").
//
// The server knows who a peer is (the kernel's credentials on the Unix
// socket; a verified client certificate or a bearer token on TLS) and asks
// the Authorizer about every request; what the answers are is the policy's
// business, which reaches this package only as the Authorizer, the
// Authenticator and the Admin interfaces (objstore imports no policy).

// The per-ref operations an Authorizer is asked about, beside the request
// names in opNames: every ref a request moves is put to it as one of
// write (a creation or a fast-forward), force (any other move) or delete,
// and every ref a listing returns as read (refused refs are left out of
// the listing rather than failing it).
const (
	RefRead   = "read"
	RefWrite  = "write"
	RefForce  = "force"
	RefDelete = "delete"
)

// OpAdmin is the operation name of an administrative request; its target
// is the request's name ("token-add", ...).
const OpAdmin = "admin"

// opAdmin carries administrative requests (Options.Admin). It sits far
// above the numbered operations so that new operations can be appended to
// those without renumbering.
const opAdmin byte = 0x80

// Authenticator checks a bearer token that a TLS client sent in its hello
// frame, and says whose it is and its id (not its secret). It is called
// concurrently, once per connection.
type Authenticator interface {
	Authenticate(token string) (user, tokenID string, err error)
}

// Admin answers administrative requests (token changes, ...) that the
// server passes through without understanding them: name says which, req
// and the answer are the implementation's encoding. The server has
// already put (peer, "admin", name) to the Authorizer. Called concurrently.
type Admin interface {
	Admin(peer Peer, name string, req []byte) ([]byte, error)
}

// Name is who the peer is for the audit log: the authenticated user over
// TLS, else the OS user of its uid ("uid:N" when the uid has no name).
func (p Peer) Name() string {
	if p.User != "" {
		return p.User
	}
	if p.UID < 0 {
		return "unknown"
	}
	return userName(p.UID)
}

var userNames sync.Map // uid → name

func userName(uid int) string {
	if n, ok := userNames.Load(uid); ok {
		return n.(string)
	}
	name := "uid:" + strconv.Itoa(uid)
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
		name = u.Username
	}
	userNames.Store(uid, name)
	return name
}

// refused is a request the Authorizer refused: the client sees ErrDenied
// with the reason, and Options.Denied hears of it.
func (s *Server) refused(sc *serverConn, op, target string, err error) error {
	if s.o.Denied != nil {
		s.o.Denied(sc.peer, op, target, err)
	}
	s.failed(sc, op+" refused")
	if target == "" {
		return fmt.Errorf("%w: %s: %w", ErrDenied, op, err)
	}
	return fmt.Errorf("%w: %s %q: %w", ErrDenied, op, target, err)
}

// authenticate settles who a TLS peer is, from its verified certificate
// (already in sc.peer) and the token of its hello frame. A peer with
// neither is refused; so is one whose certificate and token name
// different users. Unix peers are who the kernel says.
func (s *Server) authenticate(sc *serverConn, token string) error {
	if !sc.tls {
		return nil
	}
	if token != "" {
		if s.o.Authenticator == nil {
			return fmt.Errorf("%w: this server takes no tokens", ErrDenied)
		}
		u, id, err := s.o.Authenticator.Authenticate(token)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrDenied, err)
		}
		if sc.peer.User != "" && sc.peer.User != u {
			return fmt.Errorf("%w: the client certificate names %q but the token is %q's", ErrDenied, sc.peer.User, u)
		}
		sc.peer.User, sc.peer.Via, sc.peer.TokenID = u, ViaToken, id
	}
	if sc.peer.User == "" {
		return fmt.Errorf("%w: authentication required: a client certificate signed by the server's client CA, or a token", ErrDenied)
	}
	return nil
}

// authorizeRefUpdates puts each update of a request to the Authorizer:
// first as the request (op), then as write, force or delete on its ref.
// Whether a move is a fast-forward is decided here, on the store's states;
// an update that ignores the ref's old value becomes a compare-and-swap on
// the value it was judged against, so that what was authorized is what
// happens (a race then fails cleanly with a ref conflict).
func (s *Server) authorizeRefUpdates(sc *serverConn, op byte, ups []objstore.RefUpdate) error {
	if len(ups) == 0 {
		// Nothing to judge per ref, but the request itself (a durable one
		// syncs the log) is still only for peers that may make it.
		return s.authorize(sc, op, "")
	}
	for i := range ups {
		u := &ups[i]
		if err := s.authorize(sc, op, u.Name); err != nil {
			return err
		}
		refOp, err := s.refOp(sc, u)
		if err != nil {
			return err
		}
		if err := s.o.Authorizer.Authorize(sc.peer, refOp, u.Name); err != nil {
			return s.refused(sc, refOp, u.Name, err)
		}
	}
	return nil
}

// maxAncestryWalk bounds the states visited to prove a fast-forward; a
// move that cannot be proven one in that many is judged a force.
const maxAncestryWalk = 100_000

// refOp classifies an update as RefWrite, RefForce or RefDelete. A peer
// that may both write and force the ref needs no classification (no walk).
func (s *Server) refOp(sc *serverConn, u *objstore.RefUpdate) (string, error) {
	if u.New.IsZero() {
		return RefDelete, nil
	}
	a := s.o.Authorizer
	if a.Authorize(sc.peer, RefForce, u.Name) == nil && a.Authorize(sc.peer, RefWrite, u.Name) == nil {
		return RefWrite, nil
	}
	old := u.Old
	if u.IgnoreOld {
		cur, _, err := s.o.Store.Resolve(u.Name)
		switch {
		case errors.Is(err, objstore.ErrNotFound):
			cur = objstore.ZeroID
		case err != nil:
			return "", err
		}
		old, u.IgnoreOld, u.Old = cur, false, cur
	}
	if old.IsZero() || old == u.New {
		return RefWrite, nil
	}
	ok, err := s.descends(u.New, old)
	if err != nil {
		return "", err
	}
	if ok {
		return RefWrite, nil
	}
	return RefForce, nil
}

// descends reports whether state anc is reachable from state id through
// parents (breadth first, at most maxAncestryWalk states).
func (s *Server) descends(id, anc objstore.ID) (bool, error) {
	seen := map[objstore.ID]bool{id: true}
	queue := []objstore.ID{id}
	for len(queue) > 0 && len(seen) <= maxAncestryWalk {
		st, err := s.o.Store.State(queue[0])
		queue = queue[1:]
		if err != nil {
			if errors.Is(err, objstore.ErrNotFound) {
				continue // the commit checks the new value exists
			}
			return false, err
		}
		for _, p := range st.Parents {
			if p == anc {
				return true, nil
			}
			if !seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	return false, nil
}

// updateRefs commits ups as the peer, so that the audit journal records
// who moved the refs.
func (s *Server) updateRefs(sc *serverConn, durable bool, ups []objstore.RefUpdate) error {
	w := s.o.Store.NewWriter()
	w.Actor = sc.peer.Name()
	if err := w.Commit(ups...); err != nil {
		return err
	}
	if durable && !s.local.Durable {
		return syncWAL(s.o.Store)
	}
	return nil
}

// readable drops the refs the peer may not read from a listing.
func (s *Server) readable(sc *serverConn, rs []objstore.Ref) []objstore.Ref {
	out := rs[:0]
	for _, r := range rs {
		if s.o.Authorizer.Authorize(sc.peer, RefRead, r.Name) == nil {
			out = append(out, r)
		}
	}
	return out
}

// admin runs an administrative request: name, request bytes → answer.
func (s *Server) admin(sc *serverConn, e *enc, d *dec) error {
	name, req := d.str(), d.bytes()
	if err := d.done(); err != nil {
		return err
	}
	if s.o.Admin == nil {
		return fmt.Errorf("server: no administrative requests here (%q)", name)
	}
	if err := s.o.Authorizer.Authorize(sc.peer, OpAdmin, name); err != nil {
		return s.refused(sc, OpAdmin, name, err)
	}
	res, err := s.o.Admin.Admin(sc.peer, name, req)
	if err != nil {
		return err
	}
	e.bytes(res)
	return nil
}

// Admin sends an administrative request to the server (see Options.Admin).
func (c *Client) Admin(name string, req []byte) ([]byte, error) {
	var res []byte
	err := c.call(opAdmin, func(e *enc) { e.str(name); e.bytes(req) }, nil, func(d *dec) { res = d.bytes() })
	return res, err
}
