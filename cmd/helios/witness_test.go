package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestWitnessCommands drives the witness commands in process, on a store
// without a server: a witness is made, the store lists it, the witness
// cosigns the store's checkpoint, the cosigned checkpoint carries its
// line, verify counts it, and removal takes it off the list.
func TestWitnessCommands(t *testing.T) {
	t.Setenv("HELIOS_NO_SERVER", "1")
	store := auditedStore(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "w1.key")
	vkey := strings.TrimSpace(mustRun(t, "audit", "witness", "init", "--name", "witness.example/w1", "--key-file", key))
	if !strings.HasPrefix(vkey, "witness.example/w1+") {
		t.Fatalf("witness init printed %q", vkey)
	}
	if _, _, err := run(t, "audit", "witness", "init", "--name", "witness.example/w1", "--key-file", key); err == nil {
		t.Error("witness init over an existing key succeeded")
	}
	if _, _, err := run(t, "witness", "add", "--store", store, "not a key"); err == nil {
		t.Error("witness add of a malformed key succeeded")
	}
	mustRun(t, "witness", "add", "--store", store, key+".pub")
	if out := mustRun(t, "witness", "list", "--store", store); !strings.Contains(out, vkey) {
		t.Fatalf("witness list:\n%s", out)
	}
	// verify requiring a witness that never cosigned fails.
	if out, _, err := run(t, "audit", "verify", "--store", store, "--witnesses", key+".pub"); err == nil {
		t.Fatalf("verify with an uncosigned log succeeded:\n%s", out)
	}
	if out := mustRun(t, "audit", "witness", "cosign", "--store", store, "--key-file", key); !strings.Contains(out, "witness.example/w1") {
		t.Fatalf("cosign printed %q", out)
	}
	if out := mustRun(t, "audit", "checkpoint", "--store", store, "--cosigned"); !strings.Contains(out, "\n— witness.example/w1 ") {
		t.Fatalf("cosigned checkpoint:\n%s", out)
	}
	if out := mustRun(t, "audit", "verify", "--store", store, "--witnesses", key+".pub"); !strings.Contains(out, "witnessed: 1 of 1") {
		t.Fatalf("audit verify:\n%s", out)
	}
	mustRun(t, "witness", "remove", "--store", store, "witness.example/w1")
	if out := mustRun(t, "witness", "list", "--store", store); strings.Contains(out, vkey) {
		t.Fatalf("removed witness still listed:\n%s", out)
	}
	// Every change was audited and the log still verifies.
	if out := mustRun(t, "audit", "log", "--store", store); strings.Count(out, "witness") < 2 {
		t.Fatalf("witness changes not in the audit log:\n%s", out)
	}
	mustRun(t, "audit", "verify", "--store", store)
}
