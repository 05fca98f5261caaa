package serveauth

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/audit/storeaudit"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/server"
	"golang.org/x/mod/sumdb/note"
)

const testPolicy = `
role maintainer alice
role developer bob
role auditor dave
allow RWFD refs/**              @maintainer
deny  FD   refs/heads/main      *
allow RW+  refs/heads/**        @developer
allow R    refs/**              *
`

type fixture struct {
	s   *objstore.Store
	j   *storeaudit.Journal
	a   *Access
	v   note.Verifier
	now time.Time
}

func newFixture(t *testing.T, policy bool) *fixture {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "helios-test")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	kv := objstore.NewMemKV()
	j, err := storeaudit.Open(kv, signer)
	if err != nil {
		t.Fatal(err)
	}
	s, err := objstore.Init(kv, objstore.Options{Journal: j, Actor: "owner"})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{s: s, j: j, v: v, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	if policy {
		p, err := audit.ParsePolicy(testPolicy)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.SetPolicy(s, "owner", p); err != nil {
			t.Fatal(err)
		}
	}
	f.a = New(Options{Store: s, Journal: j, Owners: []int{1000}, Now: func() time.Time { return f.now }})
	return f
}

func cert(user string) server.Peer {
	return server.Peer{UID: -1, GID: -1, PID: -1, Via: server.ViaCert, User: user}
}

// TestDecisions walks the table of the package documentation.
func TestDecisions(t *testing.T) {
	f := newFixture(t, true)
	owner := server.Peer{UID: 1000, Via: server.ViaUnix}
	tests := []struct {
		peer       server.Peer
		op, target string
		allow      bool
		why        string
	}{
		{owner, "snapshot", "/tmp/wt", true, ""},
		{owner, server.RefForce, "refs/heads/main", true, ""},
		{cert("bob"), server.RefWrite, "refs/heads/main", true, ""},
		{cert("bob"), server.RefForce, "refs/heads/main", false, "deny FD refs/heads/main"},
		{cert("bob"), server.RefDelete, "refs/heads/main", false, "deny FD"},
		{cert("bob"), server.RefForce, "refs/heads/topic", true, ""},
		{cert("bob"), "resolve", "refs/heads/main", true, ""},
		{cert("bob"), "resolve-state", "main", true, ""},
		{cert("bob"), "read-file", "a.txt", true, ""},
		{cert("bob"), "walk", "", true, ""},
		{cert("bob"), "make-state", "", true, ""},
		{cert("bob"), "prepare-state", "", true, ""},
		{cert("bob"), "commit-state", "", true, ""},
		{cert("bob"), "import-state", "", true, ""},
		{cert("eve"), "make-state", "", false, "no role"},
		{cert("eve"), "walk", "", false, "no role"},
		{cert("bob"), "gc", "", false, "maintainer"},
		{cert("bob"), "stop", "", false, "maintainer"},
		{cert("bob"), server.OpAdmin, AdminTokenAdd, false, "maintainer"},
		{cert("bob"), "snapshot", "/home/bob/wt", false, "owner"},
		{cert("bob"), "checkout", "/etc", false, "owner"},
		{cert("bob"), "frobnicate", "", false, "default"},
		{cert("alice"), "gc", "", true, ""},
		{cert("alice"), server.OpAdmin, AdminTokenAdd, true, ""},
		{cert("alice"), server.OpAdmin, "drop-tables", false, "unknown"},
		{cert("dave"), server.RefRead, "refs/heads/main", true, ""},
		{cert("dave"), server.RefWrite, "refs/heads/x", false, "auditor can never"},
		{cert("dave"), "stop", "", false, "maintainer"},
		{cert("eve"), "read-file", "a", false, "no role"},
		{cert("eve"), server.RefWrite, "refs/heads/x", false, "default"},
		{server.Peer{UID: 1001, Via: server.ViaUnix}, "stop", "", false, "maintainer"},
	}
	for _, tc := range tests {
		err := f.a.Authorize(tc.peer, tc.op, tc.target)
		if (err == nil) != tc.allow || (err != nil && !strings.Contains(err.Error(), tc.why)) {
			t.Errorf("%s %s %s: got %v, want allow=%v (%q)", tc.peer.Name(), tc.op, tc.target, err, tc.allow, tc.why)
		}
	}
}

func TestNoPolicyOwnerOnly(t *testing.T) {
	f := newFixture(t, false)
	if err := f.a.Authorize(server.Peer{UID: 1000, Via: server.ViaUnix}, "gc", ""); err != nil {
		t.Errorf("owner without a policy: %v", err)
	}
	if err := f.a.Authorize(cert("alice"), server.RefRead, "refs/heads/main"); err == nil || !strings.Contains(err.Error(), "no policy") {
		t.Errorf("alice without a policy: got %v, want a refusal naming the missing policy", err)
	}
}

// TestTokens: a token authenticates its user within its scope, stops
// working when revoked or expired, is never stored in the clear, and every
// change is an audit record; the log still verifies and accounts for the
// token set.
func TestTokens(t *testing.T) {
	f := newFixture(t, true)
	if _, err := f.a.AddToken("alice", TokenRequest{User: "bob", Ops: "R", Expires: time.Hour}); err != nil {
		t.Fatal(err)
	}
	nt, err := f.a.AddToken("alice", TokenRequest{User: "bob", Ops: "RW", Refs: "refs/heads/agents/**", Expires: time.Hour, Note: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := f.s.KV().Get(audit.TokensKey)
	if err != nil {
		t.Fatal(err)
	}
	if secret := nt.Text[len("hlt_")+17:]; strings.Contains(string(raw), secret) {
		t.Fatal("the token secret is stored in the clear")
	}
	user, id, err := f.a.Authenticate(nt.Text)
	if err != nil || user != "bob" || id != nt.Token.ID {
		t.Fatalf("authenticate: %q %q %v, want bob %q", user, id, err, nt.Token.ID)
	}
	peer := server.Peer{UID: -1, Via: server.ViaToken, User: user, TokenID: id}
	for _, tc := range []struct {
		op, ref string
		allow   bool
	}{
		{server.RefWrite, "refs/heads/agents/x", true},
		{server.RefForce, "refs/heads/agents/x", false}, // the policy allows it, the scope does not
		{server.RefWrite, "refs/heads/topic", false},    // outside the scope
		{server.RefRead, "refs/heads/agents/x", true},
		{"walk", "", true},
		{"prepare-state", "", true},
	} {
		if err := f.a.Authorize(peer, tc.op, tc.ref); (err == nil) != tc.allow {
			t.Errorf("token %s %s: got %v, want allow=%v", tc.op, tc.ref, err, tc.allow)
		}
	}
	f.now = f.now.Add(2 * time.Hour)
	if _, _, err := f.a.Authenticate(nt.Text); !errors.Is(err, audit.ErrBadToken) {
		t.Errorf("expired token: got %v, want ErrBadToken", err)
	}
	if err := f.a.Authorize(peer, server.RefRead, "refs/heads/agents/x"); err == nil {
		t.Error("an open connection kept using an expired token")
	}
	f.now = f.now.Add(-2 * time.Hour)
	if _, err := f.a.RevokeToken("alice", nt.Token.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.a.Authenticate(nt.Text); !errors.Is(err, audit.ErrBadToken) {
		t.Errorf("revoked token: got %v, want ErrBadToken", err)
	}
	if err := f.a.Authorize(peer, server.RefRead, "refs/heads/agents/x"); err == nil {
		t.Error("an open connection kept using a revoked token")
	}
	if _, err := f.a.RevokeToken("alice", nt.Token.ID); !errors.Is(err, ErrNoToken) {
		t.Errorf("second revoke: got %v, want ErrNoToken", err)
	}
	ts, err := f.a.Tokens()
	if err != nil || len(ts) != 1 {
		t.Fatalf("tokens left: %v %v, want 1", ts, err)
	}

	// Records: policy, add, add, revoke.
	log := f.j.Log()
	var events []string
	for i := int64(0); i < log.Size(); i++ {
		r, err := log.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, string(r.Event)+":"+r.Attrs["action"]+":"+r.Actor)
	}
	if got, want := strings.Join(events, " "), "policy::owner token:add:alice token:add:alice token:revoke:alice"; got != want {
		t.Errorf("events: got %q, want %q", got, want)
	}
	rep, err := storeaudit.VerifyStore(f.s, f.v)
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("verify: %v %v", err, rep.Problems)
	}
	// A token slipped in behind the log's back is caught.
	_, extra, _ := audit.NewToken(nil, "mallory", audit.TokenScope{}, time.Hour, f.now, "")
	ts[extra.ID] = extra
	var b objstore.Batch
	b.Put(audit.TokensKey, ts.Encode())
	if err := f.s.KV().Write(&b, true); err != nil {
		t.Fatal(err)
	}
	rep, err = storeaudit.VerifyStore(f.s, f.v)
	if err != nil || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "token set") {
		t.Errorf("verify after a hidden token: %v %q, want one token-set problem", err, rep.Problems)
	}
}

// TestDenialsRecorded: refusals of writes are audit records naming who,
// op, ref and reason; refusals of reads are not recorded.
func TestDenialsRecorded(t *testing.T) {
	f := newFixture(t, true)
	bob := cert("bob")
	err := f.a.Authorize(bob, server.RefForce, "refs/heads/main")
	if err == nil {
		t.Fatal("bob may force main")
	}
	f.a.Denied(bob, server.RefForce, "refs/heads/main", err)
	f.a.Denied(bob, server.RefRead, "refs/heads/secret", errors.New("hidden"))
	log := f.j.Log()
	if log.Size() != 2 {
		t.Fatalf("log size %d, want 2 (policy, one denial)", log.Size())
	}
	r, err := log.Record(1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Event != audit.EventDenied || r.Actor != "bob" || r.Attrs["op"] != "force" || r.Attrs["ref"] != "refs/heads/main" ||
		!strings.Contains(r.Attrs["reason"], "deny FD refs/heads/main") || r.Attrs["via"] != "cert" || len(r.Refs) != 0 {
		t.Errorf("denial record: got %+v", r)
	}
	if rep, err := storeaudit.VerifyStore(f.s, f.v); err != nil || len(rep.Problems) > 0 {
		t.Errorf("verify: %v %v", err, rep.Problems)
	}
}

// TestStateOpsNeedWrite: the state-making requests of a search write (states
// no ref names yet), so a read-only token may walk a tree but not make one.
func TestStateOpsNeedWrite(t *testing.T) {
	f := newFixture(t, true)
	ro, err := f.a.AddToken("alice", TokenRequest{User: "bob", Ops: "R", Expires: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	peer := server.Peer{UID: -1, Via: server.ViaToken, User: "bob", TokenID: ro.Token.ID}
	if err := f.a.Authorize(peer, "walk", ""); err != nil {
		t.Errorf("read-only token, walk: got %v, want allowed", err)
	}
	for _, op := range []string{"make-state", "prepare-state", "commit-state", "import-state"} {
		if err := f.a.Authorize(peer, op, ""); err == nil || !strings.Contains(err.Error(), "not write") {
			t.Errorf("read-only token, %s: got %v, want a refusal (not write)", op, err)
		}
	}
}
