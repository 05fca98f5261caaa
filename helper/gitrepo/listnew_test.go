package gitrepo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/helper/gitobj"
)

// TestListNewMatchesRevList builds a history of edits, renames, new and
// removed directories, a symlink, a gitlink and merges, and checks, for
// every (tip, have) pair ListNew answers, that it lists every object git
// rev-list --objects tip --not have lists, and nothing the have's side does
// not already hold.
func TestListNewMatchesRevList(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	gitIn(t, dir, "init", "-q", "-b", "main")
	rng := rand.New(rand.NewPCG(1, 2))
	write := func(p, text string) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(text), 0o644)
	}
	write("a.txt", "a\n")
	write("d/b.txt", "b\n")
	write("d/e/c.txt", "c\n")
	os.Symlink("a.txt", filepath.Join(dir, "link"))
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-q", "-m", "root")
	sub := gitIn(t, dir, "rev-parse", "HEAD")
	gitIn(t, dir, "update-index", "--add", "--cacheinfo", "160000,"+sub+",vendor/mod")
	gitIn(t, dir, "commit", "-q", "-m", "gitlink")
	var commits []string
	step := func(i int) {
		switch rng.IntN(5) {
		case 0:
			write(fmt.Sprintf("d/e/f%d.txt", i), fmt.Sprint("new ", i, "\n"))
		case 1:
			write("a.txt", fmt.Sprint("edit ", i, "\n"))
		case 2:
			write(fmt.Sprintf("n%d/deep/x.txt", i), "b\n") // same content as d/b.txt, new path
		case 3:
			if _, err := os.Stat(filepath.Join(dir, "d/b.txt")); err == nil {
				gitIn(t, dir, "mv", "d/b.txt", fmt.Sprintf("moved%d.txt", i))
			} else {
				write("d/b.txt", "b again\n")
			}
		case 4:
			gitIn(t, dir, "rm", "-q", "-r", "--ignore-unmatch", "d/e")
			write("d/e/c.txt", fmt.Sprint("c ", i, "\n"))
		}
		gitIn(t, dir, "add", "-A")
		gitIn(t, dir, "commit", "-q", "--allow-empty", "-m", fmt.Sprint("step ", i))
		commits = append(commits, gitIn(t, dir, "rev-parse", "HEAD"))
	}
	for i := range 6 {
		step(i)
	}
	gitIn(t, dir, "checkout", "-q", "-b", "side", commits[2])
	for i := 6; i < 10; i++ {
		step(i)
	}
	gitIn(t, dir, "checkout", "-q", "main")
	gitIn(t, dir, "merge", "-q", "--no-edit", "-X", "theirs", "side")
	commits = append(commits, gitIn(t, dir, "rev-parse", "HEAD"))
	step(11)

	r, cat := openWithReader(t, filepath.Join(dir, ".git"))
	revList := func(args ...string) map[string]bool {
		out := gitIn(t, dir, append([]string{"rev-list", "--objects", "--no-object-names"}, args...)...)
		m := map[string]bool{}
		for _, l := range strings.Fields(out) {
			m[l] = true
		}
		return m
	}
	answered := 0
	for i, tip := range commits {
		for _, have := range commits[:i] {
			ids, ok, err := r.ListNew(ctx, cat, []gitobj.OID{gitobj.MustParseOID(tip)}, []gitobj.OID{gitobj.MustParseOID(have)}, 32)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				continue
			}
			answered++
			got := map[string]bool{}
			for _, id := range ids {
				if got[id.String()] {
					t.Errorf("%.7s..%.7s: %s listed twice", have, tip, id)
				}
				got[id.String()] = true
			}
			want := revList(tip, "^"+have)
			haveSide := revList(have)
			var missing, extra []string
			for id := range want {
				if !got[id] {
					missing = append(missing, id)
				}
			}
			for id := range got {
				if !want[id] && !haveSide[id] {
					extra = append(extra, id)
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 || len(extra) > 0 {
				t.Errorf("%.7s..%.7s: missing %v, listed but not in either side %v", have, tip, missing, extra)
			}
		}
	}
	if answered < 20 {
		t.Errorf("ListNew answered only %d pairs: the test does not exercise it", answered)
	}
	// What it leaves to rev-list.
	tip, root := gitobj.MustParseOID(commits[len(commits)-1]), gitobj.MustParseOID(commits[0])
	unsure := map[string]struct {
		tips, haves []gitobj.OID
		max         int
	}{
		"too many commits":    {[]gitobj.OID{tip}, []gitobj.OID{root}, 3},
		"no haves":            {[]gitobj.OID{tip}, nil, 32},
		"have not reached":    {[]gitobj.OID{root}, []gitobj.OID{tip}, 32},
		"tip is not a commit": {[]gitobj.OID{gitobj.MustParseOID(gitIn(t, dir, "rev-parse", "HEAD^{tree}"))}, []gitobj.OID{root}, 32},
		"missing tip":         {[]gitobj.OID{gitobj.MustParseOID(strings.Repeat("1", 40))}, []gitobj.OID{root}, 32},
	}
	for name, c := range unsure {
		if _, ok, err := r.ListNew(ctx, cat, c.tips, c.haves, c.max); ok || err != nil {
			t.Errorf("%s: ok %v err %v, want it left to rev-list", name, ok, err)
		}
	}
	// A tip the remote already has sends nothing.
	if ids, ok, err := r.ListNew(ctx, cat, []gitobj.OID{tip}, []gitobj.OID{tip}, 32); !ok || err != nil || len(ids) != 0 {
		t.Errorf("tip already there: %v %v %v", ids, ok, err)
	}
}
