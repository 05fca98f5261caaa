// Package eval runs a search's test command on states and turns the
// outcome into a reward. See the documentation of package mcts for the
// rules; this package holds the scratch checkouts, the runner, the result
// cache and the output parsers.
package eval

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/helios-vcs/helios/objstore"
)

// Switcher moves a directory between states, writing only what differs
// (objstore.Store.Checkout). An empty or missing directory is filled.
type Switcher interface {
	Checkout(dir string, to objstore.ID, o objstore.CheckoutOptions) (objstore.MaterializeStats, error)
}

// Config says how to test a state.
type Config struct {
	// Command is run with "sh -c" in the scratch checkout.
	Command string
	// Timeout bounds one run. Zero: the first run (the baseline) gets
	// FirstTimeout and later runs 5× its duration, at least 1 s.
	Timeout      time.Duration
	FirstTimeout time.Duration // default 10 min
	// JUnit, if set, is a JUnit XML file (relative to the checkout) that
	// the command writes and that is read instead of its output.
	JUnit string
	// Env is added to the environment of the command.
	Env []string
	// Dir is where the scratch checkouts go (default the system temp dir).
	Dir string
	// Penalty is what each newly broken test costs, in passing tests
	// (default 1).
	Penalty float64
}

// Result is the outcome of testing one tree.
type Result struct {
	Tree   objstore.ID
	Reward float64 // 0..1
	// Solved: the command exited 0, and no test failed.
	Solved bool
	// Format is the parser that read the output ("" when the reward came
	// from the exit status alone).
	Format                 string
	Passed, Failed, Broken int
	Tests                  map[string]bool
	Failing                []string
	ExitCode               int
	TimedOut               bool
	// Output is what a proposer should read: the failing tests' output, or
	// the tail of the command's output.
	Output string
	// Switch, Test and Score are the time spent moving the checkout,
	// running the command, and reading its output into the reward; zero
	// for a cached result.
	Switch, Test, Score time.Duration
	Cached              bool
	complete            bool
}

type cacheKey struct {
	tree objstore.ID
	cmd  string
}

// Evaluator tests states in scratch checkouts, one per worker, under a
// temporary directory that Close removes. It never touches any other
// directory. Safe for concurrent use by different workers; a worker
// number is used by one goroutine at a time.
type Evaluator struct {
	sw      Switcher
	cfg     Config
	base    string
	mu      sync.Mutex
	cache   map[cacheKey]*Result
	dirs    map[int]string
	remakes int
	first   *Result
	timeout time.Duration
	hits    int
}

// New makes an evaluator and its scratch directory.
func New(sw Switcher, cfg Config) (*Evaluator, error) {
	if strings.TrimSpace(cfg.Command) == "" {
		return nil, errors.New("mcts: no test command")
	}
	if cfg.FirstTimeout <= 0 {
		cfg.FirstTimeout = 10 * time.Minute
	}
	if cfg.Penalty == 0 {
		cfg.Penalty = 1
	}
	base, err := os.MkdirTemp(cfg.Dir, "helios-mcts-")
	if err != nil {
		return nil, fmt.Errorf("mcts: scratch: %w", err)
	}
	return &Evaluator{sw: sw, cfg: cfg, base: base, cache: map[cacheKey]*Result{}, dirs: map[int]string{}, timeout: cfg.Timeout}, nil
}

// Close removes the scratch checkouts.
func (e *Evaluator) Close() error { return os.RemoveAll(e.base) }

// Dir returns the scratch directory of a worker (for tests and logs).
func (e *Evaluator) Dir(worker int) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.dirs[worker]
	if !ok {
		d = filepath.Join(e.base, fmt.Sprintf("w%d", worker))
		e.dirs[worker] = d
	}
	return d
}

// Timeout is the current per-run limit.
func (e *Evaluator) Timeout() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.timeout > 0 {
		return e.timeout
	}
	return e.cfg.FirstTimeout
}

// CacheHits counts results served from the cache.
func (e *Evaluator) CacheHits() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hits
}

// Eval tests state (whose root tree is tree) in worker's checkout. The
// first result becomes the baseline that later results are compared with
// (tests it passed that now fail are "broken"). An error means the
// evaluator could not run the test at all; a failing, crashing or hanging
// test is a Result.
func (e *Evaluator) Eval(ctx context.Context, worker int, state, tree objstore.ID) (*Result, error) {
	key := cacheKey{tree, e.cfg.Command + "\x00" + e.cfg.JUnit}
	e.mu.Lock()
	if r, ok := e.cache[key]; ok {
		e.hits++
		e.mu.Unlock()
		c := *r
		c.Cached, c.Switch, c.Test, c.Score = true, 0, 0, 0
		return &c, nil
	}
	e.mu.Unlock()
	dir := e.Dir(worker)
	t0 := time.Now()
	if _, err := e.sw.Checkout(dir, state, objstore.CheckoutOptions{Force: true}); err != nil {
		// The test may have left files where this state has some: start
		// this worker over in a fresh directory.
		e.mu.Lock()
		e.remakes++
		dir = filepath.Join(e.base, fmt.Sprintf("w%d-%d", worker, e.remakes))
		e.dirs[worker] = dir
		e.mu.Unlock()
		if _, err2 := e.sw.Checkout(dir, state, objstore.CheckoutOptions{Force: true}); err2 != nil {
			return nil, fmt.Errorf("mcts: scratch checkout of %v: %w", state, errors.Join(err, err2))
		}
	}
	switchTime := time.Since(t0)
	timeout := e.Timeout()
	out, code, timedOut, testTime, err := e.run(ctx, dir, timeout)
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	r := &Result{Tree: tree, ExitCode: code, TimedOut: timedOut, Switch: switchTime, Test: testTime}
	var rep Report
	var parsed bool
	if e.cfg.JUnit != "" {
		if b, err := os.ReadFile(filepath.Join(dir, e.cfg.JUnit)); err == nil {
			if rep, err = ParseJUnit(b); err == nil {
				parsed = true
			}
		}
	} else {
		rep, parsed = Parse(out)
	}
	e.mu.Lock()
	first := e.first
	e.mu.Unlock()
	e.score(r, rep, parsed, out, first)
	r.Score = time.Since(t1)
	e.mu.Lock()
	if e.first == nil {
		e.first = r
		if e.cfg.Timeout <= 0 {
			e.timeout = max(5*testTime, time.Second)
		}
	}
	e.cache[key] = r
	e.mu.Unlock()
	return r, nil
}

// score sets the reward. With parsed output: the share of tests passing,
// minus Penalty for every test the baseline passed that fails now or is
// gone, over the larger of this run's and the baseline's test count. A
// non-zero exit with no failing test counts one failure. Without: 1 for
// exit status 0, else 0. A timeout scores 0.
func (e *Evaluator) score(r *Result, rep Report, parsed bool, out []byte, base *Result) {
	r.Output = rep.Text
	if r.Output == "" || !parsed {
		r.Output = tail(out, 8<<10)
	} else if len(r.Output) > 32<<10 {
		r.Output = r.Output[len(r.Output)-32<<10:]
	}
	if r.TimedOut {
		r.Output = fmt.Sprintf("timed out after %v\n%s", e.Timeout(), r.Output)
		return
	}
	if !parsed {
		if r.ExitCode == 0 {
			r.Reward, r.Solved = 1, true
		}
		return
	}
	r.Format = rep.Format
	r.Tests = rep.Tests
	r.Passed, r.Failed = rep.Passed, rep.Failed
	// Names are complete when every counted test is named; only then can
	// a test be missed.
	r.complete = len(rep.Tests) > 0 && len(rep.Tests) == rep.Passed+rep.Failed
	if base != nil && base.Tests != nil {
		for name, ok := range base.Tests {
			now, present := r.Tests[name]
			switch {
			case ok && present && !now:
				r.Broken++
			case !present && base.complete && r.complete:
				r.Failed++ // gone: a build failure, a crash
				if ok {
					r.Broken++
				}
			}
		}
	}
	if r.ExitCode != 0 && r.Failed == 0 {
		r.Failed = 1
	}
	r.Failing = rep.Failing()
	total := r.Passed + r.Failed
	if base != nil && base.Passed+base.Failed > total {
		total = base.Passed + base.Failed
	}
	if total > 0 {
		r.Reward = (float64(r.Passed) - e.cfg.Penalty*float64(r.Broken)) / float64(total)
	}
	r.Reward = min(max(r.Reward, 0), 1)
	r.Solved = r.ExitCode == 0 && r.Failed == 0 && r.Passed > 0
	if r.Solved {
		r.Reward = 1
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// run runs the command in dir and returns its combined output (the last
// 16 MiB), exit code, and whether it was killed at the timeout. The whole
// process group is killed, so a test's children go too.
func (e *Evaluator) run(ctx context.Context, dir string, timeout time.Duration) ([]byte, int, bool, time.Duration, error) {
	if e.cfg.JUnit != "" {
		os.Remove(filepath.Join(dir, e.cfg.JUnit))
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", e.cfg.Command)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), e.cfg.Env...)
	cmd.Env = append(cmd.Env, "HELIOS_MCTS=1")
	var buf capped
	buf.max = 16 << 20
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // stragglers
	}
	if parent.Err() != nil {
		return nil, 0, false, d, fmt.Errorf("mcts: test run: %w", parent.Err())
	}
	if ctx.Err() != nil {
		return buf.Bytes(), -1, true, d, nil
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return buf.Bytes(), 0, false, d, nil
	case errors.As(err, &ee):
		return buf.Bytes(), ee.ExitCode(), false, d, nil
	case errors.Is(err, exec.ErrWaitDelay):
		return buf.Bytes(), 0, false, d, nil
	default:
		return nil, 0, false, d, fmt.Errorf("mcts: test run: %w", err)
	}
}

// capped keeps the last max bytes written to it.
type capped struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.b = append(c.b, p...)
	if len(c.b) > c.max {
		c.b = append(c.b[:0:0], c.b[len(c.b)-c.max:]...)
	}
	return len(p), nil
}

func (c *capped) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b
}
