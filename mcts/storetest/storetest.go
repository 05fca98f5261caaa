// Package storetest is the conformance suite of mcts.Backend: every state
// backend a search can run on (the Helios store, the git baseline) passes
// the same checks, with real files and real checkouts.
package storetest

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/helios-vcs/helios/mcts"
	"github.com/helios-vcs/helios/objstore"
)

// Test runs the suite on backends that open returns, fresh and empty for
// each call; the test closes them.
func Test(t *testing.T, open func(t *testing.T) mcts.Backend) {
	src := t.TempDir()
	write := func(p, content string, perm os.FileMode) {
		full := filepath.Join(src, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o777)
		if err := os.WriteFile(full, []byte(content), perm); err != nil {
			t.Fatal(err)
		}
		os.Chmod(full, perm)
	}
	write("a.py", "x = 1\n", 0o644)
	write("run.sh", "echo hi\n", 0o755)
	write("pkg/b.go", "package pkg\n", 0o644)
	write("pkg/deep/c.txt", "c\n", 0o644)
	write(".git/HEAD", "not imported\n", 0o644)
	write("__pycache__/a.pyc", "not imported\n", 0o644)

	t.Run("ImportReadWalk", func(t *testing.T) {
		b := open(t)
		defer b.Close()
		base, err := b.ImportDir(src, "import")
		if err != nil {
			t.Fatal(err)
		}
		st, err := b.State(base)
		if err != nil || st.Root.IsZero() || len(st.Parents) != 0 {
			t.Fatalf("State(base) = %+v, %v", st, err)
		}
		var paths []string
		err = b.Walk(st.Root, func(p string, e objstore.Entry) error {
			if e.Mode.IsBlob() {
				paths = append(paths, p)
			}
			return nil
		})
		if want := []string{"a.py", "pkg/b.go", "pkg/deep/c.txt", "run.sh"}; err != nil || !slices.Equal(paths, want) {
			t.Errorf("Walk: got %q, %v; want %q", paths, err, want)
		}
		e, content, err := b.ReadFile(base, "pkg/deep/c.txt")
		if err != nil || string(content) != "c\n" || e.Mode != objstore.ModeFile {
			t.Errorf("ReadFile: got %v %q %v", e, content, err)
		}
		if e, _, err := b.ReadFile(base, "run.sh"); err != nil || e.Mode != objstore.ModeExec {
			t.Errorf("run.sh: got mode %v, %v; want 100755", e.Mode, err)
		}
		if _, _, err := b.ReadFile(base, "pkg/none"); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("ReadFile of a missing path: got %v, want ErrNotFound", err)
		}
	})

	t.Run("MakeStateAndCheckout", func(t *testing.T) {
		b := open(t)
		defer b.Close()
		base, err := b.ImportDir(src, "import")
		if err != nil {
			t.Fatal(err)
		}
		baseSt, _ := b.State(base)
		child, tree, err := b.MakeState(base, map[string][]byte{"pkg/deep/c.txt": []byte("C\n"), "run.sh": []byte("echo ho\n")}, "edit")
		if err != nil {
			t.Fatal(err)
		}
		st, err := b.State(child)
		if err != nil || st.Root != tree || !slices.Equal(st.Parents, []objstore.ID{base}) || st.Message != "edit\n" && st.Message != "edit" {
			t.Fatalf("State(child) = %+v, %v", st, err)
		}
		if _, c, _ := b.ReadFile(child, "pkg/deep/c.txt"); string(c) != "C\n" {
			t.Errorf("child c.txt: got %q", c)
		}
		if e, _, _ := b.ReadFile(child, "run.sh"); e.Mode != objstore.ModeExec {
			t.Errorf("child run.sh: got mode %v, want the parent's 100755", e.Mode)
		}
		if _, c, _ := b.ReadFile(child, "pkg/b.go"); string(c) != "package pkg\n" {
			t.Errorf("child b.go: got %q", c)
		}
		// Equal trees have equal IDs: the search merges them by it.
		_, tree2, err := b.MakeState(base, map[string][]byte{"run.sh": []byte("echo ho\n"), "pkg/deep/c.txt": []byte("C\n")}, "again")
		if err != nil || tree2 != tree {
			t.Errorf("same files, other message: tree %v, want %v (%v)", tree2, tree, err)
		}
		_, back, err := b.MakeState(child, map[string][]byte{"pkg/deep/c.txt": []byte("c\n"), "run.sh": []byte("echo hi\n")}, "undo")
		if err != nil || back != baseSt.Root {
			t.Errorf("undone edit: tree %v, want the base's %v (%v)", back, baseSt.Root, err)
		}

		// Tree first: the root is known before the state is made.
		if tf, ok := b.(mcts.TreeFirst); ok {
			ps, err := tf.PrepareState(base, map[string][]byte{"run.sh": []byte("echo ho\n"), "pkg/deep/c.txt": []byte("C\n")})
			if err != nil || ps.Root() != tree {
				t.Errorf("PrepareState: root %v, want %v (%v)", ps.Root(), tree, err)
			}
			ps.Abort()
			ps, err = tf.PrepareState(child, map[string][]byte{"pkg/new.txt": []byte("new\n")})
			if err != nil {
				t.Fatal(err)
			}
			id, err := ps.Commit("new file")
			if err != nil {
				t.Fatal(err)
			}
			if st, err := b.State(id); err != nil || st.Root != ps.Root() || !slices.Equal(st.Parents, []objstore.ID{child}) {
				t.Errorf("committed pending state: %+v %v", st, err)
			}
			if e, c, err := b.ReadFile(id, "pkg/new.txt"); err != nil || string(c) != "new\n" || e.Mode != objstore.ModeFile {
				t.Errorf("new file: %v %q %v", e, c, err)
			}
			if _, c, _ := b.ReadFile(id, "pkg/b.go"); string(c) != "package pkg\n" {
				t.Errorf("a new file lost its neighbour: %q", c)
			}
		}

		// Message first: the same, the message given up front.
		if mf, ok := b.(mcts.MessageFirst); ok {
			files := map[string][]byte{"a.py": []byte("x = 3\n")}
			ps, err := mf.PrepareStateMessage(child, files, "message first")
			if err != nil {
				t.Fatal(err)
			}
			id, err := ps.Commit("message first")
			if err != nil {
				t.Fatal(err)
			}
			st, err := b.State(id)
			if err != nil || st.Root != ps.Root() || !slices.Equal(st.Parents, []objstore.ID{child}) || st.Message != "message first" && st.Message != "message first\n" {
				t.Errorf("message-first state: %+v %v", st, err)
			}
			if _, c, _ := b.ReadFile(id, "a.py"); string(c) != "x = 3\n" {
				t.Errorf("message-first a.py: got %q", c)
			}
			again, err := mf.PrepareStateMessage(child, files, "message first")
			if err != nil || again.Root() != ps.Root() {
				t.Errorf("the same edit again: root %v, want %v (%v)", again.Root(), ps.Root(), err)
			} else {
				again.Abort()
			}
		}

		dir := filepath.Join(t.TempDir(), "w0")
		check := func(want map[string]string) {
			t.Helper()
			for p, c := range want {
				got, err := os.ReadFile(filepath.Join(dir, p))
				if err != nil || string(got) != c {
					t.Errorf("%s: got %q, %v; want %q", p, got, err, c)
				}
			}
		}
		if _, err := b.Checkout(dir, base, objstore.CheckoutOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
		check(map[string]string{"a.py": "x = 1\n", "pkg/deep/c.txt": "c\n", "run.sh": "echo hi\n"})
		if info, err := os.Stat(filepath.Join(dir, "run.sh")); err != nil || info.Mode().Perm()&0o100 == 0 {
			t.Errorf("run.sh is not executable: %v %v", info, err)
		}
		// A file the test leaves behind does not block a switch.
		os.WriteFile(filepath.Join(dir, "out.log"), []byte("log"), 0o644)
		if _, err := b.Checkout(dir, child, objstore.CheckoutOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
		check(map[string]string{"a.py": "x = 1\n", "pkg/deep/c.txt": "C\n", "run.sh": "echo ho\n", "out.log": "log"})
		if _, err := b.Checkout(dir, base, objstore.CheckoutOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
		check(map[string]string{"pkg/deep/c.txt": "c\n", "run.sh": "echo hi\n"})
		// A second checkout directory is independent of the first.
		dir2 := filepath.Join(t.TempDir(), "w1")
		if _, err := b.Checkout(dir2, child, objstore.CheckoutOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
		check(map[string]string{"pkg/deep/c.txt": "c\n"})
		if got, _ := os.ReadFile(filepath.Join(dir2, "pkg/deep/c.txt")); string(got) != "C\n" {
			t.Errorf("second checkout: got %q", got)
		}
	})

	t.Run("RefsCompareAndSwap", func(t *testing.T) {
		b := open(t)
		defer b.Close()
		base, err := b.ImportDir(src, "import")
		if err != nil {
			t.Fatal(err)
		}
		child, _, err := b.MakeState(base, map[string][]byte{"a.py": []byte("x = 2\n")}, "edit")
		if err != nil {
			t.Fatal(err)
		}
		const name = "refs/heads/mcts/t/best"
		if _, err := b.Ref(name); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("missing ref: got %v, want ErrNotFound", err)
		}
		if err := b.UpdateRefs(objstore.RefUpdate{Name: name, New: base}, objstore.RefUpdate{Name: "refs/heads/mcts/t/top-1", New: child}); err != nil {
			t.Fatal(err)
		}
		if r, err := b.Ref(name); err != nil || r.ID != base {
			t.Errorf("Ref: got %v %v, want %v", r.ID, err, base)
		}
		// A stale old value loses, and the batch changes nothing.
		err = b.UpdateRefs(objstore.RefUpdate{Name: "refs/heads/mcts/t/top-1", Old: child, New: base},
			objstore.RefUpdate{Name: name, Old: child, New: child})
		var ce *objstore.RefConflictError
		if !errors.As(err, &ce) || ce.Name != name || ce.Got != base {
			t.Errorf("stale update: got %v, want a conflict on %s", err, name)
		}
		if r, _ := b.Ref("refs/heads/mcts/t/top-1"); r.ID != child {
			t.Error("a failed batch moved a ref")
		}
		if err := b.UpdateRefs(objstore.RefUpdate{Name: name, Old: base, New: child}); err != nil {
			t.Errorf("compare-and-swap: %v", err)
		}
		if r, _ := b.Ref(name); r.ID != child {
			t.Errorf("Ref after swap: got %v, want %v", r.ID, child)
		}
	})
}
