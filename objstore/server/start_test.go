package server

import (
	"os"
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
