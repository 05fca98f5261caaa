package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/cmd/internal/storedir"
)

func (e *e2e) helios(bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append([]string(nil), e.env...), "HELIOS_NO_SERVER=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestDeniedForcePushAudited: a developer's force push to a protected
// branch, through the real git and helios binaries, is refused with the
// deciding rule in git's output, moves nothing, and leaves an audit record
// of the refusal in `helios audit log`; `helios audit verify` still
// passes.
func TestDeniedForcePushAudited(t *testing.T) { eachMode(t, testDeniedForcePushAudited) }

func testDeniedForcePushAudited(t *testing.T, e *e2e) {
	if _, err := storedir.Signer(e.store); err != nil { // an audited store
		t.Fatal(err)
	}
	bin := buildHelios(t)
	me := storedir.LocalActor()
	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	e.commit(src, "one", map[string]string{"f": "1\n"})
	e.git(src, "remote", "add", "origin", "helios::"+e.store)
	e.push(src, "-q", "origin", "main")
	before := e.storeRefs()["refs/heads/main"]

	policy := filepath.Join(e.home, "policy")
	writeFile(t, policy, "role maintainer boss\n"+
		"role developer "+me+"\n"+
		"allow RWFD refs/**         @maintainer\n"+
		"deny  FD   refs/heads/main *\n"+
		"allow RW+  refs/heads/**   @developer\n"+
		"allow R    refs/**         *\n")
	if out, err := e.helios(bin, "policy", "set", "--store", e.store, policy); err != nil {
		t.Fatalf("policy set: %v\n%s", err, out)
	}

	e.git(src, "commit", "-q", "--amend", "-m", "one, rewritten")
	out := e.gitFail(src, "push", "--force", "origin", "main")
	if !strings.Contains(out, "! [remote rejected] main -> main") || !strings.Contains(out, "deny  FD   refs/heads/main *") && !strings.Contains(out, "deny FD refs/heads/main *") {
		t.Errorf("git push --force: the refusal does not name the rule:\n%s", out)
	}
	if after := e.storeRefs()["refs/heads/main"]; after != before {
		t.Errorf("main moved from %s to %s", before, after)
	}
	// A force push elsewhere, and a --force push of main that is a
	// fast-forward after all, still work for the developer.
	e.git(src, "push", "-q", "--force", "origin", "main:refs/heads/topic")
	e.git(src, "reset", "-q", "--hard", "origin/main")
	next := e.commit(src, "two", map[string]string{"f": "2\n"})
	e.git(src, "push", "-q", "--force", "origin", "main")
	if got := e.storeRefs()["refs/heads/main"]; got != next {
		t.Errorf("main after a forced fast-forward: got %s, want %s", got, next)
	}

	out, err := e.helios(bin, "audit", "log", "--store", e.store, "--json")
	if err != nil {
		t.Fatalf("audit log: %v\n%s", err, out)
	}
	var found int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct {
			Actor string            `json:"actor"`
			Event string            `json:"event"`
			Attrs map[string]string `json:"attrs"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit log line %q: %v", line, err)
		}
		if r.Event == "denied" {
			found++
			if r.Actor != me || r.Attrs["op"] != "force" || r.Attrs["ref"] != "refs/heads/main" || !strings.Contains(r.Attrs["reason"], "deny") {
				t.Errorf("denial record: got %+v, want %s force refs/heads/main with the rule", r, me)
			}
		}
	}
	if found != 1 {
		t.Errorf("%d denial records, want 1:\n%s", found, out)
	}
	if out, err := e.helios(bin, "audit", "verify", "--store", e.store); err != nil {
		t.Errorf("audit verify after the refusal: %v\n%s", err, out)
	}
	text, _ := e.helios(bin, "audit", "log", "--store", e.store)
	if !strings.Contains(text, me+" denied") || !strings.Contains(text, "ref: refs/heads/main") {
		t.Errorf("audit log text lacks the denial:\n%s", text)
	}
}
