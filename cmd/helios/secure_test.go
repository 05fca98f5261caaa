package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEncryptedAuditedStore: a store made with --encrypt keeps file
// contents and names out of its files, audits every ref change, and refuses
// to open with the wrong key.
func TestEncryptedAuditedStore(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "s")
	wt := filepath.Join(dir, "wt")
	os.MkdirAll(wt, 0o777)
	secret := "SECRET-CONTENT-4711-" + strings.Repeat("x", 100)
	os.WriteFile(filepath.Join(wt, "f.txt"), []byte(secret), 0o644)
	t.Setenv("HELIOS_TEST_KEK", strings.Repeat("ab", 32))
	t.Setenv("HELIOS_NO_SERVER", "1")
	mustRun(t, "init", "--store", store, "--encrypt", "--key-provider", "env:HELIOS_TEST_KEK", "-q")
	mustRun(t, "snapshot", "--store", store, "--dir", wt, "--ref", "main", "-q")
	os.WriteFile(filepath.Join(wt, "f.txt"), []byte(secret+" v2"), 0o644)
	mustRun(t, "snapshot", "--store", store, "--dir", wt, "--ref", "main", "-q")
	if out := mustRun(t, "show", "--store", store, "--ref", "main", "f.txt"); out != secret+" v2" {
		t.Errorf("read back %q", out)
	}
	// Flush everything to table files, then look for the content.
	mustRun(t, "gc", "--store", store, "-q")
	filepath.WalkDir(store, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte("SECRET-CONTENT-4711")) {
			t.Errorf("%s holds the plaintext", p)
		}
		return nil
	})
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
