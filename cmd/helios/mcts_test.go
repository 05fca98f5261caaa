package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/mcts"
	"github.com/helios-vcs/helios/objstore/server"
)

// eachServeMode runs test with the store opened in the test's process
// (--no-server, the tests' default) and through the store's server.
func eachServeMode(t *testing.T, test func(t *testing.T, served bool)) {
	t.Run("direct", func(t *testing.T) { test(t, false) })
	t.Run("served", func(t *testing.T) { useServer(t); test(t, true) })
}

// TestMCTSRunOnRocksDB: a real store, a real shell project with an
// off-by-one, `helios mcts run` finds the fix and writes the refs, with
// one audit record for them; served, through a server it leaves running.
func TestMCTSRunOnRocksDB(t *testing.T) { eachServeMode(t, testMCTSRun) }

func testMCTSRun(t *testing.T, served bool) {
	dir := t.TempDir()
	store, wt := filepath.Join(dir, "store"), filepath.Join(dir, "wt")
	os.MkdirAll(wt, 0o777)
	for p, c := range mcts.ExampleProject() {
		os.WriteFile(filepath.Join(wt, p), []byte(c), 0o644)
	}
	mustRun(t, "init", "--store", store)
	mustRun(t, "snapshot", "--store", store, "--dir", wt, "--ref", "main", "-m", "buggy")
	var before server.Status
	if served {
		t.Cleanup(func() { stopServe(t, store) })
		st, running := statusOf(t, store)
		if !running {
			t.Fatal("no server after a served snapshot")
		}
		before = st
	}
	out, stderr, err := run(t, "mcts", "run", "--store", store, "--ref", "main", "--test", "sh test.sh",
		"--workers", "2", "--seed", "11", "--iterations", "60", "--run", "fix", "--json")
	if err != nil {
		t.Fatalf("mcts run: %v\n%s", err, stderr)
	}
	var r struct {
		Run         string  `json:"run"`
		BestRef     string  `json:"best_ref"`
		BestState   string  `json:"best_state"`
		BestScore   float64 `json:"best_score"`
		Solved      bool    `json:"solved"`
		Iterations  int     `json:"iterations"`
		Evaluations int     `json:"evaluations"`
		ElapsedS    float64 `json:"elapsed_s"`
		Seed        uint64  `json:"seed"`
		Time        map[string]float64
		Top         []struct {
			Ref string `json:"ref"`
		} `json:"top"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !r.Solved || r.BestScore != 1 || r.Run != "fix" || r.BestRef != "refs/heads/mcts/fix/best" || r.Seed != 11 ||
		r.Iterations == 0 || r.Evaluations != r.Iterations+1 || r.ElapsedS <= 0 || len(r.Top) == 0 {
		t.Fatalf("report: %+v", r)
	}
	if served {
		// The search went through the server: it is the same process, and
		// it served the search's requests (one connection per worker).
		st, running := statusOf(t, store)
		if !running || st.PID != before.PID {
			t.Fatalf("server after the search: running %v, pid %d; want the one that ran before, pid %d", running, st.PID, before.PID)
		}
		if st.Connections < before.Connections+2 || st.Requests < before.Requests+r.Iterations {
			t.Errorf("server status %+v after the search, %+v before: want 2 more connections and a request per iteration at least", st, before)
		}
		if strings.Contains(stderr, "opening the store directly") {
			t.Errorf("the served search fell back to the database: %s", stderr)
		}
	}
	for _, k := range []string{"propose_s", "switch_s", "test_s", "store_s"} {
		if _, ok := r.Time[k]; !ok {
			t.Errorf("time breakdown lacks %s: %v", k, r.Time)
		}
	}
	if !strings.Contains(stderr, "seed 11") {
		t.Errorf("seed not printed: %q", stderr)
	}
	lib := mustRun(t, "show", "--store", store, "--ref", "mcts/fix/best", "lib.sh")
	if !strings.Contains(lib, "$((i <= n))") {
		t.Errorf("best lib.sh:\n%s", lib)
	}
	if log := mustRun(t, "log", "--store", store, "--ref", "mcts/fix/top-1"); !strings.Contains(log, "score 1.000") {
		t.Errorf("top-1 log:\n%s", log)
	}
	// The user's worktree is untouched.
	if b, _ := os.ReadFile(filepath.Join(wt, "lib.sh")); string(b) != mcts.ExampleProject()["lib.sh"] {
		t.Error("the worktree was modified")
	}

	// The run's audit record: one ref record, by this user, moving all its
	// result refs in one batch; the log verifies.
	if served {
		stopServe(t, store) // the audit commands open the database read-only
	}
	var records []recordJSON
	for _, line := range strings.Split(strings.TrimSpace(mustRun(t, "audit", "log", "--store", store, "--json")), "\n") {
		var rec recordJSON
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit log line %q: %v", line, err)
		}
		if rec.Event != audit.EventRef {
			continue
		}
		for _, c := range rec.Refs {
			if strings.HasPrefix(c.Name, "refs/heads/mcts/fix/") {
				records = append(records, rec)
				break
			}
		}
	}
	if len(records) != 1 {
		t.Fatalf("audit records of the run's refs: got %d, want 1: %+v", len(records), records)
	}
	moved := map[string]string{}
	for _, c := range records[0].Refs {
		moved[c.Name] = c.New
	}
	if records[0].Actor != localActor() || moved[r.BestRef] != r.BestState || len(moved) != 1+len(r.Top) {
		t.Errorf("audit record %+v: want %s moving %s to %s and the %d top refs in one batch", records[0], localActor(), r.BestRef, r.BestState, len(r.Top))
	}
	for _, top := range r.Top {
		if _, ok := moved[top.Ref]; !ok {
			t.Errorf("audit record lacks %s", top.Ref)
		}
	}
	if out := mustRun(t, "audit", "verify", "--store", store); !strings.HasSuffix(out, "ok\n") {
		t.Errorf("audit verify:\n%s", out)
	}

	// Text output, quiet.
	out, stderr, err = run(t, "mcts", "run", "--store", store, "--test", "sh test.sh", "--workers", "2", "--iterations", "60", "-q")
	if err != nil || out != "" || stderr != "" {
		t.Errorf("quiet run: %v %q %q", err, out, stderr)
	}
	out, _, err = run(t, "mcts", "run", "--store", store, "--test", "sh test.sh", "--seed", "1", "--algorithm", "puct", "--run", "p")
	if err != nil || !strings.Contains(out, "solved") || !strings.Contains(out, "refs/heads/mcts/p/best") || !strings.Contains(out, "ms/iteration") {
		t.Errorf("text run: %v\n%s", err, out)
	}
}

func TestMCTSErrors(t *testing.T) { eachServeMode(t, testMCTSErrors) }

func testMCTSErrors(t *testing.T, served bool) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	mustRun(t, "init", "--store", store)
	if served {
		t.Cleanup(func() { stopServe(t, store) })
	}
	for _, args := range [][]string{
		{"mcts", "run", "--store", store, "--test", "true"},                                         // no main
		{"mcts", "run", "--store", filepath.Join(dir, "none"), "--test", "true"},                    // no store
		{"mcts", "run", "--store", store, "--test", "true", "--algorithm", "x"},                     // bad algorithm
		{"mcts", "run", "--store", store, "--test", "true", "--proposer", "nope", "--ref", "b3:00"}, // bad ref
		{"mcts", "ab", "--a", "--bogus", "--b", ""},
		{"mcts", "ab", "--a", "", "--b", "--algorithm x"},
		{"mcts", "ab", "--a", "", "--b", "", "--tasks", filepath.Join(dir, "none")},
		{"mcts", "ab", "--a", "", "--b", "", "--only", "no-such-task"},
	} {
		if _, _, err := run(t, args...); err == nil {
			t.Errorf("helios %s succeeded", strings.Join(args, " "))
		}
	}
}

func TestMCTSAB(t *testing.T) {
	dir := t.TempDir()
	task := filepath.Join(dir, "tasks", "offbyone")
	os.MkdirAll(filepath.Join(task, "repo"), 0o777)
	for p, c := range mcts.ExampleProject() {
		os.WriteFile(filepath.Join(task, "repo", p), []byte(c), 0o644)
	}
	os.WriteFile(filepath.Join(task, "repo", "heldout.sh"), []byte(". ./lib.sh\n[ \"$(sum_to 4)\" = 10 ]\n"), 0o644)
	os.WriteFile(filepath.Join(task, "task.json"), []byte(`{"test": "sh test.sh", "heldout": "sh heldout.sh"}`), 0o644)
	out, stderr, err := run(t, "mcts", "ab", "--tasks", filepath.Join(dir, "tasks"), "--a", "--iterations 60", "--b", "--iterations 60 --backend git", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var rep mcts.ABReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Pairs != 1 || rep.A.Verified != 1 || rep.B.Verified != 1 || rep.Both != 1 || rep.SignP != 1 {
		t.Errorf("report: %+v", rep)
	}
	// The same seed, the same search on either backend.
	if len(rep.Trials) != 2 || rep.Trials[0].Iters != rep.Trials[1].Iters || rep.Trials[0].Evals != rep.Trials[1].Evals {
		t.Errorf("helios and git trials differ: %+v", rep.Trials)
	}
	out, _, err = run(t, "mcts", "ab", "--tasks", filepath.Join(dir, "tasks"), "--a", "--iterations 1", "--b", "--iterations 60", "-q")
	if err != nil || !strings.Contains(out, "1 tasks × 1 seeds = 1 pairs") || !strings.Contains(out, "sign test") {
		t.Errorf("text: %v\n%s", err, out)
	}
}

// TestMCTSRunGitBackend: the same command on a real git repository with
// --backend git; the fix comes back as refs/heads/mcts/<run>/best in that
// repository, and the user's worktree and index are left alone.
func TestMCTSRunGitBackend(t *testing.T) {
	repo := t.TempDir()
	for p, c := range mcts.ExampleProject() {
		os.WriteFile(filepath.Join(repo, p), []byte(c), 0o644)
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-q", "-m", "buggy")
	head := strings.TrimSpace(git("rev-parse", "HEAD"))
	out, stderr, err := run(t, "mcts", "run", "--backend", "git", "--store", repo, "--ref", "HEAD", "--test", "sh test.sh",
		"--workers", "1", "--seed", "11", "--iterations", "60", "--run", "fix", "--json")
	if err != nil {
		t.Fatalf("mcts run --backend git: %v\n%s", err, stderr)
	}
	var r mcts.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !r.Solved || r.Backend != "git" || len(r.BestCommit) != 40 || r.Seed != 11 {
		t.Fatalf("report: %+v", r)
	}
	if got := strings.TrimSpace(git("rev-parse", "refs/heads/mcts/fix/best")); got != r.BestCommit {
		t.Errorf("best ref: got %s, want %s", got, r.BestCommit)
	}
	if lib := git("show", "mcts/fix/best:lib.sh"); !strings.Contains(lib, "$((i <= n))") {
		t.Errorf("best lib.sh:\n%s", lib)
	}
	if parent := strings.TrimSpace(git("rev-parse", "mcts/fix/best^")); parent != head {
		t.Errorf("best's parent: got %s, want HEAD %s", parent, head)
	}
	if st := git("status", "--porcelain"); st != "" || strings.TrimSpace(git("rev-parse", "HEAD")) != head {
		t.Errorf("the worktree changed:\n%s", st)
	}
	git("fsck", "--strict")
	out, _, err = run(t, "mcts", "run", "--backend", "git", "--store", repo, "--test", "sh test.sh", "--seed", "1", "--ref", "HEAD")
	if err != nil || !strings.Contains(out, "solved") {
		t.Errorf("text run: %v\n%s", err, out)
	}
	if _, _, err := run(t, "mcts", "run", "--backend", "svn", "--store", repo, "--test", "sh test.sh"); err == nil {
		t.Error("--backend svn accepted")
	}
	if _, _, err := run(t, "mcts", "run", "--backend", "git", "--store", t.TempDir(), "--test", "sh test.sh"); err == nil {
		t.Error("--backend git on a directory that is not a repository succeeded")
	}
}
