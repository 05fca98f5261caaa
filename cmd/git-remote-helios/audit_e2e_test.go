package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/cmd/internal/storedir"
)

// TestAuditCheckpointDetectsRollback: a repository keeps the store's last
// audit checkpoint; fetching from a store restored from an older copy (its
// history rolled back) is refused, while a store that only grew is fine.
func TestAuditCheckpointDetectsRollback(t *testing.T) {
	eachMode(t, testAuditCheckpointDetectsRollback)
}

func testAuditCheckpointDetectsRollback(t *testing.T, e *e2e) {
	if _, err := storedir.Signer(e.store); err != nil { // an audited store
		t.Fatal(err)
	}
	src := filepath.Join(e.home, "src")
	e.git(e.home, "init", "-q", "-b", "main", src)
	e.commit(src, "one", map[string]string{"f": "1\n"})
	e.git(src, "remote", "add", "origin", "helios::"+e.store)
	e.push(src, "-q", "origin", "main")

	watcher := filepath.Join(e.home, "watcher")
	e.git(e.home, "clone", "-q", "helios::"+e.store, watcher)
	kept, _ := filepath.Glob(filepath.Join(watcher, ".git", "helios", "checkpoints", "*"))
	if len(kept) != 1 {
		t.Fatalf("the clone kept %d checkpoints, want 1", len(kept))
	}
	old := filepath.Join(e.home, "store-copy")
	e.stopServer() // a copy of a quiet store
	if out, err := exec.Command("cp", "-a", e.store, old).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}

	e.commit(src, "two", map[string]string{"f": "2\n"})
	e.push(src, "-q", "origin", "main")
	e.git(watcher, "fetch", "-q", "origin") // the log grew: fine

	// Roll the store back to the copy: the watcher's next fetch is refused.
	e.stopServer()
	os.RemoveAll(e.store)
	if err := os.Rename(old, e.store); err != nil {
		t.Fatal(err)
	}
	out := e.gitFail(watcher, "fetch", "origin")
	if !strings.Contains(out, "does not extend the checkpoint") {
		t.Fatalf("fetch from a rolled-back store: %q", out)
	}
	// A fresh clone (no kept checkpoint) still works: first use pins.
	e.git(e.home, "clone", "-q", "helios::"+e.store, filepath.Join(e.home, "fresh"))
}
