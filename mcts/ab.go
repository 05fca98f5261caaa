package mcts

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/helios-vcs/helios/mcts/eval"
	"github.com/helios-vcs/helios/mcts/propose"
	"github.com/helios-vcs/helios/objstore"
)

// ABConfig is one arm of an A/B run: search settings and a proposer.
type ABConfig struct {
	Name            string
	Search          Config
	Proposer        string
	ProposerOptions ProposerOptions
}

// AB runs two configurations on every task of a suite with the same seeds
// (seeds 1..Seeds), paired: each task and seed is one pair. Each trial gets
// a fresh store in a temporary directory: from Open for the Helios
// backend, a new bare repository for --backend git. Each arm has its own
// cache directory for the run (XDG_CACHE_HOME and GOCACHE of the test
// commands), so the second arm does not run on the first one's builds;
// before a task's first trial each arm runs its test command once, untimed,
// in a copy of the task (a warm-up: build caches, the standard library's
// test dependencies for Go), so that no trial pays for a cold cache.
type AB struct {
	A, B  ABConfig
	Seeds int
	Open  func(dir string) (*objstore.Store, error)
	Log   io.Writer

	cacheEnv map[string][]string
}

// Trial is one search of one arm on one task and seed.
type Trial struct {
	Task      string  `json:"task"`
	Seed      uint64  `json:"seed"`
	Arm       string  `json:"arm"`
	Plausible bool    `json:"plausible"`
	Verified  bool    `json:"verified"`
	BestScore float64 `json:"best_score"`
	SolvedS   float64 `json:"time_to_solution_s,omitempty"`
	ElapsedS  float64 `json:"elapsed_s"`
	Evals     int     `json:"evaluations"`
	Iters     int     `json:"iterations"`
	// OverheadMS is the time per iteration outside the test runs; SwitchMS
	// and StoreMS are its parts moving checkouts and making states.
	OverheadMS float64 `json:"overhead_ms_per_iteration"`
	SwitchMS   float64 `json:"switch_ms_per_iteration"`
	StoreMS    float64 `json:"store_ms_per_iteration"`
	// FixedMS is the once-per-search time outside the tests: reading the
	// base, writing the results.
	FixedMS float64 `json:"fixed_ms"`
	Error   string  `json:"error,omitempty"`
}

// Arm summarizes one configuration.
type Arm struct {
	Config       string  `json:"config"`
	N            int     `json:"n"`
	Plausible    int     `json:"plausible"`
	Verified     int     `json:"verified"`
	SuccessScore float64 `json:"success_score"`
	WilsonLow    float64 `json:"wilson_low"`
	WilsonHigh   float64 `json:"wilson_high"`
	MedianSolveS float64 `json:"median_time_to_solution_s"`
	MeanEvals    float64 `json:"mean_evaluations"`
	ItersPerS    float64 `json:"iterations_per_s"`
	// Per iteration, over all trials: overhead outside the tests, and its
	// switch and store parts.
	OverheadMS float64 `json:"overhead_ms_per_iteration"`
	SwitchMS   float64 `json:"switch_ms_per_iteration"`
	StoreMS    float64 `json:"store_ms_per_iteration"`
	// FixedMS is the mean once-per-search time outside the tests.
	FixedMS float64 `json:"fixed_ms_per_search"`
}

// ABReport is the outcome of an A/B run.
type ABReport struct {
	Tasks  int     `json:"tasks"`
	Seeds  int     `json:"seeds"`
	Pairs  int     `json:"pairs"`
	A      Arm     `json:"a"`
	B      Arm     `json:"b"`
	OnlyA  int     `json:"only_a"`
	OnlyB  int     `json:"only_b"`
	Both   int     `json:"both"`
	SignP  float64 `json:"sign_test_p"`
	Trials []Trial `json:"trials"`
}

// Run runs every pair and summarizes.
func (ab *AB) Run(ctx context.Context, tasks []Task) (*ABReport, error) {
	rep := &ABReport{Tasks: len(tasks), Seeds: ab.Seeds}
	// Each arm keeps its own build caches for the run, so that neither
	// tests what the other compiled (go test would otherwise find B's
	// mutants already built by A).
	caches, err := os.MkdirTemp("", "helios-ab-cache-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(caches)
	ab.cacheEnv = map[string][]string{}
	for _, arm := range []string{"a", "b"} {
		d := filepath.Join(caches, arm)
		ab.cacheEnv[arm] = []string{"XDG_CACHE_HOME=" + d, "GOCACHE=" + filepath.Join(d, "go-build")}
	}
	var as, bs []Trial
	for _, t := range tasks {
		for _, arm := range []string{"a", "b"} {
			if err := ab.warmUp(ctx, t, arm); err != nil {
				return nil, err
			}
		}
		for seed := uint64(1); seed <= uint64(ab.Seeds); seed++ {
			ta, err := ab.trial(ctx, t, seed, "a", ab.A)
			if err != nil {
				return nil, err
			}
			tb, err := ab.trial(ctx, t, seed, "b", ab.B)
			if err != nil {
				return nil, err
			}
			as, bs = append(as, ta), append(bs, tb)
			rep.Trials = append(rep.Trials, ta, tb)
			switch {
			case ta.Verified && tb.Verified:
				rep.Both++
			case ta.Verified:
				rep.OnlyA++
			case tb.Verified:
				rep.OnlyB++
			}
		}
	}
	rep.Pairs = len(as)
	rep.A, rep.B = summarize(ab.A.Name, as), summarize(ab.B.Name, bs)
	rep.SignP = SignTest(rep.OnlyA, rep.OnlyB)
	return rep, nil
}

func (ab *AB) trial(ctx context.Context, t Task, seed uint64, arm string, c ABConfig) (Trial, error) {
	tr := Trial{Task: t.Name, Seed: seed, Arm: arm}
	tmp, err := os.MkdirTemp("", "helios-ab-")
	if err != nil {
		return tr, err
	}
	defer os.RemoveAll(tmp)
	var s Backend
	switch c.Search.Backend {
	case "", "helios":
		st, err := ab.Open(filepath.Join(tmp, "store"))
		if err != nil {
			return tr, fmt.Errorf("mcts: ab: %w", err)
		}
		s = Objstore{Store: st}
	case "git":
		g, err := InitGit(filepath.Join(tmp, "repo.git"))
		if err != nil {
			return tr, fmt.Errorf("mcts: ab: %w", err)
		}
		s = g
	default:
		return tr, fmt.Errorf("mcts: ab: unknown backend %q", c.Search.Backend)
	}
	defer s.Close()
	base, err := s.ImportDir(filepath.Join(t.Dir, "repo"), "task "+t.Name)
	if err != nil {
		return tr, err
	}
	p, err := NewProposer(c.Proposer, c.ProposerOptions)
	if err != nil {
		return tr, err
	}
	if cl, ok := p.(propose.Closer); ok {
		defer cl.Close()
	}
	cfg := c.Search
	cfg.Base, cfg.Seed, cfg.Proposer, cfg.ProposerName = base, seed, p, c.Proposer
	cfg.Run = fmt.Sprintf("ab-%s-s%d", arm, seed)
	cfg.Test = eval.Config{Command: t.Test, JUnit: t.JUnit, Dir: tmp, Env: ab.cacheEnv[arm]}
	cfg.Files = t.Files
	search, err := NewSearch(s, cfg)
	if err != nil {
		return tr, err
	}
	r, err := search.Run(ctx)
	if err != nil {
		tr.Error = err.Error()
		ab.logf("%s seed %d %s: %v\n", t.Name, seed, arm, err)
		return tr, nil
	}
	tr.Plausible, tr.BestScore, tr.ElapsedS, tr.Evals, tr.Iters = r.Solved, r.BestScore, r.ElapsedS, r.Evaluations, r.Iterations
	if r.Iterations > 0 {
		n := float64(r.Iterations)
		tr.OverheadMS, tr.SwitchMS, tr.StoreMS = r.OverheadMSPer, r.Time.SwitchS*1000/n, r.Time.StoreS*1000/n
	}
	tr.FixedMS = (r.Time.SetupS + r.Time.ResultsS) * 1000
	if r.Solved {
		tr.SolvedS = r.FirstSolvedS
		if t.Heldout == "" {
			tr.Verified = true
		} else {
			st, err := s.State(r.BestState)
			if err != nil {
				return tr, err
			}
			ev, err := eval.New(s, eval.Config{Command: t.Heldout, Dir: tmp, Env: ab.cacheEnv[arm]})
			if err != nil {
				return tr, err
			}
			res, err := ev.Eval(ctx, 0, r.BestState, st.Root)
			ev.Close()
			if err != nil {
				return tr, err
			}
			tr.Verified = res.Solved
		}
	}
	ab.logf("%s seed %d %s: plausible %v, verified %v, %d evaluations, %.2fs\n", t.Name, seed, arm, tr.Plausible, tr.Verified, tr.Evals, tr.ElapsedS)
	return tr, nil
}

// warmUp runs t's test command once in a copy of its repository with
// arm's caches; the outcome does not matter.
func (ab *AB) warmUp(ctx context.Context, t Task, arm string) error {
	tmp, err := os.MkdirTemp("", "helios-ab-warm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.CopyFS(tmp, os.DirFS(filepath.Join(t.Dir, "repo"))); err != nil {
		return fmt.Errorf("mcts: ab: warm-up of %q: %w", t.Name, err)
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", t.Test)
	cmd.Dir = tmp
	cmd.Env = append(append(os.Environ(), ab.cacheEnv[arm]...), "HELIOS_MCTS=1")
	t0 := time.Now()
	cmd.Run()
	ab.logf("%s %s: warm-up %.2fs\n", t.Name, arm, time.Since(t0).Seconds())
	return ctx.Err()
}

func (ab *AB) logf(format string, args ...any) {
	if ab.Log != nil {
		fmt.Fprintf(ab.Log, "mcts ab: "+format, args...)
	}
}

func summarize(name string, ts []Trial) Arm {
	a := Arm{Config: name, N: len(ts)}
	var solve []float64
	evals, iters, secs := 0, 0, 0.0
	var over, sw, store, fixed float64
	for _, t := range ts {
		fixed += t.FixedMS
		over += t.OverheadMS * float64(t.Iters)
		sw += t.SwitchMS * float64(t.Iters)
		store += t.StoreMS * float64(t.Iters)
		if t.Plausible {
			a.Plausible++
			solve = append(solve, t.SolvedS)
		}
		if t.Verified {
			a.Verified++
		}
		evals += t.Evals
		iters += t.Iters
		secs += t.ElapsedS
	}
	if a.N > 0 {
		a.SuccessScore = float64(a.Verified) / float64(a.N)
		a.FixedMS = fixed / float64(a.N)
		a.MeanEvals = float64(evals) / float64(a.N)
	}
	if secs > 0 {
		a.ItersPerS = float64(iters) / secs
	}
	if iters > 0 {
		a.OverheadMS, a.SwitchMS, a.StoreMS = over/float64(iters), sw/float64(iters), store/float64(iters)
	}
	a.WilsonLow, a.WilsonHigh = Wilson(a.Verified, a.N)
	a.MedianSolveS = median(solve)
	return a
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Wilson returns the Wilson score 95% interval of k successes in n trials.
func Wilson(k, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	const z = 1.959963984540054
	p := float64(k) / float64(n)
	nn := float64(n)
	den := 1 + z*z/nn
	c := (p + z*z/(2*nn)) / den
	h := z * math.Sqrt(p*(1-p)/nn+z*z/(4*nn*nn)) / den
	return max(0, c-h), min(1, c+h)
}

// SignTest is the exact two-sided sign test (McNemar's exact test) on the
// discordant pairs: b pairs only A solved, c pairs only B solved.
func SignTest(b, c int) float64 {
	n := b + c
	if n == 0 {
		return 1
	}
	k := min(b, c)
	// P(X ≤ k) for X ~ Binomial(n, 1/2), doubled.
	p, term := 0.0, math.Pow(0.5, float64(n))
	for i := 0; i <= k; i++ {
		p += term
		term = term * float64(n-i) / float64(i+1)
	}
	return min(1, 2*p)
}

// WriteText prints the report for people.
func (r *ABReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "%d tasks × %d seeds = %d pairs\n", r.Tasks, r.Seeds, r.Pairs)
	for _, a := range []struct {
		label string
		arm   Arm
	}{{"A", r.A}, {"B", r.B}} {
		fmt.Fprintf(w, "%s %q: SuccessScore %.2f [%.2f, %.2f] (%d/%d verified, %d plausible), median time to solution %.2fs, %.1f evaluations, %.1f iterations/s, overhead %.2f ms/iteration (switch %.2f, store %.2f) + %.1f ms per search\n",
			a.label, a.arm.Config, a.arm.SuccessScore, a.arm.WilsonLow, a.arm.WilsonHigh, a.arm.Verified, a.arm.N, a.arm.Plausible,
			a.arm.MedianSolveS, a.arm.MeanEvals, a.arm.ItersPerS, a.arm.OverheadMS, a.arm.SwitchMS, a.arm.StoreMS, a.arm.FixedMS)
	}
	fmt.Fprintf(w, "pairs: both %d, only A %d, only B %d; exact sign test p = %.3g\n", r.Both, r.OnlyA, r.OnlyB, r.SignP)
}
