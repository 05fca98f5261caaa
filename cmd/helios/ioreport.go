//go:build !thin

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/helios-vcs/helios/objstore/objbench"
	"github.com/urfave/cli/v2"
)

// helios io-report replays one seeded workload against plain git and against
// Helios from the same starting tree, and reports what each side cost the
// machine. The measurement, in short:
//
//   - Every measured command is a child process. Its /proc/<pid>/io is read
//     after it exits and before it is reaped (waitid WNOWAIT), which covers
//     its threads and every child it reaped (git's sub-processes, the remote
//     helper, RocksDB's background threads).
//   - write_bytes is what the kernel accounts as sent to storage (page-cache
//     pages dirtied, 4 KiB each); wchar what went through write syscalls.
//   - fsyncs and files created need syscall tracing: with strace installed,
//     the workload is replayed a second time under strace -f and only the
//     counts are taken from that pass (tracing distorts time and bytes).
//   - Helios's RocksDB flush and compaction are counted: the CLI side ends
//     with `helios gc` (flush and full compaction), the in-process side with
//     Flush + Compact + Close.
//   - A resident store process (helios serve), if one serves the store, is
//     found through its socket in the store directory (SO_PEERCRED) and its
//     /proc io is added to the CLI side.

type ioReportOptions struct {
	workload  string
	tree      string
	n         int
	seed      uint64
	durable   bool
	json      bool
	svg       string
	heliosBin string
	noTrace   bool
	keep      bool
	files     int
}

func ioReportCommand() *cli.Command {
	return &cli.Command{
		Name:      "io-report",
		Usage:     "replay one seeded workload against plain git and against Helios and compare bytes, syscalls, fsyncs and time",
		UsageText: "helios io-report --workload edits|branches|push [--tree DIR] [--n N] [--seed S] [--durable] [--json] [--svg FILE]",
		Flags: []cli.Flag{jsonFlag,
			&cli.StringFlag{Name: "workload", Value: "edits", Usage: "edits (edit, snapshot; git commit -a), branches (variants of one state), push (a history into an empty remote)"},
			&cli.StringFlag{Name: "tree", Usage: "starting tree: any directory or repository (.git is left out); default a generated tree of 700-1,000 source files"},
			&cli.IntFlag{Name: "n", Value: 100, Usage: "steps (push: commits in the pushed history)"},
			&cli.IntFlag{Name: "files", Usage: "files in the generated tree (default: 700 to 1,000, by seed)"},
			&cli.Uint64Flag{Name: "seed", Value: 1},
			&cli.BoolFlag{Name: "durable", Usage: "git with core.fsync=all, helios with --durable"},
			&cli.StringFlag{Name: "svg", Usage: "write a chart of bytes and time per step to FILE"},
			&cli.StringFlag{Name: "helios", Usage: "helios binary for the CLI side (default: this one, or helios on PATH)"},
			&cli.BoolFlag{Name: "no-trace", Usage: "skip the strace pass (no fsync or file-creation counts)"},
			&cli.BoolFlag{Name: "keep", Usage: "keep the temporary directory and print where it is"},
		},
		Action: func(c *cli.Context) error {
			return runIOReport(ioReportOptions{
				workload: c.String("workload"), tree: c.String("tree"), n: c.Int("n"), seed: c.Uint64("seed"),
				durable: c.Bool("durable"), json: c.Bool("json"), svg: c.String("svg"), heliosBin: c.String("helios"),
				noTrace: c.Bool("no-trace"), keep: c.Bool("keep"), files: c.Int("files"),
			}, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// ioReport is io-report's result, and its JSON.
type ioReport struct {
	Workload    string        `json:"workload"`
	N           int           `json:"n"`
	Seed        uint64        `json:"seed"`
	TreeSource  string        `json:"tree_source"`
	TreeFiles   int           `json:"tree_files"`
	TreeBytes   int64         `json:"tree_bytes"`
	Durable     bool          `json:"durable"`
	GitSettings []string      `json:"git_settings"`
	Traced      bool          `json:"syscalls_traced"`
	TraceNote   string        `json:"trace_note,omitempty"`
	Machine     hostInfo      `json:"machine"`
	Sides       []sideReport  `json:"sides"`
	Reduction   []ioReduction `json:"reduction"`
	When        time.Time     `json:"when"`
	Command     string        `json:"command"`
}

// sideReport is one side's figures. Totals are the measured steps plus the
// final flush/compaction plus a resident server's share; setup (the initial
// import) is reported apart and not included.
type sideReport struct {
	Name     string `json:"name"`
	Commands string `json:"commands"`
	Steps    int    `json:"steps"`
	// Total is steps + final. A resident server's io is in its steps.
	Total        ioCounters  `json:"total"`
	StepsIO      ioCounters  `json:"steps_io"`
	Final        ioCounters  `json:"final_io"`
	FinalMs      float64     `json:"final_ms"`
	FinalFlush   *ioCounters `json:"final_flush_io,omitempty"`
	FinalCompact *ioCounters `json:"final_compact_io,omitempty"`
	ServerPID    int         `json:"server_pid,omitempty"`
	// KVBytes is what the store handed RocksDB in the steps (keys and
	// values before WAL framing; the in-process side only).
	KVBytes    int64      `json:"kv_bytes_steps,omitempty"`
	Setup      ioCounters `json:"setup_io"`
	SetupMs    float64    `json:"setup_ms"`
	WritePerOp float64    `json:"write_bytes_per_step"`
	// Syscalls are from the strace pass; nil when it did not run.
	Syscalls  *syscallCounts `json:"syscalls,omitempty"`
	DiskBytes int64          `json:"disk_bytes"`
	DiskFiles int64          `json:"disk_files"`
	WallP50us float64        `json:"wall_p50_us"`
	WallP95us float64        `json:"wall_p95_us"`
	WallMs    float64        `json:"wall_total_ms"`
	PerStep   []stepPoint    `json:"per_step"`
	Notes     []string       `json:"notes,omitempty"`
}

type stepPoint struct {
	WriteBytes int64   `json:"write_bytes"`
	Wchar      int64   `json:"wchar"`
	WallUs     float64 `json:"wall_us"`
}

// ioReduction compares one Helios side with git: 1 - helios/git, so 0.99
// means Helios wrote 1% of git's bytes.
type ioReduction struct {
	Side       string  `json:"side"`
	WriteBytes float64 `json:"write_bytes"`
	// StepsWriteBytes leaves Helios's final flush and compaction out.
	StepsWriteBytes float64  `json:"steps_write_bytes"`
	Wchar           float64  `json:"wchar"`
	DiskBytes       float64  `json:"disk_bytes"`
	Fsyncs          *float64 `json:"fsyncs,omitempty"`
	WallP50         float64  `json:"wall_p50"`
	Meets99         bool     `json:"meets_99_percent"`
}

// hostInfo is the machine a measurement ran on.
type hostInfo struct {
	CPUs   int    `json:"cpus"`
	CPU    string `json:"cpu"`
	Kernel string `json:"kernel"`
	OS     string `json:"os"`
	Go     string `json:"go"`
	FS     string `json:"tmp_fs,omitempty"`
}

func thisHost() hostInfo {
	h := hostInfo{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/mounts"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 2 && f[1] == "/" {
				h.FS = f[2]
			}
		}
	}
	return h
}

func (h hostInfo) String() string {
	return fmt.Sprintf("%d × %s, Linux %s, %s, %s", h.CPUs, h.CPU, h.Kernel, h.OS, h.Go)
}

// resolveHelios finds the helios binary the CLI side runs.
func resolveHelios(flag string) (string, error) {
	if flag != "" {
		return filepath.Abs(flag)
	}
	if exe, err := os.Executable(); err == nil && filepath.Base(exe) == "helios" {
		return exe, nil
	}
	p, err := exec.LookPath("helios")
	if err != nil {
		return "", fmt.Errorf("no helios binary for the CLI side (build it with make build, or pass --helios): %w", err)
	}
	return filepath.Abs(p)
}

// findHelper finds git-remote-helios beside the helios binary or on PATH.
func findHelper(heliosBin string) (string, error) {
	p := filepath.Join(filepath.Dir(heliosBin), "git-remote-helios")
	if _, err := os.Stat(p); err == nil {
		return filepath.Dir(p), nil
	}
	p, err := exec.LookPath("git-remote-helios")
	if err != nil {
		return "", fmt.Errorf("the push workload needs git-remote-helios beside helios or on PATH: %w", err)
	}
	return filepath.Dir(p), nil
}

func runIOReport(o ioReportOptions, stdout, stderr io.Writer) error {
	rep, err := measureIOReport(o, stderr)
	if err != nil {
		return err
	}
	if o.svg != "" {
		if err := os.WriteFile(o.svg, ioReportSVG(rep), 0o644); err != nil {
			return fmt.Errorf("write chart: %w", err)
		}
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printIOReport(stdout, rep)
	return nil
}

// measureIOReport runs the untraced pass and, when strace is there, the
// trace pass, and builds the report.
func measureIOReport(o ioReportOptions, stderr io.Writer) (*ioReport, error) {
	if o.n < 1 {
		return nil, fmt.Errorf("--n must be at least 1, got %d", o.n)
	}
	if _, err := exec.LookPath("git"); err != nil {
		return nil, fmt.Errorf("io-report needs git: %w", err)
	}
	heliosBin, err := resolveHelios(o.heliosBin)
	if err != nil {
		return nil, err
	}
	var base map[string][]byte
	source := fmt.Sprintf("generated (seed %d)", o.seed)
	switch {
	case o.tree != "":
		if base, err = readTree(o.tree); err != nil {
			return nil, err
		}
		source = o.tree
	case o.files > 0:
		base = genTreeSized(o.seed, o.files, 0, 2048, 3072)
	}
	w, err := newWorkload(o.workload, base, o.n, o.seed)
	if err != nil {
		return nil, err
	}
	rep := &ioReport{Workload: w.name, N: o.n, Seed: o.seed, TreeSource: source, TreeFiles: len(w.base), TreeBytes: treeBytes(w.base),
		Durable: o.durable, Machine: thisHost(), When: time.Now().UTC().Truncate(time.Second),
		Command: ioReportCommandLine(o)}
	progress := func(f string, a ...any) { fmt.Fprintf(stderr, "io-report: "+f+"\n", a...) }

	progress("%s, %d steps, tree of %d files (%d bytes)", w.name, o.n, len(w.base), rep.TreeBytes)
	runs, settings, err := replayOnce(w, o, heliosBin, "", progress)
	if err != nil {
		return nil, err
	}
	rep.GitSettings = settings
	var traced map[string]*sideRun
	strace, serr := exec.LookPath("strace")
	switch {
	case o.noTrace:
		rep.TraceNote = "trace pass skipped (--no-trace): no fsync or file-creation counts"
	case serr != nil:
		rep.TraceNote = "strace is not installed (make deps installs it): no fsync or file-creation counts"
	default:
		progress("trace pass (strace -f): syscall counts only")
		tr, _, err := replayOnce(w, o, heliosBin, strace, progress)
		if err != nil {
			return nil, fmt.Errorf("trace pass: %w", err)
		}
		traced = map[string]*sideRun{}
		for _, r := range tr {
			traced[r.name] = r
		}
		rep.Traced = true
		rep.TraceNote = "write_syscalls, fsync_syscalls and files_created are from a second, identical replay under strace -f; bytes and times from the untraced one"
	}
	for _, r := range runs {
		sr := buildSide(r)
		if t := traced[r.name]; t != nil && t.traced {
			c := t.trace
			sr.Syscalls = &c
			sr.Notes = append(sr.Notes, t.traceNotes...)
		}
		rep.Sides = append(rep.Sides, sr)
	}
	rep.Reduction = reductions(rep.Sides)
	return rep, nil
}

func ioReportCommandLine(o ioReportOptions) string {
	s := fmt.Sprintf("helios io-report --workload %s --n %d --seed %d", o.workload, o.n, o.seed)
	if o.tree != "" {
		s += " --tree " + o.tree
	}
	if o.files > 0 {
		s += fmt.Sprintf(" --files %d", o.files)
	}
	if o.durable {
		s += " --durable"
	}
	return s
}

// replayOnce runs every side of the workload in a fresh temporary directory.
func replayOnce(w *workload, o ioReportOptions, heliosBin, strace string, progress func(string, ...any)) ([]*sideRun, []string, error) {
	tmp, err := os.MkdirTemp("", "helios-io-report-")
	if err != nil {
		return nil, nil, err
	}
	if o.keep {
		progress("keeping %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	home := filepath.Join(tmp, "home")
	if err := os.MkdirAll(home, 0o777); err != nil {
		return nil, nil, err
	}
	env, settings := gitEnv(home, o.durable)
	r := &replay{w: w, tmp: tmp, durable: o.durable, heliosBin: heliosBin, strace: strace, env: env}
	if w.name == "push" {
		dir, err := findHelper(heliosBin)
		if err != nil {
			return nil, nil, err
		}
		r.helperDir = dir
		r.env = append(r.env, "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
		progress("push: git file:// and git-remote-helios")
		runs, err := r.runPush()
		if err == nil && o.durable {
			runs[1].notes = append(runs[1].notes, "git-remote-helios has no durable mode: the Helios push ran without fsync")
		}
		if err == nil {
			runs[1].notes = append(runs[1].notes, "no in-process API side for push (the push goes through git and the helper)")
		}
		return runs, settings, err
	}
	var runs []*sideRun
	for _, f := range []struct {
		name string
		fn   func() (*sideRun, error)
	}{
		{sideGit, r.runGit},
		{sideHeliosCLI, func() (*sideRun, error) { return r.runCLI(false) }},
		{sideHeliosDirect, func() (*sideRun, error) { return r.runCLI(true) }},
		{sideHeliosAPI, r.runAPI},
	} {
		progress("%s", f.name)
		sr, err := f.fn()
		if err != nil {
			return nil, nil, fmt.Errorf("%s side: %w", f.name, err)
		}
		runs = append(runs, sr)
	}
	return runs, settings, nil
}

func buildSide(r *sideRun) sideReport {
	sr := sideReport{Name: r.name, Commands: r.commands, Steps: len(r.steps), Final: r.final.io, FinalMs: ms(r.final.wall),
		ServerPID: r.serverPID, KVBytes: r.kvBytes, Setup: r.setup.io, SetupMs: ms(r.setup.wall),
		DiskBytes: r.diskBytes, DiskFiles: r.diskFiles, Notes: r.notes}
	walls := make([]time.Duration, 0, len(r.steps))
	var total time.Duration
	for _, m := range r.steps {
		sr.StepsIO = sr.StepsIO.add(m.io)
		walls = append(walls, m.wall)
		total += m.wall
		sr.PerStep = append(sr.PerStep, stepPoint{WriteBytes: m.io.WriteBytes, Wchar: m.io.Wchar, WallUs: float64(m.wall.Nanoseconds()) / 1e3})
	}
	sr.Total = sr.StepsIO.add(sr.Final)
	if r.finalFlush != nil {
		f, c := r.finalFlush.io, r.finalCompact.io
		sr.FinalFlush, sr.FinalCompact = &f, &c
	}
	sr.WallMs = ms(total + r.final.wall)
	lat := objbench.Summarize(walls)
	sr.WallP50us, sr.WallP95us = lat.P50us, lat.P95us
	if len(r.steps) > 0 {
		sr.WritePerOp = float64(sr.Total.WriteBytes) / float64(len(r.steps))
	}
	return sr
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// reductions compares every Helios side with git.
func reductions(sides []sideReport) []ioReduction {
	var git *sideReport
	for i := range sides {
		if sides[i].Name == sideGit {
			git = &sides[i]
		}
	}
	if git == nil {
		return nil
	}
	red := func(h, g float64) float64 {
		if g == 0 {
			return 0
		}
		return 1 - h/g
	}
	var out []ioReduction
	for _, s := range sides {
		if s.Name == sideGit {
			continue
		}
		r := ioReduction{Side: s.Name,
			WriteBytes:      red(float64(s.Total.WriteBytes), float64(git.Total.WriteBytes)),
			StepsWriteBytes: red(float64(s.StepsIO.WriteBytes), float64(git.StepsIO.WriteBytes)),
			Wchar:           red(float64(s.Total.Wchar), float64(git.Total.Wchar)),
			DiskBytes:       red(float64(s.DiskBytes), float64(git.DiskBytes)),
			WallP50:         red(s.WallP50us, git.WallP50us),
		}
		if s.Syscalls != nil && git.Syscalls != nil && git.Syscalls.Fsyncs > 0 {
			f := red(float64(s.Syscalls.Fsyncs), float64(git.Syscalls.Fsyncs))
			r.Fsyncs = &f
		}
		r.Meets99 = git.Total.WriteBytes > 0 && r.WriteBytes >= 0.99
		out = append(out, r)
	}
	return out
}

// printIOReport writes the terminal table.
func printIOReport(w io.Writer, rep *ioReport) {
	fmt.Fprintf(w, "io-report: workload %s, n=%d, seed %d, tree %s: %d files, %s\n", rep.Workload, rep.N, rep.Seed, rep.TreeSource, rep.TreeFiles, humanBytes(rep.TreeBytes))
	fmt.Fprintf(w, "machine: %s\n", rep.Machine)
	for _, s := range rep.GitSettings {
		fmt.Fprintf(w, "git: %s\n", s)
	}
	fmt.Fprintf(w, "durable: %v\n\n", rep.Durable)
	cols := []string{"", "write_bytes", "per step", "cancelled", "wchar", "read_bytes", "rchar", "write sys", "fsyncs", "created", "disk", "P50", "P95", "total"}
	fmt.Fprintf(w, "%-13s %12s %10s %10s %10s %10s %10s %9s %7s %8s %9s %9s %9s %9s\n", toAny(cols)...)
	for _, s := range rep.Sides {
		fsyncs, created := "-", "-"
		if s.Syscalls != nil {
			fsyncs, created = fmt.Sprint(s.Syscalls.Fsyncs), fmt.Sprint(s.Syscalls.Creates)
		}
		fmt.Fprintf(w, "%-13s %12s %10s %10s %10s %10s %10s %9d %7s %8s %9s %9s %9s %9s\n", s.Name,
			humanBytes(s.Total.WriteBytes), humanBytes(int64(s.WritePerOp)), humanBytes(s.Total.CancelledWriteBytes),
			humanBytes(s.Total.Wchar), humanBytes(s.Total.ReadBytes), humanBytes(s.Total.Rchar), s.Total.Syscw,
			fsyncs, created, humanBytes(s.DiskBytes), humanDur(s.WallP50us), humanDur(s.WallP95us), humanDur(s.WallMs*1e3))
	}
	fmt.Fprintln(w)
	for _, s := range rep.Sides {
		fmt.Fprintf(w, "%s: %s; final %s written in %s", s.Name, s.Commands, humanBytes(s.Final.WriteBytes), humanDur(s.FinalMs*1e3))
		if s.KVBytes > 0 {
			fmt.Fprintf(w, "; the store handed RocksDB %s per step", humanBytes(s.KVBytes/int64(max(s.Steps, 1))))
		}
		if s.FinalFlush != nil {
			fmt.Fprintf(w, " (flush %s, compaction %s)", humanBytes(s.FinalFlush.WriteBytes), humanBytes(s.FinalCompact.WriteBytes))
		}
		fmt.Fprintf(w, "; setup (not counted) %s written\n", humanBytes(s.Setup.WriteBytes))
		for _, n := range s.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	fmt.Fprintln(w)
	for _, r := range rep.Reduction {
		verdict := "MISSES the 99% budget"
		if r.Meets99 {
			verdict = "meets the 99% budget"
		}
		fmt.Fprintf(w, "%s vs git: write_bytes %s (steps alone %s), wchar %s, disk %s, P50 time %s", r.Side, less(r.WriteBytes), less(r.StepsWriteBytes), less(r.Wchar), less(r.DiskBytes), less(r.WallP50))
		if r.Fsyncs != nil {
			fmt.Fprintf(w, ", fsyncs %s", less(*r.Fsyncs))
		}
		fmt.Fprintf(w, ": %s\n", verdict)
	}
	if rep.TraceNote != "" {
		fmt.Fprintf(w, "\nnote: %s\n", rep.TraceNote)
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// less words a reduction: "93.1% less", or "2.4× git" when it is more.
func less(red float64) string {
	if red >= 0 {
		return pct(red) + " less"
	}
	return fmt.Sprintf("%.2f× git", 1-red)
}

func humanBytes(n int64) string {
	f := float64(n)
	switch {
	case n < 0:
		return "-" + humanBytes(-n)
	case f < 1<<10:
		return fmt.Sprintf("%d B", n)
	case f < 1<<20:
		return fmt.Sprintf("%.1f KiB", f/(1<<10))
	case f < 1<<30:
		return fmt.Sprintf("%.1f MiB", f/(1<<20))
	default:
		return fmt.Sprintf("%.2f GiB", f/(1<<30))
	}
}

func humanDur(us float64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%.0fµs", us)
	case us < 1e6:
		return fmt.Sprintf("%.1fms", us/1e3)
	default:
		return fmt.Sprintf("%.2fs", us/1e6)
	}
}
