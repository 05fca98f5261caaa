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
	"strings"
	"testing"
)

var phase0Criteria = []string{"state commit P95", "I/O reduction vs git", "BLAKE3 throughput", "L1 cache hit", "RocksDB write",
	"small materialize", "test coverage", "licence gate", "vulnerability gate", "SuccessScore", "SPDK latency"}

// fakeProbes stand in for the measurements: fixed figures, or the given
// errors.
func fakeProbes(errs map[string]error) phase0Probes {
	e := func(k string) error { return errs[k] }
	return phase0Probes{
		commitP95us: func() (float64, error) { return 40, e("commit") },
		ioReduction: func(phase0Options, io.Writer) (float64, string, error) { return 0.95, "cli 95%", e("io") },
		blake3GBps:  func() (float64, error) { return 2.6, e("blake3") },
		l1HitP95us:  func() (float64, error) { return 0.05, e("l1") },
		rocksP95us:  func() (float64, float64, error) { return 30, 6000, e("rocksdb") },
		materializeUs: func() (float64, error) {
			return 4000, e("materialize")
		},
		coverage: func(context.Context, phase0Options, io.Writer) (float64, string, error) {
			return 86.2, "", e("coverage")
		},
		script: func(_ context.Context, _, name string) (string, error) {
			return "ok\n", e(name)
		},
		successScore: func(context.Context, phase0Options, io.Writer) (float64, string, error) {
			return 0.9, "40 pairs", e("mcts")
		},
	}
}

func runPhase0JSON(t *testing.T, o phase0Options, p phase0Probes) phase0Report {
	t.Helper()
	o.json = true
	if o.skip == nil {
		o.skip = map[string]bool{}
	}
	var out bytes.Buffer
	if err := runPhase0(context.Background(), o, p, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var rep phase0Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, out.String())
	}
	return rep
}

func verdicts(rep phase0Report) map[string]string {
	m := map[string]string{}
	for _, r := range rep.Rows {
		m[r.Criterion] = r.Verdict
	}
	return m
}

func TestPhase0Verdicts(t *testing.T) {
	exitErr := exec.Command("sh", "-c", "exit 3").Run()
	for _, c := range []struct {
		name string
		errs map[string]error
		skip string
		want map[string]string
	}{
		{"all measured", nil, "", map[string]string{
			"state commit P95": verdictPass, "I/O reduction vs git": verdictFail, "BLAKE3 throughput": verdictPass,
			"L1 cache hit": verdictPass, "RocksDB write": verdictFail, "small materialize": verdictPass,
			"test coverage": verdictPass, "licence gate": verdictPass, "vulnerability gate": verdictPass,
			"SuccessScore": verdictPass, "SPDK latency": verdictCannot}},
		{"absent parts", map[string]error{
			"commit":           errors.New("rocksdb: cannot open"),
			"io":               fmt.Errorf("%w: git is not installed", errCannotMeasure),
			"coverage":         fmt.Errorf("%w: not a source tree", errCannotMeasure),
			"licence-check.sh": fmt.Errorf("%w: no script", errNotBuilt),
			"vulncheck.sh":     exitErr,
			"mcts":             fmt.Errorf("%w: no mcts ab", errNotBuilt),
		}, "", map[string]string{
			"state commit P95": verdictNotMeasured, "I/O reduction vs git": verdictCannot, "test coverage": verdictCannot,
			"licence gate": verdictNotBuilt, "vulnerability gate": verdictFail, "SuccessScore": verdictNotBuilt}},
		{"skipped", nil, "commit,io,blake3,l1,rocksdb,materialize,coverage,gates,mcts", map[string]string{
			"state commit P95": verdictNotMeasured, "I/O reduction vs git": verdictNotMeasured, "BLAKE3 throughput": verdictNotMeasured,
			"L1 cache hit": verdictNotMeasured, "RocksDB write": verdictNotMeasured, "small materialize": verdictNotMeasured,
			"test coverage": verdictNotMeasured, "licence gate": verdictNotMeasured, "vulnerability gate": verdictNotMeasured,
			"SuccessScore": verdictNotMeasured, "SPDK latency": verdictCannot}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := phase0Options{skip: map[string]bool{}, ioN: 10, abSeeds: 2, moduleRoot: t.TempDir()}
			for _, s := range strings.Split(c.skip, ",") {
				if s != "" {
					o.skip[s] = true
				}
			}
			rep := runPhase0JSON(t, o, fakeProbes(c.errs))
			checkPhase0Invariants(t, rep)
			got := verdicts(rep)
			for k, want := range c.want {
				if got[k] != want {
					t.Errorf("%s: got %q, want %q", k, got[k], want)
				}
			}
		})
	}
}

// checkPhase0Invariants: every criterion is listed, in order, and a pass
// always stands on a measured figure (or a gate that ran).
func checkPhase0Invariants(t *testing.T, rep phase0Report) {
	t.Helper()
	if len(rep.Rows) != len(phase0Criteria) {
		t.Fatalf("got %d rows, want %d", len(rep.Rows), len(phase0Criteria))
	}
	passed := 0
	for i, r := range rep.Rows {
		if r.Criterion != phase0Criteria[i] {
			t.Errorf("row %d: got %q, want %q", i, r.Criterion, phase0Criteria[i])
		}
		if r.Target == "" || r.Measured == "" || r.Verdict == "" {
			t.Errorf("%s: empty field: %+v", r.Criterion, r)
		}
		if r.Verdict == verdictPass {
			passed++
			gate := strings.HasSuffix(r.Criterion, "gate")
			if (!gate && r.Value == nil) || (gate && r.Measured != "exit 0") {
				t.Errorf("%s: passed without a measurement: %+v", r.Criterion, r)
			}
		}
		if r.Value == nil && r.Verdict == verdictFail && !strings.HasSuffix(r.Criterion, "gate") {
			t.Errorf("%s: failed without a measurement", r.Criterion)
		}
	}
	if rep.Passed != passed || rep.Go != (passed == len(rep.Rows)) {
		t.Errorf("passed %d go %v, counted %d", rep.Passed, rep.Go, passed)
	}
	if rep.Go {
		t.Error("go, although SPDK cannot be measured here")
	}
	if rep.Machine.CPUs == 0 {
		t.Error("no machine")
	}
}

func TestPhase0Text(t *testing.T) {
	var out bytes.Buffer
	o := phase0Options{skip: map[string]bool{}, ioN: 10, abSeeds: 2, moduleRoot: t.TempDir()}
	if err := runPhase0(context.Background(), o, fakeProbes(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range append([]string{"machine:", "NO-GO", "cli 95%", "fsync'd put P95 6.000 ms"}, phase0Criteria...) {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, out.String())
		}
	}
}

// TestPhase0CommandSkipsAll runs the real command with every measurement
// skipped: nothing passes.
func TestPhase0CommandSkipsAll(t *testing.T) {
	out := mustRun(t, "phase0", "--json", "--skip", "commit,io,blake3,l1,rocksdb,materialize,coverage,gates,mcts")
	var rep phase0Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	checkPhase0Invariants(t, rep)
	if rep.Passed != 0 {
		t.Errorf("got %d passed, want 0", rep.Passed)
	}
}

// TestPhase0RealProbes runs the quick real measurements once, without
// judging their speed.
func TestPhase0RealProbes(t *testing.T) {
	p := defaultPhase0Probes(newApp(io.Discard, io.Discard))
	v, err := p.blake3GBps()
	if err != nil || v <= 0 {
		t.Errorf("blake3: %v %v", v, err)
	}
	if v, err := p.l1HitP95us(); err != nil || v <= 0 {
		t.Errorf("l1: %v %v", v, err)
	}
	if testing.Short() {
		return
	}
	if put, ps, err := p.rocksP95us(); err != nil || put <= 0 || ps <= 0 {
		t.Errorf("rocksdb: %v %v %v", put, ps, err)
	}
	if v, err := p.materializeUs(); err != nil || v <= 0 {
		t.Errorf("materialize: %v %v", v, err)
	}
}

func TestProbeScript(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "scripts"), 0o777)
	os.WriteFile(filepath.Join(root, "scripts", "ok.sh"), []byte("echo all good\n"), 0o755)
	os.WriteFile(filepath.Join(root, "scripts", "bad.sh"), []byte("echo forbidden licence; exit 1\n"), 0o755)
	if out, err := probeScript(context.Background(), root, "ok.sh"); err != nil || !strings.Contains(out, "all good") {
		t.Errorf("ok.sh: %q %v", out, err)
	}
	if _, err := probeScript(context.Background(), root, "bad.sh"); err == nil {
		t.Error("bad.sh: no error")
	}
	if _, err := probeScript(context.Background(), root, "none.sh"); !errors.Is(err, errNotBuilt) {
		t.Errorf("none.sh: got %v, want errNotBuilt", err)
	}
	if _, err := probeScript(context.Background(), "", "ok.sh"); !errors.Is(err, errCannotMeasure) {
		t.Errorf("outside a tree: got %v, want errCannotMeasure", err)
	}
	// The gates' verdicts through runPhase0 with the real script runner.
	p := fakeProbes(nil)
	p.script = func(ctx context.Context, _, name string) (string, error) {
		return probeScript(ctx, root, map[string]string{"licence-check.sh": "ok.sh", "vulncheck.sh": "bad.sh"}[name])
	}
	rep := runPhase0JSON(t, phase0Options{ioN: 1, abSeeds: 1, moduleRoot: root}, p)
	got := verdicts(rep)
	if got["licence gate"] != verdictPass || got["vulnerability gate"] != verdictFail {
		t.Errorf("gates: %v", got)
	}
}

func TestCoverTotal(t *testing.T) {
	v, err := coverTotal("a.go:1:\tf\t100.0%\ntotal:\t\t\t(statements)\t87.3%\n")
	if err != nil || v != 87.3 {
		t.Errorf("got %v %v, want 87.3", v, err)
	}
	if _, err := coverTotal("nothing"); err == nil {
		t.Error("no total accepted")
	}
	if got := firstFailure("ok  x\nFAIL\tgithub.com/x 1.2s\n"); got != "FAIL\tgithub.com/x 1.2s" {
		t.Errorf("firstFailure = %q", got)
	}
	if got := lastLine("a\nb\n", nil); got != "b" {
		t.Errorf("lastLine = %q", got)
	}
	if got := lastLine("", errors.New("boom")); got != "boom" {
		t.Errorf("lastLine = %q", got)
	}
}

func TestProbeCoverageFromProfile(t *testing.T) {
	if findModuleRoot() == "" {
		t.Fatal("the tests run inside the module, but findModuleRoot found none")
	}
	// Two blocks inside coverTotal: 3 statements covered, 1 not.
	src, _ := os.ReadFile("phase0.go")
	line := 0
	for i, l := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(l, "func coverTotal(") {
			line = i + 1
		}
	}
	prof := filepath.Join(t.TempDir(), "cover.out")
	f := "github.com/helios-vcs/helios/cmd/helios/phase0.go"
	os.WriteFile(prof, []byte(fmt.Sprintf("mode: set\n%s:%d.40,%d.2 3 1\n%s:%d.2,%d.3 1 0\n", f, line, line+1, f, line+1, line+2)), 0o644)
	v, _, err := probeCoverage(context.Background(), phase0Options{coverFile: prof, moduleRoot: findModuleRoot()}, io.Discard)
	if err != nil || v != 75 {
		t.Errorf("got %v %v, want 75", v, err)
	}
	if _, _, err := probeCoverage(context.Background(), phase0Options{}, io.Discard); !errors.Is(err, errCannotMeasure) {
		t.Errorf("outside a tree: got %v", err)
	}
}

func TestProbeSuccess(t *testing.T) {
	ctx := context.Background()
	empty := newApp(io.Discard, io.Discard)
	empty.Commands = nil
	if _, _, err := probeSuccess(ctx, empty, phase0Options{abSeeds: 1}, nil); !errors.Is(err, errNotBuilt) {
		t.Errorf("no mcts: got %v, want errNotBuilt", err)
	}
	app := newApp(io.Discard, io.Discard)
	if app.Command("mcts") == nil {
		t.Skip("helios mcts is not built yet")
	}
	for _, c := range []struct {
		out     string
		want    float64
		wantErr bool
	}{
		{`{"pairs": 40, "a": {"config": "a", "success_score": 0.5}, "b": {"config": "b", "success_score": 0.85}}`, 0.85, false},
		{`{"pairs": 20, "b": {"success_score": 0.9}}`, 0, true},
		{`not json`, 0, true},
	} {
		var gotArgs []string
		v, note, err := probeSuccess(ctx, app, phase0Options{abSeeds: 2, abA: "--x 1", abB: "--x 2"}, func(args []string, stdout io.Writer) error {
			gotArgs = args
			_, err := io.WriteString(stdout, c.out)
			return err
		})
		if (err != nil) != c.wantErr || v != c.want {
			t.Errorf("%s: got %v %q %v", c.out, v, note, err)
		}
		if !strings.Contains(strings.Join(gotArgs, " "), "mcts ab --tasks builtin --seeds 2 --json -q --a --x 1 --b --x 2") {
			t.Errorf("args %q", gotArgs)
		}
	}
	if _, _, err := probeSuccess(ctx, app, phase0Options{abSeeds: 2}, func([]string, io.Writer) error { return errors.New("boom") }); err == nil {
		t.Error("a failing mcts ab was not an error")
	}
}

func TestProbeIOReduction(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	v, note, err := probeIOReduction(phase0Options{ioN: 1, ioFiles: 20, heliosBin: testHelios(t)}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if v >= 1 || !strings.Contains(note, "helios-cli") {
		t.Errorf("got %v %q", v, note)
	}
}
