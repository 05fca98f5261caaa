package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/cmd/internal/storedir"
)

// TestPolicyRefusesPerRef: with a policy that lets this user write only
// under refs/heads/agents/, a push of two refs lands one and refuses the
// other with the rule's reason; refs the user may not read are not listed.
func TestPolicyRefusesPerRef(t *testing.T) { eachMode(t, testPolicyRefusesPerRef) }

func testPolicyRefusesPerRef(t *testing.T, e *e2e) {
	me := storedir.LocalActor()
	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	e.commit(src, "one", map[string]string{"f": "1\n"})
	e.git(src, "remote", "add", "origin", "helios::"+e.store)
	e.push(src, "-q", "origin", "main", "main:refs/heads/secret/x")

	e.setPolicy(me, "role developer "+me+"\n"+
		"role maintainer nobody-else\n"+
		"deny R refs/heads/secret/** *\n"+
		"allow RW refs/heads/agents/** @developer\n"+
		"allow R refs/** *\n")

	e.commit(src, "two", map[string]string{"f": "2\n"})
	out, _ := e.run(src, nil, "", "push", "origin", "main", "main:refs/heads/agents/a1")
	if !strings.Contains(out, "[new branch]      main -> agents/a1") {
		t.Errorf("allowed ref not pushed:\n%s", out)
	}
	if !strings.Contains(out, "! [remote rejected] main -> main") || !strings.Contains(out, "deny") && !strings.Contains(out, "no rule") {
		t.Errorf("denied ref not refused with a reason:\n%s", out)
	}
	refs := e.storeRefs()
	if _, ok := refs["refs/heads/agents/a1"]; !ok {
		t.Errorf("store refs %v lack the allowed push", refs)
	}
	ls := e.git(src, "ls-remote", "origin")
	if strings.Contains(ls, "secret") || !strings.Contains(ls, "refs/heads/main") {
		t.Errorf("ls-remote shows refs the policy hides, or hides readable ones:\n%s", ls)
	}
}

func TestAuditorCannotPush(t *testing.T) { eachMode(t, testAuditorCannotPush) }

// testAuditorCannotPush: a user whose role is auditor is refused every
// write through the real git, even under a rule that allows everyone to
// write, and can still read.
func testAuditorCannotPush(t *testing.T, e *e2e) {
	me := storedir.LocalActor()
	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	first := e.commit(src, "one", map[string]string{"f": "1\n"})
	e.git(src, "remote", "add", "origin", "helios::"+e.store)
	e.push(src, "-q", "origin", "main")

	e.setPolicy(me, "role maintainer nobody-else\nrole auditor "+me+"\nallow RWFD refs/** *\n")

	e.commit(src, "two", map[string]string{"f": "2\n"})
	orphan := e.git(src, "commit-tree", "-m", "orphan", "HEAD^{tree}")
	for _, args := range [][]string{{"main"}, {"main:refs/heads/other"}, {"-f", orphan + ":refs/heads/main"}, {":main"}} {
		out, err := e.run(src, nil, "", append([]string{"push", "origin"}, args...)...)
		if err == nil || !strings.Contains(out, "[remote rejected]") || !strings.Contains(out, "auditor") {
			t.Fatalf("auditor's push %v: %v\n%s", args, err, out)
		}
	}
	refs := e.storeRefs()
	if refs["refs/heads/main"] != first || len(refs) != 1 {
		t.Fatalf("store refs after the auditor's pushes: %v, want main at %s only", refs, first)
	}
	if ls := e.git(src, "ls-remote", "origin"); !strings.Contains(ls, first) {
		t.Fatalf("the auditor cannot read:\n%s", ls)
	}
}

// setPolicy sets the store's policy as actor, directly (the server, if one
// runs, is stopped first), with its audit record.
func (e *e2e) setPolicy(actor, text string) {
	e.t.Helper()
	pol, err := audit.ParsePolicy(text)
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := storedir.Open(e.store, storedir.Options{Write: true, StopServer: true})
	if err != nil {
		e.t.Fatal(err)
	}
	defer s.Close()
	j, err := storedir.Journal(e.store, s.KV())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := j.SetPolicy(s, actor, pol); err != nil {
		e.t.Fatal(err)
	}
}
