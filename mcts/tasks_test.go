package mcts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/mcts/propose"
)

// realPython puts the interpreter itself first on PATH: a pyenv shim
// costs 0.4 s a run. It skips the test when there is no python3.
func realPython(t *testing.T) {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Skip("no python3")
	}
	t.Setenv("PATH", filepath.Dir(strings.TrimSpace(string(out)))+":"+os.Getenv("PATH"))
}

// TestBuiltinSuiteBugsAndFixes checks every built-in task with the real
// go and python3: its tests fail on the bug, the known fix passes its
// tests and its held-out tests, and the fix is one mutation away (one of
// the mutate proposer's candidates for the bug's line gives it exactly).
// With -short only the last is checked.
func TestBuiltinSuiteBugsAndFixes(t *testing.T) {
	realPython(t)
	suite, err := builtinSuite()
	if err != nil {
		t.Fatal(err)
	}
	var goCount, pyCount int
	for _, tk := range suite {
		if strings.HasSuffix(tk.path, ".go") {
			goCount++
		} else {
			pyCount++
		}
	}
	if len(suite) < 30 || goCount < 10 || pyCount < 10 || len(suite) != BuiltinTaskCount {
		t.Fatalf("suite: %d tasks (%d Go, %d Python), want ≥ 30 with ≥ 10 of each", len(suite), goCount, pyCount)
	}
	seen := map[string]bool{}
	for _, tk := range suite {
		if seen[tk.name] {
			t.Fatalf("two tasks named %q", tk.name)
		}
		seen[tk.name] = true
	}
	dir := t.TempDir()
	for _, tk := range suite {
		t.Run(tk.name, func(t *testing.T) {
			t.Parallel()
			// One mutation away.
			buggy := propose.Lines([]byte(tk.files[tk.path]))
			fixed := propose.Lines([]byte(tk.fixed))
			line := 0
			for i := range buggy {
				if i >= len(fixed) || buggy[i] != fixed[i] {
					line = i + 1
					break
				}
			}
			found := false
			for _, c := range propose.Mutations(tk.path, buggy, line) {
				out, err := propose.Apply(c, func(string) ([]byte, error) { return []byte(tk.files[tk.path]), nil })
				if err == nil && string(out[tk.path]) == tk.fixed {
					found = true
				}
			}
			if !found {
				t.Errorf("no single mutation of %s:%d (%q) gives the fix", tk.path, line, buggy[line-1])
			}
			// The bug fails the user's tests; the fix passes both.
			if testing.Short() {
				return // about a minute on two cores, most of it go test
			}
			if err := writeSuiteTask(filepath.Join(dir, "buggy"), tk, tk.files); err != nil {
				t.Fatal(err)
			}
			fixedFiles := map[string]string{}
			for p, c := range tk.files {
				fixedFiles[p] = c
			}
			fixedFiles[tk.path] = tk.fixed
			if err := writeSuiteTask(filepath.Join(dir, "fixed"), tk, fixedFiles); err != nil {
				t.Fatal(err)
			}
			run := func(which, command string) (string, bool) {
				cmd := exec.Command("sh", "-c", command)
				cmd.Dir = filepath.Join(dir, which, tk.name, "repo")
				out, err := cmd.CombinedOutput()
				return string(out), err == nil
			}
			if out, ok := run("buggy", tk.spec.Test); ok {
				t.Errorf("the bug passes the tests:\n%s", out)
			}
			if out, ok := run("fixed", tk.spec.Test); !ok {
				t.Errorf("the fix fails the tests:\n%s", out)
			}
			if out, ok := run("fixed", tk.spec.Heldout); !ok || !strings.Contains(out, "eldout") && strings.HasSuffix(tk.path, ".go") {
				t.Errorf("the fix fails the held-out tests (or runs none):\n%s", out)
			}
		})
	}
}
