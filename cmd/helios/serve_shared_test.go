package main

import (
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/helios-vcs/helios/objstore/server"
)

// TestServeSharedOtherUser: with --shared, another local user reaches the
// store through the socket as the OS user of its uid, under the policy: a
// developer reads, but may not stop the server or gc it (refused and
// audited); a client of another build run by that user does not replace
// the server. It needs root, to run the client as "nobody".
func TestServeSharedOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("runs a client as another uid: needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	base, err := os.MkdirTemp("", "helios-shared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	// The server and the clients run one copy of this binary, readable by
	// nobody (a client of another build would be refused).
	bin := filepath.Join(base, "helios")
	copyFile(t, os.Args[0], bin, 0o755)

	store := filepath.Join(base, "s")
	wt := filepath.Join(base, "wt")
	writeFiles(t, wt, map[string]string{"f": "1\n"})
	mustRun(t, "init", "--store", store, "-q")
	mustRun(t, "snapshot", "--store", store, "--dir", wt, "--ref", "main", "-q")
	me := localActor()
	writeFiles(t, base, map[string]string{"policy": "role maintainer " + me + "\nrole developer nobody\n" +
		"allow RWFD refs/** @maintainer\nallow RW+ refs/heads/** @developer\nallow R refs/** *\n"})
	mustRun(t, "policy", "set", "--store", store, "-q", filepath.Join(base, "policy"))
	os.Chmod(store, 0o755)

	srv := exec.Command(bin, "serve", "--store", store, "--shared")
	srv.Env = append(os.Environ(), "HELIOS_NO_SERVER=0")
	srv.Stderr = io.Discard
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := server.Dial(store, "")
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	asNobody := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = base
		cmd.Env = append(os.Environ(), "HELIOS_NO_SERVER=0", "HOME="+base)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := asNobody("log", "--store", store, "--ref", "main"); err != nil || !strings.Contains(out, "state b3:") || strings.Contains(out, "directly") {
		t.Errorf("nobody reads the log: %v\n%s", err, out)
	}
	if out, err := asNobody("serve", "--store", store, "--stop"); err == nil || !strings.Contains(out, "maintainer") {
		t.Errorf("nobody stops the server: %v\n%s", err, out)
	}
	if out, err := asNobody("gc", "--store", store); err == nil || !strings.Contains(out, "server: permission denied: gc") {
		t.Errorf("nobody runs gc: %v\n%s", err, out)
	}
	// A client of another build, run by nobody, does not replace the server.
	other := filepath.Join(base, "helios-other")
	copyFile(t, os.Args[0], other, 0o755)
	cmd := exec.Command(other, "log", "--store", store)
	cmd.Env = append(os.Environ(), "HELIOS_NO_SERVER=0", "HOME="+base)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	cmd.CombinedOutput()
	c, err := server.Dial(store, "")
	if err != nil {
		t.Fatalf("the server is gone after another build's client: %v", err)
	}
	st, err := c.Status()
	c.Close()
	if err != nil || st.PID != srv.Process.Pid {
		t.Errorf("server after another build's client: pid %d %v, want %d", st.PID, err, srv.Process.Pid)
	}
	// A policy change goes through the running server, which applies it
	// at once: nobody, now a maintainer, may gc.
	writeFiles(t, base, map[string]string{"policy2": "role maintainer " + me + " nobody\n" +
		"allow RWFD refs/** @maintainer\nallow R refs/** *\n"})
	// (The server's binary: a client of another build would replace it.)
	set := exec.Command(bin, "policy", "set", "--store", store, filepath.Join(base, "policy2"))
	set.Env = srv.Env
	if out, err := set.CombinedOutput(); err != nil || !strings.Contains(string(out), "through the store's server") {
		t.Errorf("policy set with a server running: %v %s", err, out)
	}
	if out, err := asNobody("gc", "--store", store); err != nil {
		t.Errorf("nobody, a maintainer now, runs gc: %v\n%s", err, out)
	}
	if c, err := server.Dial(store, ""); err != nil || c.ServerPID != srv.Process.Pid {
		t.Errorf("the server did not survive the policy change: %v", err)
	} else {
		c.Close()
	}
	mustRun(t, "serve", "--store", store, "--stop")
	srv.Wait()
	out := mustRun(t, "audit", "log", "--store", store)
	if !strings.Contains(out, "nobody denied\n    op: stop") || !strings.Contains(out, "nobody denied\n    op: gc") {
		t.Errorf("audit log lacks nobody's refusals:\n%s", out)
	}
	if !strings.Contains(out, "policy\n    maintainers: [nobody "+me+"]") && !strings.Contains(out, "maintainers: ["+me+" nobody]") {
		t.Errorf("audit log lacks the served policy change:\n%s", out)
	}
	mustRun(t, "audit", "verify", "--store", store)
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}
