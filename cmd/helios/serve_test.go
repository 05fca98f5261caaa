package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/helios-vcs/helios/objstore/server"
)

// asMainEnv makes this test binary behave as helios itself: commands that
// start a server on demand run os.Executable(), which here is the test
// binary.
const asMainEnv = "HELIOS_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Setenv(asMainEnv, "1")
	// Servers that tests start and lose track of exit soon.
	os.Setenv("HELIOS_SERVE_IDLE_TIMEOUT", "20s")
	// The other tests open the database directly (some open RocksDB
	// themselves between commands); the tests here go through the server.
	os.Setenv("HELIOS_NO_SERVER", "1")
	os.Exit(m.Run())
}

func useServer(t *testing.T) { t.Setenv("HELIOS_NO_SERVER", "0") }

func statusOf(t *testing.T, store string) (server.Status, bool) {
	t.Helper()
	out, _, err := run(t, "serve", "--store", store, "--status", "--json")
	var st struct {
		Running bool `json:"running"`
		server.Status
	}
	if jerr := json.Unmarshal([]byte(out), &st); jerr != nil {
		t.Fatalf("status json %q: %v", out, jerr)
	}
	if st.Running != (err == nil) {
		t.Errorf("status: running %v but err %v", st.Running, err)
	}
	return st.Status, st.Running
}

func stopServe(t *testing.T, store string) {
	t.Helper()
	if out := mustRun(t, "serve", "--store", store, "--stop"); !strings.Contains(out, "stopped") && !strings.Contains(out, "no server") {
		t.Errorf("stop said %q", out)
	}
}

var (
	idRE   = regexp.MustCompile(`b3:[0-9a-f]{64}`)
	timeRE = regexp.MustCompile(`"time":"[^"]*"|Date: .*`)
	// How many files a snapshot looked at and read is not behaviour:
	// through a server with the file watcher it examines only the changed
	// paths, and files modified within 50 ms of a scan are read again.
	scannedRE = regexp.MustCompile(`\d+ of \d+ files read|"(scanned|read)":\d+`)
)

// workflow runs the same commands on a fresh store and returns their
// outputs with IDs and times masked.
func workflow(t *testing.T, dir string) []string {
	store := filepath.Join(dir, "store")
	wt := filepath.Join(dir, "wt")
	writeFiles(t, wt, map[string]string{"src/a.go": "package a\n", "README": "hi\n", "docs/x.md": "x\n"})
	var outs []string
	add := func(args ...string) string {
		out := mustRun(t, args...)
		out = strings.ReplaceAll(out, dir, "DIR")
		masked := scannedRE.ReplaceAllString(timeRE.ReplaceAllString(idRE.ReplaceAllString(out, "ID"), "TIME"), "SCANNED")
		outs = append(outs, strings.Join(args[:1], " ")+": "+masked)
		return out
	}
	mustRun(t, "init", "--store", store, "-q")
	first := idRE.FindString(add("snapshot", "--store", store, "--dir", wt, "-m", "first", "--json"))
	add("snapshot", "--store", store, "--dir", wt)
	writeFiles(t, wt, map[string]string{"src/a.go": "package a // edit\n"})
	os.Remove(filepath.Join(wt, "README"))
	add("snapshot", "--store", store, "--dir", wt, "-m", "second", "--durable")
	add("diff", "--store", store, "main")
	add("diff", "--store", store, "--json", first, "main")
	add("log", "--store", store, "--ref", "main", "--json")
	add("log", "--store", store, "--ref", "main")
	add("show", "--store", store, "--ref", "main", "src/a.go")
	add("show", "--store", store, "--ref", first, "")
	add("show", "--store", store, "--ref", first, "--json", "src")
	co := filepath.Join(dir, "co")
	add("checkout", "--store", store, "--ref", first, "--dir", co)
	add("checkout", "--store", store, "--ref", "main", "--dir", co, "--json")
	writeFiles(t, co, map[string]string{"src/a.go": "local"})
	_, _, err := run(t, "checkout", "--store", store, "--ref", first, "--dir", co)
	outs = append(outs, "checkout over local edit: "+idRE.ReplaceAllString(strings.ReplaceAll(errString(err), dir, "DIR"), "ID"))
	add("fsck", "--store", store, "--full", "--json")
	add("gc", "--store", store, "--json")
	var stats map[string]int64
	json.Unmarshal([]byte(mustRun(t, "stats", "--store", store, "--json")), &stats)
	outs = append(outs, "stats states "+strings.Repeat("s", int(stats["states"])))
	return outs
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o777)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServerAndDirectAgree runs one workflow through a server started on
// demand and one with --no-server, and compares every output.
func TestServerAndDirectAgree(t *testing.T) {
	direct := workflow(t, t.TempDir())
	useServer(t)
	dir := t.TempDir()
	t.Cleanup(func() { stopServe(t, filepath.Join(dir, "store")) })
	served := workflow(t, dir)
	st, running := statusOf(t, filepath.Join(dir, "store"))
	if !running || st.Connections < len(served) {
		t.Errorf("server status %+v, running %v: want a server that served the workflow", st, running)
	}
	var stats map[string]int64
	json.Unmarshal([]byte(mustRun(t, "stats", "--store", filepath.Join(dir, "store"), "--json")), &stats)
	if stats["watch_snapshots_partial"] < 2 {
		t.Errorf("stats %v: want the server's second and third snapshots limited by its file watcher", stats)
	}
	if len(direct) != len(served) {
		t.Fatalf("got %d outputs through the server, %d direct", len(served), len(direct))
	}
	for i := range direct {
		if direct[i] != served[i] {
			t.Errorf("output %d differs:\ndirect: %s\nserved: %s", i, direct[i], served[i])
		}
	}
}

// TestServeCommand runs "helios serve" in this process, uses it, asks for
// its status and stops it.
func TestServeCommand(t *testing.T) {
	useServer(t)
	store := filepath.Join(t.TempDir(), "s")
	mustRun(t, "init", "--store", store, "-q")
	if _, running := statusOf(t, store); running {
		t.Fatal("a server runs before any started")
	}
	if out := mustRun(t, "serve", "--store", store, "--stop"); !strings.Contains(out, "no server") {
		t.Errorf("stop without a server said %q", out)
	}
	done := make(chan error, 1)
	// runServe, not the app: urfave/cli's flags are shared package
	// variables, so two apps may not parse at once.
	var stderr bytes.Buffer
	go func() { done <- runServe(serveOptions{store: store}, io.Discard, &stderr) }()
	var st server.Status
	for {
		var running bool
		if st, running = statusOf(t, store); running {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if st.PID != os.Getpid() {
		t.Errorf("status pid %d, want this process %d", st.PID, os.Getpid())
	}
	if out := mustRun(t, "serve", "--store", store, "--status"); !strings.Contains(out, "current build") {
		t.Errorf("status said %q", out)
	}
	if _, _, err := run(t, "serve", "--store", store); err == nil || !strings.Contains(err.Error(), "already runs") {
		t.Errorf("second serve: %v", err)
	}
	wt := filepath.Join(t.TempDir(), "wt")
	writeFiles(t, wt, map[string]string{"f": "1"})
	mustRun(t, "snapshot", "--store", store, "--dir", wt, "-q")
	if out := mustRun(t, "show", "--store", store, "f"); out != "1" {
		t.Errorf("show = %q", out)
	}
	stopServe(t, store)
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	if !strings.Contains(stderr.String(), "stop requested") {
		t.Errorf("serve's stderr: %q", stderr.String())
	}
	if _, _, err := run(t, "serve", "--store", filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("serve of a missing store succeeded")
	}
}

// TestKilledServerReplaced: after SIGKILL the next command starts a fresh
// server over the stale socket and finds every acknowledged snapshot.
func TestKilledServerReplaced(t *testing.T) {
	useServer(t)
	store := filepath.Join(t.TempDir(), "s")
	wt := filepath.Join(t.TempDir(), "wt")
	mustRun(t, "init", "--store", store, "-q")
	t.Cleanup(func() { stopServe(t, store) })
	writeFiles(t, wt, map[string]string{"f": "1"})
	out := mustRun(t, "snapshot", "--store", store, "--dir", wt, "--json")
	acked := idRE.FindString(out)
	st, running := statusOf(t, store)
	if !running || st.PID == os.Getpid() {
		t.Fatalf("status %+v: want a server in another process", st)
	}
	syscall.Kill(st.PID, syscall.SIGKILL)
	for server.Running(store) { // the kernel drops the lock with the process
		time.Sleep(time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(store, server.SocketName)); err != nil {
		t.Fatalf("the killed server's socket is gone: %v", err)
	}
	if out := mustRun(t, "log", "--store", store, "--json", "-n", "1"); !strings.Contains(out, acked) {
		t.Errorf("log after the kill = %s, want %s", out, acked)
	}
	st2, running := statusOf(t, store)
	if !running || st2.PID == st.PID {
		t.Errorf("after the kill: %+v, running %v: want a new server", st2, running)
	}
}

// TestFallbackWhenNoServerStarts: a server that cannot start leaves the
// command to open the database itself.
func TestFallbackWhenNoServerStarts(t *testing.T) {
	useServer(t)
	store := filepath.Join(t.TempDir(), "s")
	mustRun(t, "init", "--store", store, "-q")
	// serve.log as a directory: the server's output cannot be opened.
	os.Mkdir(filepath.Join(store, server.LogName), 0o777)
	wt := filepath.Join(t.TempDir(), "wt")
	writeFiles(t, wt, map[string]string{"f": "1"})
	_, stderr, err := run(t, "snapshot", "--store", store, "--dir", wt, "-q")
	if err != nil || !strings.Contains(stderr, "opening the store directly") {
		t.Errorf("snapshot: %v, stderr %q", err, stderr)
	}
	if _, running := statusOf(t, store); running {
		t.Error("a server runs")
	}
	if _, _, err := run(t, "log", "--store", filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "no helios store") {
		t.Errorf("log of a missing store: %v", err)
	}
}

// TestServerLeavesRemovedStore: a store removed and made again at the same
// path (rm -rf STORE; helios init STORE) while its server runs. The old
// server stops on its own within seconds, never touches the new store
// (its database writes through its own handle on the removed directory),
// and the new store works and checks clean.
func TestServerLeavesRemovedStore(t *testing.T) {
	useServer(t)
	store := filepath.Join(t.TempDir(), "s")
	wt := filepath.Join(t.TempDir(), "wt")
	mustRun(t, "init", "--store", store, "-q")
	writeFiles(t, wt, map[string]string{"f": "1"})
	mustRun(t, "snapshot", "--store", store, "--dir", wt, "-q")
	old, running := statusOf(t, store)
	if !running || old.PID == os.Getpid() {
		t.Fatalf("status %+v: want a server in another process", old)
	}
	if err := os.RemoveAll(store); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "init", "--store", store, "-q")
	t.Cleanup(func() { stopServe(t, store) })
	for i := range 20 {
		writeFiles(t, wt, map[string]string{"f": fmt.Sprint(i), fmt.Sprintf("g%d", i): strings.Repeat("x", 5000)})
		mustRun(t, "snapshot", "--store", store, "--dir", wt, "-q")
	}
	cur, running := statusOf(t, store)
	if !running || cur.PID == old.PID {
		t.Fatalf("status %+v: want the new store's own server", cur)
	}
	// Well within the test idle timeout (20 s): the old server notices.
	deadline := time.Now().Add(10 * time.Second)
	for alive(old.PID) {
		if time.Now().After(deadline) {
			t.Fatalf("the removed store's server (pid %d) still runs", old.PID)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The old server's exit left the new one's socket and files alone.
	if st, running := statusOf(t, store); !running || st.PID != cur.PID {
		t.Errorf("after the old server stopped: %+v, running %v; want pid %d still serving", st, running, cur.PID)
	}
	mustRun(t, "gc", "--store", store, "-q")
	mustRun(t, "fsck", "--store", store)
	if out := mustRun(t, "show", "--store", store, "f"); out != "19" {
		t.Errorf("show = %q, want 19", out)
	}
}

// alive reports whether a process runs (a zombie, exited but not reaped by
// the test process that started it, does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}
