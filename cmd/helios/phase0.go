//go:build !thin

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/helios-vcs/helios/objstore/objbench"
	"github.com/urfave/cli/v2"
)

// helios phase0 is the go/no-go table the project was planned around: each
// criterion measured here and now, with its target and a verdict. A
// criterion that was not measured (its part is not built yet, it cannot be
// measured on this machine, or its measurement failed) says so and never
// passes.

// Phase-0 verdicts.
const (
	verdictPass        = "pass"
	verdictFail        = "fail"
	verdictNotMeasured = "not measured"
	verdictNotBuilt    = "not built yet"
	verdictCannot      = "cannot be measured here"
)

// phase0Row is one criterion.
type phase0Row struct {
	Criterion string `json:"criterion"`
	Target    string `json:"target"`
	Measured  string `json:"measured"`
	Verdict   string `json:"verdict"`
	// Value is the figure the verdict was made on (absent when not measured).
	Value *float64 `json:"value,omitempty"`
	Note  string   `json:"note,omitempty"`
	How   string   `json:"how"`
}

type phase0Report struct {
	Machine hostInfo    `json:"machine"`
	When    time.Time   `json:"when"`
	Rows    []phase0Row `json:"criteria"`
	Passed  int         `json:"passed"`
	Go      bool        `json:"go"`
}

type phase0Options struct {
	json       bool
	skip       map[string]bool
	ioN        int
	ioFiles    int // files in io-report's generated tree (0: its default)
	coverFile  string
	heliosBin  string
	abA, abB   string
	abSeeds    int
	moduleRoot string // "" to find it from the working directory
}

func phase0Command() *cli.Command {
	return &cli.Command{
		Name:  "phase0",
		Usage: "the Phase-0 go/no-go table: each decision criterion measured on this machine (make phase0)",
		UsageText: "helios phase0 [--json] [--skip io,coverage,gates,mcts] [--cover-profile cover.out]\n" +
			"(what `helios bench --phase0` was planned to be)",
		Flags: []cli.Flag{jsonFlag,
			&cli.StringFlag{Name: "skip", Usage: "comma-separated criteria to leave unmeasured: commit, io, blake3, l1, rocksdb, materialize, coverage, gates, mcts"},
			&cli.IntFlag{Name: "io-n", Value: 100, Usage: "steps of the io-report edits workload"},
			&cli.StringFlag{Name: "cover-profile", Usage: "take coverage from this profile (go test -coverpkg=./... -coverprofile) instead of running the tests"},
			&cli.StringFlag{Name: "helios", Usage: "helios binary for io-report's CLI side (default: this one, or helios on PATH)"},
			&cli.StringFlag{Name: "ab-a", Usage: "search flags of arm A for mcts ab"},
			&cli.StringFlag{Name: "ab-b", Usage: "search flags of arm B (the one judged) for mcts ab"},
			&cli.IntFlag{Name: "ab-seeds", Value: 2, Usage: "seeds per builtin task for mcts ab (20 tasks × 2 = 40 pairs ≥ 30)"},
		},
		Action: func(c *cli.Context) error {
			o := phase0Options{json: c.Bool("json"), skip: map[string]bool{}, ioN: c.Int("io-n"), coverFile: c.String("cover-profile"),
				heliosBin: c.String("helios"), abA: c.String("ab-a"), abB: c.String("ab-b"), abSeeds: c.Int("ab-seeds")}
			for _, s := range strings.Split(c.String("skip"), ",") {
				if s = strings.TrimSpace(s); s != "" {
					o.skip[s] = true
				}
			}
			return runPhase0(c.Context, o, defaultPhase0Probes(c.App), c.App.Writer, c.App.ErrWriter)
		},
	}
}

// phase0Probes are the measurements, injected so tests can stand in for
// the slow ones. Each returns the figure or an error saying why there is
// none; errNotBuilt and errCannotMeasure mark the two kinds of absence.
type phase0Probes struct {
	commitP95us   func() (float64, error)
	ioReduction   func(o phase0Options, stderr io.Writer) (float64, string, error)
	blake3GBps    func() (float64, error)
	l1HitP95us    func() (float64, error)
	rocksP95us    func() (put, putSync float64, err error)
	materializeUs func() (float64, error)
	coverage      func(ctx context.Context, o phase0Options, stderr io.Writer) (float64, string, error)
	script        func(ctx context.Context, root, name string) (string, error)
	successScore  func(ctx context.Context, o phase0Options, stderr io.Writer) (float64, string, error)
}

var (
	errNotBuilt      = errors.New("not built yet")
	errCannotMeasure = errors.New("cannot be measured here")
	errSkipped       = errors.New("skipped (--skip)")
)

func defaultPhase0Probes(app *cli.App) phase0Probes {
	return phase0Probes{
		commitP95us: func() (float64, error) {
			r, err := objbench.Commit(1000, 5000, 1, false)
			return r.P95us, err
		},
		ioReduction: probeIOReduction,
		blake3GBps: func() (float64, error) {
			t := objbench.BLAKE3([]int{64 << 10}, 500*time.Millisecond)
			return t[0].GBps, nil
		},
		l1HitP95us: func() (float64, error) { return objbench.CacheHit(20000).P95us, nil },
		rocksP95us: func() (float64, float64, error) {
			r, err := objbench.KV(2000)
			return r.Put.P95us, r.PutSync.P95us, err
		},
		materializeUs: func() (float64, error) {
			r, err := objbench.Worktree(100, 100)
			return r.Materialize.P95us, err
		},
		coverage: probeCoverage,
		script:   probeScript,
		successScore: func(ctx context.Context, o phase0Options, stderr io.Writer) (float64, string, error) {
			return probeSuccess(ctx, app, o, func(args []string, stdout io.Writer) error {
				return newApp(stdout, stderr).RunContext(ctx, args)
			})
		},
	}
}

func runPhase0(ctx context.Context, o phase0Options, p phase0Probes, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.moduleRoot == "" {
		o.moduleRoot = findModuleRoot()
	}
	rep := phase0Report{Machine: thisHost(), When: time.Now().UTC().Truncate(time.Second)}
	progress := func(s string) { fmt.Fprintf(stderr, "phase0: %s\n", s) }
	add := func(r phase0Row) { rep.Rows = append(rep.Rows, r) }
	// below / above make a row from a figure and a threshold.
	judge := func(key string, r phase0Row, v float64, err error, ok func(float64) bool, format string) phase0Row {
		switch {
		case o.skip[key]:
			r.Verdict, r.Measured = verdictNotMeasured, "skipped (--skip "+key+")"
		case errors.Is(err, errNotBuilt):
			r.Verdict, r.Measured = verdictNotBuilt, "—"
			r.Note = err.Error()
		case errors.Is(err, errCannotMeasure):
			r.Verdict, r.Measured = verdictCannot, "—"
			r.Note = err.Error()
		case err != nil:
			r.Verdict, r.Measured = verdictNotMeasured, "error"
			r.Note = err.Error()
		default:
			r.Measured = fmt.Sprintf(format, v)
			r.Value = &v
			r.Verdict = verdictFail
			if ok(v) {
				r.Verdict = verdictPass
			}
		}
		return r
	}
	run := func(key, what string, f func() (float64, error)) (float64, error) {
		if o.skip[key] {
			return 0, errSkipped
		}
		progress(what)
		return f()
	}

	v, err := run("commit", "state commit (objbench.Commit, 1,000 files, 5,000 commits)", p.commitP95us)
	add(judge("commit", phase0Row{Criterion: "state commit P95", Target: "< 70 µs", How: "objbench.Commit: 1 file changed in a 1,000-file tree, WAL, no fsync, 5,000 commits"},
		v, err, func(v float64) bool { return v < 70 }, "%.1f µs"))

	var ioNote string
	v, err = run("io", fmt.Sprintf("I/O reduction (io-report --workload edits --n %d)", o.ioN), func() (float64, error) {
		r, note, err := p.ioReduction(o, stderr)
		ioNote = note
		return r, err
	})
	row := judge("io", phase0Row{Criterion: "I/O reduction vs git", Target: "> 99%",
		How: fmt.Sprintf("helios io-report --workload edits --n %d --no-trace: write_bytes of helios snapshot (CLI, RocksDB flush and compaction counted) vs git commit -a", o.ioN)},
		100*v, err, func(v float64) bool { return v > 99 }, "%.1f%%")
	if ioNote != "" {
		row.Note = strings.TrimPrefix(row.Note+"; "+ioNote, "; ")
	}
	add(row)

	v, err = run("blake3", "BLAKE3", p.blake3GBps)
	add(judge("blake3", phase0Row{Criterion: "BLAKE3 throughput", Target: "1-3 GB/s (at least 1)", How: "objbench.BLAKE3 at 64 KiB, one core"},
		v, err, func(v float64) bool { return v >= 1 }, "%.2f GB/s"))

	v, err = run("l1", "L1 hit", p.l1HitP95us)
	add(judge("l1", phase0Row{Criterion: "L1 cache hit", Target: "< 10 µs", How: "objbench.CacheHit, P95 of batches of 100 lookups"},
		v, err, func(v float64) bool { return v < 10 }, "%.3f µs P95"))

	var putSync float64
	v, err = run("rocksdb", "RocksDB write", func() (float64, error) {
		put, ps, err := p.rocksP95us()
		putSync = ps
		return max(put, ps), err
	})
	row = judge("rocksdb", phase0Row{Criterion: "RocksDB write", Target: "< 5 ms", How: "objbench.KV: 1 KiB puts, P95 of the slower of WAL-only and fsync'd"},
		v/1e3, err, func(v float64) bool { return v < 5 }, "%.3f ms P95")
	if row.Value != nil {
		row.Note = fmt.Sprintf("fsync'd put P95 %.3f ms", putSync/1e3)
	}
	add(row)

	v, err = run("materialize", "small materialize", p.materializeUs)
	add(judge("materialize", phase0Row{Criterion: "small materialize", Target: "< 5 ms", How: "objbench.Worktree: materialize 100 files of 2 KiB into an empty directory, P95"},
		v/1e3, err, func(v float64) bool { return v < 5 }, "%.2f ms P95"))

	var covNote string
	v, err = run("coverage", "coverage (go test -coverpkg=./... over the module)", func() (float64, error) {
		c, note, err := p.coverage(ctx, o, stderr)
		covNote = note
		return c, err
	})
	row = judge("coverage", phase0Row{Criterion: "test coverage", Target: "> 85%", How: "go test -coverpkg=./... -coverprofile over the module, go tool cover -func total"},
		v, err, func(v float64) bool { return v > 85 }, "%.1f%%")
	if covNote != "" {
		row.Note = strings.TrimPrefix(row.Note+"; "+covNote, "; ")
	}
	add(row)

	for _, g := range []struct{ name, script, target string }{
		{"licence gate", "licence-check.sh", "no forbidden or unknown licence"},
		{"vulnerability gate", "vulncheck.sh", "no reachable known vulnerability"},
	} {
		r := phase0Row{Criterion: g.name, Target: g.target, How: "scripts/" + g.script}
		switch {
		case o.skip["gates"]:
			r.Verdict, r.Measured = verdictNotMeasured, "skipped (--skip gates)"
		default:
			progress(g.name)
			out, err := p.script(ctx, o.moduleRoot, g.script)
			switch {
			case errors.Is(err, errNotBuilt):
				r.Verdict, r.Measured, r.Note = verdictNotBuilt, "—", err.Error()
			case errors.Is(err, errCannotMeasure):
				r.Verdict, r.Measured, r.Note = verdictCannot, "—", err.Error()
			case err != nil:
				var ee *exec.ExitError
				if errors.As(err, &ee) && ee.ExitCode() == 1 || errors.As(err, &ee) && ee.ExitCode() == 3 {
					r.Verdict, r.Measured = verdictFail, fmt.Sprintf("exit %d", ee.ExitCode())
				} else {
					r.Verdict, r.Measured = verdictNotMeasured, "error"
				}
				r.Note = lastLine(out, err)
			default:
				r.Verdict, r.Measured, r.Note = verdictPass, "exit 0", lastLine(out, nil)
			}
		}
		add(r)
	}

	var abNote string
	v, err = run("mcts", "SuccessScore (helios mcts ab)", func() (float64, error) {
		s, note, err := p.successScore(ctx, o, stderr)
		abNote = note
		return s, err
	})
	row = judge("mcts", phase0Row{Criterion: "SuccessScore", Target: "> 0.8 over n = 30 paired A/B tasks",
		How: fmt.Sprintf("helios mcts ab --tasks builtin --seeds %d: arm B's success score", o.abSeeds)},
		v, err, func(v float64) bool { return v > 0.8 }, "%.3f")
	if abNote != "" {
		row.Note = strings.TrimPrefix(row.Note+"; "+abNote, "; ")
	}
	add(row)

	add(phase0Row{Criterion: "SPDK latency", Target: "(as planned)", Measured: "—", Verdict: verdictCannot,
		Note: "SPDK needs hugepages, vfio and an unbound NVMe device, none of which this machine has (nvme.Device is where an SPDK bdev would plug in)",
		How:  "—"})

	for _, r := range rep.Rows {
		if r.Verdict == verdictPass {
			rep.Passed++
		}
	}
	rep.Go = rep.Passed == len(rep.Rows)
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printPhase0(stdout, &rep)
	return nil
}

func printPhase0(w io.Writer, rep *phase0Report) {
	fmt.Fprintf(w, "Phase-0 go/no-go, %s\nmachine: %s (root filesystem %s)\n\n", rep.When.Format(time.RFC3339), rep.Machine, rep.Machine.FS)
	fmt.Fprintf(w, "%-22s %-36s %-18s %s\n", "criterion", "target", "measured", "verdict")
	for _, r := range rep.Rows {
		fmt.Fprintf(w, "%-22s %-36s %-18s %s\n", r.Criterion, r.Target, r.Measured, r.Verdict)
	}
	fmt.Fprintln(w)
	for _, r := range rep.Rows {
		if r.Note != "" {
			fmt.Fprintf(w, "%s: %s\n", r.Criterion, r.Note)
		}
	}
	verdict := "NO-GO"
	if rep.Go {
		verdict = "GO"
	}
	fmt.Fprintf(w, "\n%d of %d criteria passed: %s\n", rep.Passed, len(rep.Rows), verdict)
}

func lastLine(out string, err error) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if err != nil {
		if l == "" {
			return err.Error()
		}
		return fmt.Sprintf("%v: %s", err, l)
	}
	return l
}

// findModuleRoot walks up from the working directory to this module's
// go.mod; "" when helios runs outside its source tree.
func findModuleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			if strings.Contains(string(b), "module github.com/helios-vcs/helios\n") {
				return dir
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// probeIOReduction runs io-report's edits workload (no trace pass) and
// returns the CLI side's write_bytes reduction.
func probeIOReduction(o phase0Options, stderr io.Writer) (float64, string, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return 0, "", fmt.Errorf("%w: git is not installed", errCannotMeasure)
	}
	rep, err := measureIOReport(ioReportOptions{workload: "edits", n: o.ioN, seed: 1, noTrace: true, heliosBin: o.heliosBin, files: o.ioFiles}, stderr)
	if err != nil {
		return 0, "", err
	}
	var note []string
	// Not a sentinel value: a reduction of -1 (helios wrote twice git's
	// bytes, two pages against one on a tiny replay) is a measurement.
	red, found := 0.0, false
	for _, r := range rep.Reduction {
		note = append(note, fmt.Sprintf("%s %s (steps alone %s)", r.Side, less(r.WriteBytes), less(r.StepsWriteBytes)))
		if r.Side == sideHeliosCLI {
			red, found = r.WriteBytes, true
		}
	}
	if !found {
		return 0, "", errors.New("io-report has no helios-cli side")
	}
	return red, "write_bytes: " + strings.Join(note, ", "), nil
}

// probeCoverage runs the module's tests with coverage (or reads a given
// profile) and returns the total statement coverage in percent.
func probeCoverage(ctx context.Context, o phase0Options, stderr io.Writer) (float64, string, error) {
	if o.moduleRoot == "" && o.coverFile == "" {
		return 0, "", fmt.Errorf("%w: not run from a helios source tree (or give --cover-profile)", errCannotMeasure)
	}
	profile, note := o.coverFile, ""
	if profile == "" {
		f, err := os.CreateTemp("", "helios-phase0-cover-")
		if err != nil {
			return 0, "", err
		}
		f.Close()
		defer os.Remove(f.Name())
		profile = f.Name()
		cmd := exec.CommandContext(ctx, "go", "test", "-timeout", "45m", "-coverpkg=./...", "-coverprofile="+profile, "./...")
		cmd.Dir = o.moduleRoot
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			// Failing packages still leave the others' profile; say so.
			note = "some tests failed: " + firstFailure(out.String())
		}
	}
	cmd := exec.CommandContext(ctx, "go", "tool", "cover", "-func="+profile)
	cmd.Dir = o.moduleRoot
	out, err := cmd.Output()
	if err != nil {
		return 0, note, fmt.Errorf("go tool cover: %w", err)
	}
	v, err := coverTotal(string(out))
	return v, note, err
}

// coverTotal reads the "total:" line of go tool cover -func.
func coverTotal(out string) (float64, error) {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "total:" {
			return strconv.ParseFloat(strings.TrimSuffix(f[len(f)-1], "%"), 64)
		}
	}
	return 0, errors.New("go tool cover printed no total")
}

func firstFailure(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "--- FAIL") {
			return strings.TrimSpace(l)
		}
	}
	return "(see go test output)"
}

// probeScript runs scripts/NAME from the source tree.
func probeScript(ctx context.Context, root, name string) (string, error) {
	if root == "" {
		return "", fmt.Errorf("%w: not run from a helios source tree", errCannotMeasure)
	}
	path := filepath.Join(root, "scripts", name)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%w: scripts/%s does not exist", errNotBuilt, name)
	}
	cmd := exec.CommandContext(ctx, "bash", path)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// probeSuccess runs `helios mcts ab` in this process (through runApp), if
// app has the command, and returns arm B's success score.
func probeSuccess(ctx context.Context, app *cli.App, o phase0Options, runApp func(args []string, stdout io.Writer) error) (float64, string, error) {
	mc := app.Command("mcts")
	if mc == nil || findSub(mc, "ab") == nil {
		return 0, "", fmt.Errorf("%w: helios mcts ab does not exist", errNotBuilt)
	}
	var out bytes.Buffer
	args := []string{"helios", "mcts", "ab", "--tasks", "builtin", "--seeds", strconv.Itoa(o.abSeeds), "--json", "-q"}
	if o.abA != "" {
		args = append(args, "--a", o.abA)
	}
	if o.abB != "" {
		args = append(args, "--b", o.abB)
	}
	if err := runApp(args, &out); err != nil {
		return 0, "", fmt.Errorf("mcts ab: %w", err)
	}
	var rep struct {
		Pairs int `json:"pairs"`
		A, B  struct {
			Config       string  `json:"config"`
			N            int     `json:"n"`
			SuccessScore float64 `json:"success_score"`
		}
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return 0, "", fmt.Errorf("mcts ab output: %w", err)
	}
	if rep.Pairs < 30 {
		return 0, "", fmt.Errorf("mcts ab ran %d pairs, fewer than the 30 the criterion needs", rep.Pairs)
	}
	note := fmt.Sprintf("%d pairs; arm A %q %.3f, arm B %q %.3f", rep.Pairs, rep.A.Config, rep.A.SuccessScore, rep.B.Config, rep.B.SuccessScore)
	if o.abA == "" && o.abB == "" {
		note += " (both arms the default search: give --ab-a/--ab-b to compare configurations)"
	}
	return rep.B.SuccessScore, note, nil
}

func findSub(c *cli.Command, name string) *cli.Command {
	for _, s := range c.Subcommands {
		if s.Name == name {
			return s
		}
	}
	return nil
}
