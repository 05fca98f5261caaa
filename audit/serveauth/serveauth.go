// Package serveauth is the store's policy as helios serve applies it: an
// Access is the server's Authorizer, Authenticator (bearer tokens), Admin
// (token changes) and denial recorder (objstore/server's interfaces), over
// the policy and the token set kept in the store.
//
// # Who is who
//
//   - On the Unix socket the kernel names the peer's uid. The store's
//     owner (the uid that owns the store directory, and the server's own
//     uid) may do anything: a local-path store is single-user, and its
//     owner can open the database files without asking anyone, so policy
//     against the owner would be advice, not enforcement (the git helper
//     applies it to the local user as advice). Any other uid is the OS
//     user of that uid (os/user), under the policy. One exception: when
//     the policy gives the owner a role, the owner's reads and ref moves
//     follow it, as they do when git-remote-helios opens the store itself
//     (the same push behaves the same either way). The socket is mode 0600
//     unless helios serve runs with --shared.
//   - Over TLS, the user of a verified client certificate (its CN) or of a
//     bearer token (helios token add), under the policy; a token's scope
//     narrows what its user may do, and a revoked or expired token stops
//     working at the next request, not only at the next connection.
//
// # What each request needs (besides the token's scope, if any)
//
//	status                                   nothing
//	refs, update-refs                        a role (each ref then: below)
//	read (each listed ref), resolve          read on the ref
//	resolve-state REV                        read on REV, or on both
//	                                         refs/heads/REV and refs/tags/REV
//	                                         when REV is short; a role for a
//	                                         b3: id
//	write, force, delete (each moved ref)    that operation on the ref
//	state, log, diff, stat, list-tree,       a role (these name states by id,
//	read-file, walk, stats                   not by ref)
//	make-state, prepare-state,               a role, and W in a token's scope:
//	commit-state, import-state               they write states that no ref
//	                                         names (a search's; its result
//	                                         refs are then update-refs, judged
//	                                         per ref as below)
//	set-symbolic-ref, stop, gc, fsck         maintainer (token scope M)
//	admin token-add|token-list|token-revoke  maintainer (token scope M)
//	audit-checkpoint, audit-prove,           a role and read scope (cosignatures
//	audit-witnessed, audit-cosign            are checked against the store's
//	                                         witness list, not the peer)
//	admin witness-set                        as policy-set
//	admin policy-set                         maintainer (token scope M); the
//	                                         owner too, but the change must
//	                                         still be by a maintainer of the
//	                                         current policy, by name
//	snapshot, checkout, worktree-state       the owner only: they read and
//	                                         write directories with the
//	                                         server's own file access
//	anything else                            refused
//
// No policy in the store: only the owner may use it. Refusals of anything
// but a read are appended to the audit log (event "denied": who, op, ref
// or target, reason), so a denied push shows up in `helios audit log`.
//
// # Tokens
//
// The token set lives in the store's KV under audit.TokensKey (see
// audit/token.go for the format and why a SHA-256 of the secret is what is
// kept). It is in the store rather than in a file beside it so that each
// change is written in one atomic batch with its audit record, under the
// journal's lock; so that it is sealed like every other value when the
// store is encrypted; and so that storeaudit.VerifyStore can check that the
// set is the one the last token record names. Changes go through the
// server (admin requests) when one runs, so that a running TLS server
// neither stops nor misses them.
package serveauth

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/audit/storeaudit"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/server"
)

// Options configure an Access.
type Options struct {
	// Store is the open store whose policy and tokens apply.
	Store *objstore.Store
	// Journal records denials and token changes; nil for a store without
	// an audit log (then token changes are written without a record).
	Journal *storeaudit.Journal
	// Owners are the uids that may do anything on the Unix socket.
	Owners []int
	// Now is the clock (default time.Now); Rand the randomness of new
	// tokens (default crypto/rand).
	Now  func() time.Time
	Rand io.Reader
	// Logf receives failures to record a denial (default: discarded).
	Logf func(format string, args ...any)
}

// Access applies the store's policy to a server's peers.
type Access struct {
	o Options

	mu      sync.Mutex // guards the caches
	polRaw  []byte
	pol     *audit.Policy
	tokRaw  []byte
	tok     audit.Tokens
	writeMu sync.Mutex // serializes token set changes
}

var (
	_ server.Authorizer    = (*Access)(nil)
	_ server.Authenticator = (*Access)(nil)
	_ server.Admin         = (*Access)(nil)
)

// New makes an Access.
func New(o Options) *Access {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return &Access{o: o}
}

// get reads a key of the store's KV (nil when absent).
func (a *Access) get(key []byte) ([]byte, error) {
	v, err := a.o.Store.KV().Get(key)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// policy is the store's current policy (nil: none), parsed again only when
// its stored text changed.
func (a *Access) policy() (*audit.Policy, error) {
	raw, err := a.get(audit.PolicyKey)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pol != nil && bytes.Equal(raw, a.polRaw) {
		return a.pol, nil
	}
	if raw == nil {
		a.pol, a.polRaw = nil, nil
		return nil, nil
	}
	p, err := audit.ParsePolicy(string(raw))
	if err != nil {
		return nil, err
	}
	a.pol, a.polRaw = p, bytes.Clone(raw)
	return p, nil
}

// Tokens is the store's current token set.
func (a *Access) Tokens() (audit.Tokens, error) {
	raw, err := a.get(audit.TokensKey)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok != nil && bytes.Equal(raw, a.tokRaw) {
		return a.tok, nil
	}
	ts, err := audit.ParseTokens(raw)
	if err != nil {
		return nil, err
	}
	a.tok, a.tokRaw = ts, bytes.Clone(raw)
	return ts, nil
}

func (a *Access) owner(p server.Peer) bool {
	if p.Via != server.ViaUnix {
		return false
	}
	for _, uid := range a.o.Owners {
		if p.UID == uid {
			return true
		}
	}
	return false
}

// ownerBound reports whether the owner's ref operation op follows the
// policy: when the policy gives the owner a role, the owner's reads and ref
// moves are judged like anyone's, as git-remote-helios judges the local
// user when it opens the store itself, so that a push behaves the same
// through the server as without it. Everything else stays the owner's.
func (a *Access) ownerBound(p server.Peer, op string) bool {
	switch op {
	case server.RefRead, server.RefWrite, server.RefForce, server.RefDelete:
	default:
		return false
	}
	pol, err := a.policy()
	return err == nil && pol != nil && len(pol.Roles[p.Name()]) > 0
}

// Authenticate implements server.Authenticator: a token of the store's set,
// unexpired.
func (a *Access) Authenticate(text string) (string, string, error) {
	ts, err := a.Tokens()
	if err != nil {
		return "", "", err
	}
	t, err := ts.Verify(text, a.o.Now())
	if err != nil {
		return "", "", err
	}
	return t.User, t.ID, nil
}

// Authorize implements server.Authorizer (the table in the package
// documentation).
func (a *Access) Authorize(p server.Peer, op, target string) error {
	if op == "status" || a.owner(p) && !a.ownerBound(p, op) {
		return nil
	}
	user := p.Name()
	deny := func(reason string) error {
		return &audit.DeniedError{Subject: user, Action: op, Ref: target, Reason: reason}
	}
	var tok *audit.Token
	if p.Via == server.ViaToken {
		ts, err := a.Tokens()
		if err != nil {
			return err
		}
		t, ok := ts[p.TokenID]
		if !ok || t.Expired(a.o.Now()) || t.User != user {
			return deny("token " + p.TokenID + " was revoked or has expired")
		}
		tok = &t
	}
	pol, err := a.policy()
	if err != nil {
		return err
	}
	if pol == nil {
		return deny("the store has no policy: only its owner may use it")
	}
	scope := func(ref string, o audit.Op) error {
		if tok == nil {
			return nil
		}
		return tok.Allows(ref, o)
	}
	refOp := func(ref string, o audit.Op) error {
		if err := pol.Authorize(user, ref, o); err != nil {
			return err
		}
		return scope(ref, o)
	}
	hasRole := func() error {
		if len(pol.Roles[user]) == 0 {
			return deny("no role in the store's policy")
		}
		return nil
	}
	maintain := func(action audit.Action) error {
		if err := pol.AuthorizeAction(user, action); err != nil {
			return err
		}
		return scope("", audit.OpMaintain)
	}
	switch op {
	case server.RefRead, server.RefWrite, server.RefForce, server.RefDelete:
		return refOp(target, audit.Op(op))
	case "resolve":
		return refOp(target, audit.OpRead)
	case "resolve-state":
		if strings.HasPrefix(target, "b3:") {
			if err := hasRole(); err != nil {
				return err
			}
			return scope("", audit.OpRead)
		}
		for _, name := range candidates(target) {
			if err := refOp(name, audit.OpRead); err != nil {
				return err
			}
		}
		return nil
	case "refs", "update-refs", "git-push":
		return hasRole()
	case "git-list", "git-fetch", "git-clone-pack", "audit-checkpoint", "audit-prove", "audit-witnessed", "audit-cosign":
		if err := hasRole(); err != nil {
			return err
		}
		return scope("", audit.OpRead)
	case "state", "log", "diff", "stat", "list-tree", "read-file", "walk", "stats":
		if err := hasRole(); err != nil {
			return err
		}
		return scope("", audit.OpRead)
	case "make-state", "prepare-state", "commit-state", "import-state":
		if err := hasRole(); err != nil {
			return err
		}
		return scope("", audit.OpWrite)
	case "set-symbolic-ref", "stop", "gc", "fsck":
		return maintain(audit.ActionMaintain)
	case server.OpAdmin:
		switch target {
		case AdminTokenAdd, AdminTokenList, AdminTokenRevoke:
			return maintain(audit.ActionTokenAdmin)
		case AdminPolicySet, AdminWitnessSet:
			return maintain(audit.ActionPolicySet)
		}
		return deny("unknown administrative request")
	case "snapshot", "checkout", "worktree-state":
		return deny("directory requests run with the server's own file access: only the store's owner may make them")
	}
	return deny("unknown request: denied by default")
}

// candidates are the refs a revision may name as ResolveState tries them
// (a ref is HEAD or under refs/, so a short name can only be a branch or
// a tag).
func candidates(rev string) []string {
	if rev == "HEAD" || strings.HasPrefix(rev, "refs/") {
		return []string{rev}
	}
	return []string{"refs/heads/" + rev, "refs/tags/" + rev}
}

// reads are the requests whose refusals are not recorded: they change
// nothing, and a listing asks about every ref.
var reads = map[string]bool{
	"status": true, server.RefRead: true, "resolve": true, "resolve-state": true, "refs": true,
	"state": true, "log": true, "diff": true, "stat": true, "list-tree": true, "read-file": true,
	"walk": true, "stats": true, "worktree-state": true,
	"git-list": true, "git-fetch": true, "git-clone-pack": true, "audit-checkpoint": true, "audit-prove": true,
	"audit-witnessed": true,
}

// Denied records a refusal in the audit log (server.Options.Denied); reads
// are not recorded.
func (a *Access) Denied(p server.Peer, op, target string, err error) {
	if reads[op] || a.o.Journal == nil {
		return
	}
	rec := audit.Denial(a.o.Now(), p.Name(), p.Via, op, target, err)
	if p.TokenID != "" {
		rec.Attrs["token"] = p.TokenID
	}
	if err := a.o.Journal.Record(a.o.Store, rec, nil); err != nil {
		a.o.Logf("audit: could not record the refusal of %s %s to %s: %v", op, target, p.Name(), err)
	}
}

// The administrative requests (server.Admin).
const (
	AdminTokenAdd    = "token-add"
	AdminTokenList   = "token-list"
	AdminTokenRevoke = "token-revoke"
	AdminPolicySet   = "policy-set"
	AdminWitnessSet  = "witness-set"
)

// TokenRequest asks for a new token.
type TokenRequest struct {
	User    string        `json:"user"`
	Ops     string        `json:"ops,omitempty"`
	Refs    string        `json:"refs,omitempty"`
	Expires time.Duration `json:"expires_ns"`
	Note    string        `json:"note,omitempty"`
}

// NewToken is a new token: Text is shown once and kept nowhere.
type NewToken struct {
	Text  string      `json:"token"`
	Token audit.Token `json:"entry"`
}

// Admin implements server.Admin: token-add (TokenRequest → NewToken),
// token-list (→ []audit.Token), token-revoke (id → audit.Token) and
// policy-set (policy text → its digest), as the peer. The server has
// authorized the request.
func (a *Access) Admin(p server.Peer, name string, req []byte) ([]byte, error) {
	switch name {
	case AdminTokenAdd:
		var r TokenRequest
		if err := json.Unmarshal(req, &r); err != nil {
			return nil, fmt.Errorf("token-add: %w", err)
		}
		nt, err := a.AddToken(p.Name(), r)
		if err != nil {
			return nil, err
		}
		return json.Marshal(nt)
	case AdminTokenList:
		ts, err := a.Tokens()
		if err != nil {
			return nil, err
		}
		return json.Marshal(ts.List())
	case AdminTokenRevoke:
		t, err := a.RevokeToken(p.Name(), string(req))
		if err != nil {
			return nil, err
		}
		return json.Marshal(t)
	case AdminPolicySet:
		pol, err := audit.ParsePolicy(string(req))
		if err != nil {
			return nil, err
		}
		if a.o.Journal == nil {
			return nil, errors.New("the store keeps no audit log: set its policy with the server stopped")
		}
		// SetPolicy checks again that the peer is a maintainer of the
		// current policy, by name: the store's owner too.
		if err := a.o.Journal.SetPolicy(a.o.Store, p.Name(), pol); err != nil {
			var de *audit.DeniedError
			if errors.As(err, &de) {
				a.Denied(p, server.OpAdmin, AdminPolicySet, err)
			}
			return nil, err
		}
		return []byte(pol.Digest()), nil
	case AdminWitnessSet:
		pol, err := audit.ParseWitnessPolicy(string(req))
		if err != nil {
			return nil, err
		}
		if a.o.Journal == nil {
			return nil, errors.New("the store keeps no audit log, so it has no checkpoints to witness")
		}
		if err := a.o.Journal.SetWitnessPolicy(a.o.Store, p.Name(), pol); err != nil {
			var de *audit.DeniedError
			if errors.As(err, &de) {
				a.Denied(p, server.OpAdmin, AdminWitnessSet, err)
			}
			return nil, err
		}
		return []byte(storeaudit.WitnessDigest(pol.Text())), nil
	}
	return nil, fmt.Errorf("unknown administrative request %q", name)
}

// AddToken makes a token for r.User and stores it, with its audit record
// in the same atomic write.
func (a *Access) AddToken(actor string, r TokenRequest) (NewToken, error) {
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	ts, err := a.Tokens()
	if err != nil {
		return NewToken{}, err
	}
	text, t, err := audit.NewToken(a.o.Rand, r.User, audit.TokenScope{Ops: r.Ops, Refs: r.Refs}, r.Expires, a.o.Now(), r.Note)
	if err != nil {
		return NewToken{}, err
	}
	next := audit.Tokens{}
	for id, x := range ts {
		next[id] = x
	}
	next[t.ID] = t
	attrs := map[string]string{"action": "add", "token": t.ID, "user": t.User, "scope": t.Scope(),
		"expires": t.Expires.Format(time.RFC3339), "tokens": next.Digest()}
	if err := a.write(actor, attrs, next); err != nil {
		return NewToken{}, err
	}
	return NewToken{Text: text, Token: t}, nil
}

// ErrNoToken is returned for a revocation of an unknown token id.
var ErrNoToken = errors.New("serveauth: no such token")

// RevokeToken removes token id (revoked at once, also on open
// connections), with its audit record in the same atomic write.
func (a *Access) RevokeToken(actor, id string) (audit.Token, error) {
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	ts, err := a.Tokens()
	if err != nil {
		return audit.Token{}, err
	}
	t, ok := ts[id]
	if !ok {
		return audit.Token{}, fmt.Errorf("%w: %q", ErrNoToken, id)
	}
	next := audit.Tokens{}
	for k, x := range ts {
		if k != id {
			next[k] = x
		}
	}
	attrs := map[string]string{"action": "revoke", "token": id, "user": t.User, "tokens": next.Digest()}
	return t, a.write(actor, attrs, next)
}

// write stores the token set next and its record.
func (a *Access) write(actor string, attrs map[string]string, next audit.Tokens) error {
	data := next.Encode()
	put := func(b *objstore.Batch) error {
		b.Put(audit.TokensKey, data)
		return nil
	}
	if a.o.Journal == nil {
		var b objstore.Batch
		put(&b)
		return a.o.Store.KV().Write(&b, true)
	}
	rec := audit.Record{Time: a.o.Now(), Actor: actor, Event: audit.EventToken, Attrs: attrs}
	return a.o.Journal.Record(a.o.Store, rec, put)
}
