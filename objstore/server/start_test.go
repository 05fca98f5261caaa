package server

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestExecutablePrefersFirstName: on $PATH the first name found wins (the
// helper asks for helios-store before helios); a directory or a file that
// is not executable is not a program; nothing found is "".
func TestExecutablePrefersFirstName(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PATH", dir)
	write := func(name string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	if got := Executable("helios-store-test", "helios-test"); got != "" {
		t.Fatalf("nothing installed: got %q", got)
	}
	write("helios-test", 0o755)
	write("helios-store-test", 0o644) // not executable
	if got := Executable("helios-store-test", "helios-test"); got != filepath.Join(dir, "helios-test") {
		t.Fatalf("only helios-test is a program: got %q", got)
	}
	if err := os.Chmod(filepath.Join(dir, "helios-store-test"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := Executable("helios-store-test", "helios-test"); got != filepath.Join(dir, "helios-store-test") {
		t.Fatalf("both are programs: got %q, want the first name", got)
	}
}

// TestSpawnAsksForHugePages: a server started on demand runs with glibc's
// malloc asking for transparent huge pages, its other tunables and its
// environment kept; a setting of its own about huge pages stays.
func TestSpawnAsksForHugePages(t *testing.T) {
	for _, c := range []struct{ env, want string }{
		{"", "glibc.malloc.hugetlb=1"},
		{"glibc.malloc.arena_max=2", "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"},
		{"glibc.malloc.hugetlb=0", "glibc.malloc.hugetlb=0"},
	} {
		dir := t.TempDir()
		t.Setenv("HELIOS_SPAWN_TEST", "kept")
		t.Setenv("GLIBC_TUNABLES", c.env)
		cmd := exec.Command("/bin/sh", "-c", `printf '%s|%s' "$GLIBC_TUNABLES" "$HELIOS_SPAWN_TEST"`)
		exited, err := spawn(dir, cmd)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-exited; err != nil {
			t.Fatal(err)
		}
		out, err := os.ReadFile(filepath.Join(dir, LogName))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(out); got != c.want+"|kept" {
			t.Errorf("GLIBC_TUNABLES=%q: the server saw %q, want %q", c.env, got, c.want+"|kept")
		}
	}
}
