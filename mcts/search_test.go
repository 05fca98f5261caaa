package mcts

import (
	"context"
	"errors"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helios-vcs/helios/mcts/eval"
	"github.com/helios-vcs/helios/mcts/propose"
	"github.com/helios-vcs/helios/objstore"
)

func memStore(t *testing.T) *objstore.Store {
	t.Helper()
	fixed := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := objstore.Init(objstore.NewMemKV(), objstore.Options{Now: func() time.Time { return fixed }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func exampleSearch(t *testing.T, s *objstore.Store, cfg Config) *Report {
	t.Helper()
	base, err := Import(s, ExampleProject(), "example")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Base = base
	if cfg.Proposer == nil {
		cfg.Proposer, cfg.ProposerName = &propose.Mutate{}, "mutate"
	}
	if cfg.Test.Command == "" {
		cfg.Test.Command = "sh test.sh"
	}
	t.Logf("seed %d", cfg.Seed)
	se, err := NewSearch(Objstore{Store: s}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := se.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSearchFindsFixAndWritesRefs(t *testing.T) {
	s := memStore(t)
	var progress strings.Builder
	r := exampleSearch(t, s, Config{Run: "t1", Workers: 1, Seed: 3, Iterations: 60, Progress: &progress, ProgressEvery: time.Millisecond})
	if !r.Solved || r.BestScore != 1 || r.Stop != "solved" || r.BaseScore != 0.6 {
		t.Fatalf("got %+v", r)
	}
	if len(r.BestEdits) != 1 || !strings.Contains(r.BestEdits[0], "<= n") {
		t.Errorf("best edits %q", r.BestEdits)
	}
	ref, err := s.Ref("refs/heads/mcts/t1/best")
	if err != nil || ref.ID != r.BestState {
		t.Fatalf("best ref %v %v, want %v", ref, err, r.BestState)
	}
	st, _ := s.State(r.BestState)
	if !strings.Contains(st.Message, "score 1.000") || !strings.Contains(st.Message, "lib.sh:8") || len(st.Parents) != 1 || st.Parents[0] != r.Base {
		t.Errorf("best state: %+v", st)
	}
	_, lib, _ := s.ReadFile(r.BestState, "lib.sh")
	if !strings.Contains(string(lib), "$((i <= n))") {
		t.Errorf("best lib.sh:\n%s", lib)
	}
	if len(r.Top) == 0 || r.Top[0].Ref != "refs/heads/mcts/t1/top-1" || r.Top[0].State != r.BestState {
		t.Errorf("top: %+v", r.Top)
	}
	for _, top := range r.Top {
		if ref, err := s.Ref(top.Ref); err != nil || ref.ID != top.State {
			t.Errorf("%s: %v %v", top.Ref, ref, err)
		}
	}
	if r.Evaluations != r.Iterations+1 || r.Nodes < r.Iterations || r.ElapsedS <= 0 || r.Time.TestS <= 0 {
		t.Errorf("counters: %+v", r)
	}
	// A second run with the same name moves the refs by compare-and-swap.
	r2 := exampleSearch(t, s, Config{Run: "t1", Workers: 1, Seed: 4, Iterations: 60})
	if ref, _ := s.Ref("refs/heads/mcts/t1/best"); ref.ID != r2.BestState {
		t.Errorf("rerun did not move best")
	}
	if !strings.Contains(progress.String(), "mcts: t1:") {
		t.Errorf("no progress line: %q", progress.String())
	}
}

func TestSearchDeterministicBySeed(t *testing.T) {
	run := func(seed uint64) []objstore.ID {
		// Mutants that loop forever time out: reward 0 either way.
		r := exampleSearch(t, memStore(t), Config{Run: "d", Workers: 1, Seed: seed, Iterations: 10, KeepGoing: true,
			Test: eval.Config{Command: "sh test.sh", Timeout: 500 * time.Millisecond}})
		return r.Trees
	}
	a, b := run(5), run(5)
	if !slices.Equal(a, b) {
		t.Errorf("seed 5 gave two trees:\n%v\n%v", a, b)
	}
	if len(a) != 11 {
		t.Errorf("%d nodes, want 11", len(a))
	}
	if c := run(6); slices.Equal(a, c) {
		t.Log("seeds 5 and 6 gave the same tree (possible, but unlikely)")
	}
}

func TestSearchParallelWorkers(t *testing.T) {
	r := exampleSearch(t, memStore(t), Config{Run: "p", Workers: 3, Seed: 1, Iterations: 40})
	if !r.Solved {
		t.Errorf("3 workers did not solve: %+v", r)
	}
	if r.Workers != 3 {
		t.Errorf("workers %d", r.Workers)
	}
}

// listProposer proposes fixed candidates, once per node.
type listProposer struct{ cands []propose.Candidate }

func (l *listProposer) Propose(ctx context.Context, req *propose.Request) ([]propose.Candidate, error) {
	if req.Round > 0 {
		return nil, nil
	}
	return l.cands, nil
}

func TestSearchMergesIdenticalTrees(t *testing.T) {
	s := memStore(t)
	edit := func(line int, old, new string) propose.Candidate {
		return propose.Candidate{Edits: []propose.Edit{{Path: "lib.sh", Line: line, Old: old, New: []string{new}}}}
	}
	// Two ways to the same tree (a comment changed to one text), plus an
	// edit that does not apply, then nothing.
	p := &listProposer{cands: []propose.Candidate{
		edit(1, "# lib.sh: small arithmetic helpers.", "# same"),
		edit(1, "# lib.sh: small arithmetic helpers.", "# same"),
		edit(2, "not the line", "x"),
		edit(1, "# lib.sh: small arithmetic helpers.", "# other"),
	}}
	r := exampleSearch(t, s, Config{Run: "m", Workers: 1, Seed: 1, Iterations: 50, Proposer: p, ProposerName: "list"})
	// Root → "# same", "# other"; below them line 1 has changed, so every
	// candidate is bad there and the tree is used up.
	if r.Stop != "exhausted" || r.Nodes != 3 || r.Merged != 1 || r.BadEdits == 0 || r.Solved {
		t.Errorf("got stop %q nodes %d merged %d bad %d", r.Stop, r.Nodes, r.Merged, r.BadEdits)
	}
	if r.BestScore != r.BaseScore || r.BestState != r.Base {
		t.Errorf("nothing better than the base, yet best is %v (%v)", r.BestState, r.BestScore)
	}
}

func TestSelectionMath(t *testing.T) {
	sel := Selection{C: 1.4, WidenK: 2, WidenAlpha: 0.5}
	p := &Node{Visits: 9}
	c := &Node{Visits: 3, Value: 0.5}
	want := 0.5 + 1.4*math.Sqrt(math.Log(10)/3)
	if got := sel.Score(p, c, 0); math.Abs(got-want) > 1e-12 {
		t.Errorf("UCT = %v, want %v", got, want)
	}
	// Virtual loss: one worker below c lowers Q and raises n.
	c.Virtual, p.Virtual = 1, 1
	wantVL := 0.5*3/4 + 1.4*math.Sqrt(math.Log(11)/4)
	if got := sel.Score(p, c, 0); math.Abs(got-wantVL) > 1e-12 || got >= want {
		t.Errorf("UCT with virtual loss = %v, want %v (< %v)", got, wantVL, want)
	}
	c.Virtual, p.Virtual = 0, 0
	puct := Selection{PUCT: true, C: 1}
	if got, want := puct.Score(p, c, 0.5), 0.5+0.5*3/4.0; math.Abs(got-want) > 1e-12 {
		t.Errorf("PUCT = %v, want %v", got, want)
	}
	if !math.IsInf(sel.Score(p, &Node{}, 0), 1) {
		t.Error("unvisited child does not score +Inf")
	}
	for v, want := range map[int]int{0: 2, 1: 3, 3: 4, 8: 6, 99: 20} {
		if got := sel.WidthLimit(v); got != want {
			t.Errorf("WidthLimit(%d) = %d, want %d", v, got, want)
		}
	}
	// best: the higher score wins, the first on a tie, dead children never.
	a, b, d := &Node{Visits: 1, Value: 0.2}, &Node{Visits: 1, Value: 0.8}, &Node{Visits: 1, Value: 1, dead: true}
	p = &Node{Visits: 3, Children: []*Node{a, b, d}}
	if got := sel.best(p); got != b {
		t.Errorf("best = %+v, want b", got)
	}
	b.Value = 0.2
	if got := sel.best(p); got != a {
		t.Error("tie not broken by order")
	}
	// PUCT uses priors.
	a.Prior, b.Prior = 0.1, 0.9
	if got := puct.best(p); got != b {
		t.Error("PUCT ignored the prior")
	}
	n := &Node{Evaluated: true, Visits: 1}
	if !sel.canWiden(n) {
		t.Error("fresh node cannot widen")
	}
	n.pending = 3
	if sel.canWiden(n) {
		t.Error("node at its width limit widens")
	}
	n.pending, n.Reward = 0, 1
	if sel.canWiden(n) {
		t.Error("solved node widens")
	}
}

func TestSearchPUCTAndLimits(t *testing.T) {
	sel := DefaultSelection
	sel.PUCT, sel.C = true, 1
	r := exampleSearch(t, memStore(t), Config{Run: "u", Workers: 1, Seed: 2, Iterations: 60, Selection: sel})
	if !r.Solved {
		t.Errorf("PUCT did not solve: %+v", r)
	}
	r = exampleSearch(t, memStore(t), Config{Run: "i", Workers: 1, Seed: 2, Iterations: 3, KeepGoing: true})
	if r.Iterations != 3 || r.Stop != "iterations" {
		t.Errorf("iterations 3: got %d, stop %q", r.Iterations, r.Stop)
	}
	r = exampleSearch(t, memStore(t), Config{Run: "b", Workers: 2, Seed: 2, TimeBudget: 300 * time.Millisecond, KeepGoing: true,
		Test: eval.Config{Command: "sleep 0.05; sh test.sh"}})
	if r.Stop != "time budget" {
		t.Errorf("time budget: stop %q", r.Stop)
	}
}

func TestNewSearchErrors(t *testing.T) {
	s := Objstore{Store: memStore(t)}
	id := objstore.ID{1}
	for _, cfg := range []Config{
		{Base: id},
		{Proposer: &propose.Mutate{}},
		{Base: id, Proposer: &propose.Mutate{}, Run: "a..b"},
	} {
		if _, err := NewSearch(s, cfg); err == nil {
			t.Errorf("NewSearch(%+v) succeeded", cfg)
		}
	}
	se, err := NewSearch(s, Config{Base: id, Proposer: &propose.Mutate{}, Test: eval.Config{Command: "true"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := se.Run(context.Background()); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("missing base: %v", err)
	}
}

func TestSearchNoEditableFilesAndBasePasses(t *testing.T) {
	st := memStore(t)
	base, _ := Import(st, map[string]string{"test.sh": "exit 0\n", "README.md": "hi\n"}, "x")
	se, _ := NewSearch(Objstore{Store: st}, Config{Base: base, Proposer: &propose.Mutate{}, Test: eval.Config{Command: "sh test.sh"}})
	if _, err := se.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "no editable files") {
		t.Errorf("no editable files: %v", err)
	}
	se, _ = NewSearch(Objstore{Store: st}, Config{Run: "ok", Base: base, Proposer: &propose.Mutate{}, Files: []string{"*.sh"}, Test: eval.Config{Command: "sh test.sh"}})
	r, err := se.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Stop != "base passes" || !r.Solved || r.Iterations != 0 || r.BestState != base {
		t.Errorf("passing base: %+v", r)
	}
}

func TestEditablePaths(t *testing.T) {
	for p, want := range map[string]bool{
		"calc.go": false, "calc_test.go": true, "test_prog.py": true, "prog.py": false, "tests/x.py": true,
		"README.md": true, "go.mod": true, ".github/ci.yml": true, "test.sh": true, "lib.sh": false,
		"heldout_prog.py": true, "src/testdata/a.go": true, "conftest.py": true,
	} {
		if got := testLike(p); got != want {
			t.Errorf("testLike(%q) = %v, want %v", p, got, want)
		}
	}
	for _, tt := range []struct {
		pat, p string
		want   bool
	}{{"*.go", "a/b.go", true}, {"a/*.go", "a/b.go", true}, {"a/*.go", "c/b.go", false}, {"src/**", "src/x/y.c", true}, {"*.py", "a.go", false}} {
		if got := matchGlob(tt.pat, tt.p); got != tt.want {
			t.Errorf("matchGlob(%q, %q) = %v", tt.pat, tt.p, got)
		}
	}
}

// TestSearchGitBackendFindsTheSameFix: the same seed makes the same
// search on the git baseline as on Helios (the proposer's randomness
// follows the edits, not the tree IDs), down to the fix and the counts,
// and the result is an ordinary commit in the repository.
func TestSearchGitBackendFindsTheSameFix(t *testing.T) {
	cfg := Config{Run: "same", Workers: 1, Seed: 7, Iterations: 60,
		Test: eval.Config{Command: "sh test.sh", Timeout: 2 * time.Second}}
	rh := exampleSearch(t, memStore(t), cfg)

	g, err := InitGit(filepath.Join(t.TempDir(), "repo.git"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	files := map[string][]byte{}
	for p, c := range ExampleProject() {
		files[p] = []byte(c)
	}
	base, _, err := g.MakeState(objstore.ZeroID, files, "example")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Base, cfg.Backend, cfg.Proposer, cfg.ProposerName = base, "git", &propose.Mutate{}, "mutate"
	se, err := NewSearch(g, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rg, err := se.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d: helios %d iterations, git %d", cfg.Seed, rh.Iterations, rg.Iterations)
	if !rh.Solved || !rg.Solved {
		t.Fatalf("solved: helios %v, git %v", rh.Solved, rg.Solved)
	}
	if !slices.Equal(rg.BestEdits, rh.BestEdits) || rg.Iterations != rh.Iterations || rg.Nodes != rh.Nodes ||
		rg.Evaluations != rh.Evaluations || rg.Merged != rh.Merged {
		t.Errorf("git: edits %q, %d iterations, %d nodes, %d evaluations; helios: %q, %d, %d, %d",
			rg.BestEdits, rg.Iterations, rg.Nodes, rg.Evaluations, rh.BestEdits, rh.Iterations, rh.Nodes, rh.Evaluations)
	}
	if rg.Backend != "git" || rh.Backend != "helios" || len(rg.BestCommit) != 40 || rh.BestCommit != "" {
		t.Errorf("backend fields: %q %q %q %q", rg.Backend, rg.BestCommit, rh.Backend, rh.BestCommit)
	}
	show := exec.Command("git", "--git-dir", g.Dir(), "show", "refs/heads/mcts/same/best:lib.sh")
	out, err := show.Output()
	if err != nil || !strings.Contains(string(out), "$((i <= n))") {
		t.Errorf("git show best:lib.sh: %v\n%s", err, out)
	}
	msg, err := exec.Command("git", "--git-dir", g.Dir(), "log", "-1", "--format=%B", rg.BestCommit).Output()
	if err != nil || !strings.Contains(string(msg), "score 1.000") {
		t.Errorf("git log: %v\n%s", err, msg)
	}
	if err := exec.Command("git", "--git-dir", g.Dir(), "fsck", "--strict").Run(); err != nil {
		t.Errorf("git fsck --strict: %v", err)
	}
}

// TestTimeBudgetShorterThanBaseTests: a budget that runs out while the
// base state's tests run still gives a report (the base evaluated, the
// search stopped by the budget), not an error.
func TestTimeBudgetShorterThanBaseTests(t *testing.T) {
	r := exampleSearch(t, memStore(t), Config{Run: "tb", Workers: 2, Seed: 1, TimeBudget: 20 * time.Millisecond,
		Test: eval.Config{Command: "sleep 0.2; sh test.sh"}})
	if r.Stop != "time budget" || r.Evaluations < 1 {
		t.Errorf("stop %q after %d evaluations, want the time budget after the base's", r.Stop, r.Evaluations)
	}
}
