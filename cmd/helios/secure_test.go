package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
)

// TestEncryptedAuditedStore: a store made with --encrypt keeps file
// contents and names, ref names, its worktree's path and the ids of the
// git objects pushed into it out of its files, audits every ref change, and
// refuses to open with the wrong key.
//
// The git part pushes through a real git-remote-helios (built here, the
// full build, which opens the store itself) refs with distinctive names.
// The store's files are then searched as they are on disk, after helios gc
// has flushed and compacted (MANIFEST, LOG, OPTIONS, SSTs; but SST blocks
// are LZ4/ZSTD-compressed and the write-ahead log is ZSTD-compressed, so a
// raw search could miss a leak there), and also every key and value as
// RocksDB itself reads them back, decompressed and with the log replayed,
// which is where a leak would show whatever the compression.
func TestEncryptedAuditedStore(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "s")
	wt := filepath.Join(dir, "wt-lurking-grue-path")
	os.MkdirAll(wt, 0o777)
	secret := "SECRET-CONTENT-4711-" + strings.Repeat("x", 100)
	os.WriteFile(filepath.Join(wt, "f-plugh-name.txt"), []byte(secret), 0o644)
	t.Setenv("HELIOS_TEST_KEK", strings.Repeat("ab", 32))
	t.Setenv("HELIOS_NO_SERVER", "1")
	mustRun(t, "init", "--store", store, "--encrypt", "--key-provider", "env:HELIOS_TEST_KEK", "-q")
	mustRun(t, "snapshot", "--store", store, "--dir", wt, "--ref", "main", "-q")
	os.WriteFile(filepath.Join(wt, "f-plugh-name.txt"), []byte(secret+" v2"), 0o644)
	mustRun(t, "snapshot", "--store", store, "--dir", wt, "--ref", "main", "-q")
	if out := mustRun(t, "show", "--store", store, "--ref", "main", "f-plugh-name.txt"); out != secret+" v2" {
		t.Errorf("read back %q", out)
	}
	needles := map[string][]byte{
		"content": []byte("SECRET-CONTENT-4711"), "file name": []byte("plugh-name"),
		"worktree path": []byte(wt), "worktree dir": []byte("lurking-grue"),
	}
	// A plain store keys a worktree by an unkeyed hash of its path, which
	// anyone who guesses the path can compute.
	wk := objstore.NewHasher(nil).Sum(objstore.KindChunk, []byte("worktree\x00"+wt))
	needles["plain worktree key"] = wk[:16]
	// Refs, file names and git objects pushed through the helper.
	env := helperEnv(t)
	pushed := pushDistinctive(t, env, dir, store, secret)
	for _, n := range []string{"fix-CVE-2026-zorkmid", "quendor-tag", "agents/frotz-bot", "xyzzy-dir", "gnusto-file"} {
		needles[n] = []byte(n)
	}
	for _, oid := range pushed {
		raw, err := hex.DecodeString(oid)
		if err != nil || len(raw) != 20 {
			t.Fatalf("git id %q", oid)
		}
		needles["git id "+oid] = []byte(oid)
		needles["raw git id "+oid] = raw
	}
	// Flush and compact everything to table files, then look.
	mustRun(t, "gc", "--store", store, "-q")
	filepath.WalkDir(store, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		for n, nb := range needles {
			if bytes.Contains(b, nb) {
				t.Errorf("%s holds the %s in the clear", p, n)
			}
		}
		return nil
	})
	kv, err := rocksdb.Open(filepath.Join(store, "db"), rocksdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	entries := 0
	kv.Scan(nil, func(k, v []byte) error {
		entries++
		for n, nb := range needles {
			if bytes.Contains(k, nb) || bytes.Contains(v, nb) {
				t.Errorf("the entry under key %q holds the %s", k, n)
			}
		}
		return nil
	})
	kv.Close()
	if entries < 20 {
		t.Errorf("only %d entries in the store", entries)
	}
	// The pushed refs read back in order through the helper.
	if got := strings.Fields(gitOut(t, dir, env, "ls-remote", "helios::"+store)); len(got) < 8 {
		t.Errorf("ls-remote: %q", got)
	}
	// The audit log has both ref moves and verifies.
	mustRun(t, "audit", "verify", "--store", store)
	out := mustRun(t, "audit", "log", "--store", store, "--json")
	if n := strings.Count(out, "refs/heads/main"); n < 2 {
		t.Errorf("audit log names refs/heads/main %d times, want >= 2:\n%s", n, out)
	}
	// The wrong key: a clear error, nothing written.
	t.Setenv("HELIOS_TEST_KEK", strings.Repeat("cd", 32))
	if _, _, err := run(t, "log", "--store", store); err == nil {
		t.Fatal("opened an encrypted store with the wrong key")
	}
	t.Setenv("HELIOS_TEST_KEK", strings.Repeat("ab", 32))
	var log []map[string]any
	json.Unmarshal([]byte(mustRun(t, "log", "--store", store, "--json")), &log)
	if len(log) != 2 {
		t.Errorf("log after a refused open: %d states", len(log))
	}
	if _, _, err := run(t, "init", "--store", store, "-q"); err == nil {
		t.Error("init over an existing store succeeded")
	}
	if _, _, err := run(t, "init", "--store", filepath.Join(dir, "x"), "--encrypt"); err == nil {
		t.Error("--encrypt without a key provider accepted")
	}
}

func TestNoAuditStore(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "s")
	wt := filepath.Join(dir, "wt")
	os.MkdirAll(wt, 0o777)
	os.WriteFile(filepath.Join(wt, "f"), []byte("x"), 0o644)
	t.Setenv("HELIOS_NO_SERVER", "1")
	mustRun(t, "init", "--store", store, "--no-audit", "-q")
	mustRun(t, "snapshot", "--store", store, "--dir", wt, "-q")
	if _, err := os.Stat(filepath.Join(store, "audit-signer.key")); err == nil {
		t.Error("--no-audit store has a signing key")
	}
}

// helperEnv builds git-remote-helios (the full build, which opens a store
// itself) into a temporary directory and returns an environment for git
// with it first on PATH and no user or system git config. It skips the
// test without git.
func helperEnv(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	bin := t.TempDir()
	out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "git-remote-helios"), "github.com/helios-vcs/helios/cmd/git-remote-helios").CombinedOutput()
	if err != nil {
		t.Fatalf("go build cmd/git-remote-helios: %v\n%s", err, out)
	}
	home := t.TempDir()
	return append(os.Environ(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+filepath.Join(home, ".gitconfig"),
		"GIT_AUTHOR_NAME=A U Thor", "GIT_AUTHOR_EMAIL=author@example.com", "GIT_AUTHOR_DATE=1700000000 +0100",
		"GIT_COMMITTER_NAME=C O Mitter", "GIT_COMMITTER_EMAIL=committer@example.com", "GIT_COMMITTER_DATE=1700000000 +0100",
		"LC_ALL=C", "GIT_TERMINAL_PROMPT=0")
}

func gitOut(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// pushDistinctive makes a git repository under dir with branches, a tag
// and files of distinctive names (and content holding secret), pushes it
// all to store through git-remote-helios, and returns the ids of every git
// object it pushed.
func pushDistinctive(t *testing.T, env []string, dir, store, secret string) []string {
	t.Helper()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "xyzzy-dir"), 0o777)
	gitOut(t, src, env, "init", "-q", "-b", "trunk")
	os.WriteFile(filepath.Join(src, "xyzzy-dir", "gnusto-file"), []byte(secret+" in git"), 0o644)
	os.WriteFile(filepath.Join(src, "README"), []byte("readme\n"), 0o644)
	gitOut(t, src, env, "add", "-A")
	gitOut(t, src, env, "commit", "-q", "-m", "first")
	gitOut(t, src, env, "checkout", "-q", "-b", "fix-CVE-2026-zorkmid")
	os.WriteFile(filepath.Join(src, "xyzzy-dir", "gnusto-file"), []byte(secret+" fixed"), 0o644)
	gitOut(t, src, env, "commit", "-q", "-am", "fix")
	gitOut(t, src, env, "branch", "agents/frotz-bot/try-1")
	gitOut(t, src, env, "tag", "-a", "-m", "annotated", "quendor-tag")
	gitOut(t, src, env, "push", "-q", "helios::"+store, "refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*")
	var oids []string
	for _, line := range strings.Split(gitOut(t, src, env, "rev-list", "--objects", "--all"), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			oids = append(oids, f[0])
		}
	}
	tag := strings.TrimSpace(gitOut(t, src, env, "rev-parse", "quendor-tag"))
	return append(oids, tag)
}
