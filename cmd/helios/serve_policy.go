//go:build !thin

package main

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/audit/storeaudit"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/server"
)

// refPolicy is helios serve's Authorizer for git's ref operations: the
// permissions "read", "write", "force" and "delete" on a ref are decided by
// the store's policy (package audit: ordered rules, first match wins, deny
// by default) for the peer's user name, read from the store at each
// question so that `helios policy set` takes effect at once. A store
// without a policy allows everything, like git-remote-helios opening the
// store itself. The other operations are the store owner's (a local socket
// is the owner's; see DESIGN.md, Security).
type refPolicy struct{ s *objstore.Store }

func (p refPolicy) Authorize(peer server.Peer, op, target string) error {
	switch audit.Op(op) {
	case audit.OpRead, audit.OpWrite, audit.OpForce, audit.OpDelete:
	default:
		return nil
	}
	pol, err := storeaudit.LoadPolicy(p.s.KV())
	if errors.Is(err, storeaudit.ErrNoPolicy) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	return pol.Authorize(peerUser(peer), target, audit.Op(op))
}

// peerUser is the user name of a local peer, as the audit log names the
// user who runs a command (storedir.LocalActor).
func peerUser(peer server.Peer) string {
	if peer.UID < 0 {
		return "unknown"
	}
	if u, err := user.LookupId(strconv.Itoa(peer.UID)); err == nil && u.Username != "" {
		return u.Username
	}
	return fmt.Sprintf("uid:%d", peer.UID)
}
