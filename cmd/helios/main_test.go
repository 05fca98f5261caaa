package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
)

// run runs the CLI in-process and returns stdout, stderr and the error.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := newApp(&out, &errb).Run(append([]string{"helios"}, args...))
	return out.String(), errb.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := run(t, args...)
	if err != nil {
		t.Fatalf("helios %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

func TestCLIWorkflow(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	wt := filepath.Join(dir, "wt")
	os.MkdirAll(filepath.Join(wt, "src"), 0o777)
	os.WriteFile(filepath.Join(wt, "src/a.go"), []byte("package a\n"), 0o644)
	os.WriteFile(filepath.Join(wt, "README"), []byte("hi\n"), 0o644)

	if out := mustRun(t, "init", "--store", store); !strings.Contains(out, "initialized") {
		t.Errorf("init said %q", out)
	}
	var snap struct {
		State   objstore.ID `json:"state"`
		Changed bool        `json:"changed"`
		Read    int         `json:"read"`
	}
	out := mustRun(t, "snapshot", "--store", store, "--dir", wt, "--ref", "main", "-m", "first", "--json")
	if err := json.Unmarshal([]byte(out), &snap); err != nil || !snap.Changed || snap.Read != 2 {
		t.Fatalf("snapshot json %q: %+v %v", out, snap, err)
	}
	first := snap.State
	if out := mustRun(t, "snapshot", "--store", store, "--dir", wt, "--ref", "main"); !strings.Contains(out, "nothing changed") {
		t.Errorf("idle snapshot said %q", out)
	}
	os.WriteFile(filepath.Join(wt, "src/a.go"), []byte("package a // edit\n"), 0o644)
	os.Remove(filepath.Join(wt, "README"))
	if out := mustRun(t, "snapshot", "--store", store, "--dir", wt, "--ref", "main", "-m", "second"); !strings.Contains(out, "2 changed") {
		t.Errorf("second snapshot said %q", out)
	}

	if out := mustRun(t, "diff", "--store", store, "main"); out != "D\tREADME\nM\tsrc/a.go\n" {
		t.Errorf("diff = %q", out)
	}
	var diff []map[string]any
	json.Unmarshal([]byte(mustRun(t, "diff", "--store", store, "--json", first.String(), "main")), &diff)
	if len(diff) != 2 || diff[0]["op"] != "deleted" {
		t.Errorf("diff json = %v", diff)
	}
	var log []logEntry
	json.Unmarshal([]byte(mustRun(t, "log", "--store", store, "--ref", "main", "--json")), &log)
	if len(log) != 2 || log[1].ID != first || log[0].Message != "second" {
		t.Errorf("log = %+v", log)
	}
	if out := mustRun(t, "log", "--store", store); !strings.Contains(out, "    first") {
		t.Errorf("text log = %q", out)
	}
	if out := mustRun(t, "show", "--store", store, "--ref", "main", "src/a.go"); out != "package a // edit\n" {
		t.Errorf("show file = %q", out)
	}
	if out := mustRun(t, "show", "--store", store, "--ref", first.String(), ""); !strings.Contains(out, "README") {
		t.Errorf("show dir = %q", out)
	}

	co := filepath.Join(dir, "co")
	mustRun(t, "checkout", "--store", store, "--ref", first.String(), "--dir", co)
	if b, _ := os.ReadFile(filepath.Join(co, "README")); string(b) != "hi\n" {
		t.Errorf("checkout of first: README = %q", b)
	}
	if out := mustRun(t, "checkout", "--store", store, "--ref", "main", "--dir", co); !strings.Contains(out, "1 files written, 1 deleted") {
		t.Errorf("switch said %q", out)
	}
	os.WriteFile(filepath.Join(co, "src/a.go"), []byte("local"), 0o644)
	if _, _, err := run(t, "checkout", "--store", store, "--ref", first.String(), "--dir", co); err == nil || exitCode(err) != 2 {
		t.Errorf("checkout over a local edit: %v", err)
	}

	if out := mustRun(t, "fsck", "--store", store, "--full"); !strings.Contains(out, "states 2") {
		t.Errorf("fsck = %q", out)
	}
	// gc also clears the clone packs (they may hold objects of deleted refs).
	packs := filepath.Join(store, "clonepacks")
	os.MkdirAll(packs, 0o755)
	os.WriteFile(filepath.Join(packs, "pack-"+strings.Repeat("ab", 20)+".tips"), []byte("x\n"), 0o644)
	var gc objstore.GCReport
	json.Unmarshal([]byte(mustRun(t, "gc", "--store", store, "--json")), &gc)
	if gc.Reachable["state"] != 2 {
		t.Errorf("gc = %+v", gc)
	}
	if left, _ := os.ReadDir(packs); len(left) != 0 {
		t.Errorf("gc left clone packs: %v", left)
	}
	var stats map[string]int64
	json.Unmarshal([]byte(mustRun(t, "stats", "--store", store, "--json")), &stats)
	if stats["states"] != 2 || stats["disk_bytes"] == 0 {
		t.Errorf("stats = %v", stats)
	}
	if out := mustRun(t, "stats", "--store", store); !strings.Contains(out, "states") {
		t.Errorf("stats text = %q", out)
	}
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	_, _, err := run(t, "log", "--store", filepath.Join(dir, "none"))
	if err == nil || !strings.Contains(err.Error(), "no helios store") {
		t.Errorf("missing store: %v", err)
	}
	store := filepath.Join(dir, "s")
	mustRun(t, "init", "--store", store, "-q")
	if _, _, err := run(t, "diff", "--store", store); err == nil {
		t.Error("diff without args succeeded")
	}
	if _, _, err := run(t, "log", "--store", store, "--ref", "nope"); err == nil {
		t.Error("log of a missing ref succeeded")
	}
	if _, _, err := run(t, "snapshot", "--store", store, "--dir", filepath.Join(dir, "missing"), "--ref", "main"); err == nil {
		t.Error("snapshot of a missing directory succeeded")
	}
}

func TestFsckExitsOneOnCorruption(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "s")
	wt := filepath.Join(dir, "wt")
	os.MkdirAll(wt, 0o777)
	os.WriteFile(filepath.Join(wt, "f"), []byte("content"), 0o644)
	mustRun(t, "init", "--store", store, "-q")
	mustRun(t, "snapshot", "--store", store, "--dir", wt, "-q")
	// Damage every blob through the engine.
	kv, err := rocksdb.Open(dbDir(store), rocksdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b objstore.Batch
	kv.Scan([]byte{'b'}, func(k, v []byte) error {
		bad := append([]byte(nil), v...)
		bad[len(bad)-1] ^= 1
		b.Put(append([]byte(nil), k...), bad)
		return nil
	})
	kv.Write(&b, true)
	kv.Close()
	out, _, err := run(t, "fsck", "--store", store, "--json")
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("fsck of a corrupt store: err %v, want exit 1", err)
	}
	var rep objstore.FsckReport
	if json.Unmarshal([]byte(out), &rep); len(rep.Problems) == 0 {
		t.Errorf("fsck json lists no problems: %s", out)
	}
}

func TestBenchCommitJSON(t *testing.T) {
	out := mustRun(t, "bench", "commit", "--files", "50", "--iterations", "20", "--json")
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"files", "iterations", "p50_us", "p95_us", "p99_us", "durable_run", "durable_group_commit"} {
		if _, ok := r[k]; !ok {
			t.Errorf("bench commit JSON lacks %q: %s", k, out)
		}
	}
	if r["files"].(float64) != 50 {
		t.Errorf("files = %v", r["files"])
	}
	if out := mustRun(t, "bench", "commit", "--files", "50", "--iterations", "10"); !strings.Contains(out, "durable, 8 writers") {
		t.Errorf("text bench = %q", out)
	}
}

func TestCLITierStore(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "s")
	wt := filepath.Join(dir, "wt")
	os.MkdirAll(wt, 0o777)
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i*7 + i/4096)
	}
	os.WriteFile(filepath.Join(wt, "big.bin"), big, 0o644)
	mustRun(t, "init", "--store", store, "--tier", "--tier-size", "134217728", "-q")
	if _, err := os.Stat(filepath.Join(store, "tier.log")); err != nil {
		t.Fatalf("no tier file: %v", err)
	}
	mustRun(t, "snapshot", "--store", store, "--dir", wt, "-q")
	var stats map[string]int64
	json.Unmarshal([]byte(mustRun(t, "stats", "--store", store, "--json")), &stats)
	if out := mustRun(t, "show", "--store", store, "big.bin"); out != string(big) {
		t.Errorf("big.bin read back wrong (%d bytes)", len(out))
	}
	mustRun(t, "fsck", "--store", store, "--full")
	mustRun(t, "gc", "--store", store, "-q")
}

func TestBenchAllAndTierSmoke(t *testing.T) {
	out := mustRun(t, "bench", "all", "--files", "60", "--scale", "0.01", "--json")
	var all map[string]any
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"commit", "l1_hit", "blake3", "rocksdb", "worktree", "machine"} {
		if _, ok := all[k]; !ok {
			t.Errorf("bench all JSON lacks %q", k)
		}
	}
	if out := mustRun(t, "bench", "all", "--files", "60", "--scale", "0.01"); !strings.Contains(out, "switch, 1 file differs") {
		t.Errorf("bench all text = %q", out)
	}
	out = mustRun(t, "bench", "tier", "--blobs", "3", "--blob-size", "131072")
	if !strings.Contains(out, "rocksdb-only") || !strings.Contains(out, "tier-pread") {
		t.Errorf("bench tier text = %q", out)
	}
}

func TestBenchWithoutSubcommandShowsHelp(t *testing.T) {
	out, _, err := run(t, "bench")
	if err != nil || !strings.Contains(out, "--phase0") {
		t.Errorf("helios bench: %v\n%s", err, out)
	}
}
