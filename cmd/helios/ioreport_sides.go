//go:build !thin

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
)

// Side names, as they appear in the report.
const (
	sideGit          = "git"
	sideHeliosCLI    = "helios-cli"    // the helios binary, through its resident server
	sideHeliosDirect = "helios-direct" // the helios binary opening the database itself
	sideHeliosAPI    = "helios-api"
)

// sideRun is what one pass measured on one side.
type sideRun struct {
	name     string
	commands string // what a step runs, for the report
	setup    measured
	steps    []measured
	final    measured // counted: RocksDB flush and compaction
	// finalFlush and finalCompact split final where the side can tell
	// them apart (the in-process side).
	finalFlush, finalCompact *measured
	// kvBytes is what the store handed the KV in the steps (keys and
	// values, before RocksDB's WAL framing): the in-process side only.
	kvBytes int64
	// serverPID is the resident store process whose /proc io the steps
	// include (0: none served the store).
	serverPID int
	trace     syscallCounts
	traced    bool
	diskBytes int64
	diskFiles int64
	notes     []string
	// traceNotes say what the trace pass could not count.
	traceNotes []string
}

// replay runs the workload on every side once. With strace set it is the
// trace pass: commands run under strace and only the syscall counts are
// kept.
type replay struct {
	w         *workload
	tmp       string
	durable   bool
	heliosBin string
	helperDir string // holds git-remote-helios (push workload)
	strace    string // the trace pass: strace's path
	logs      int
	env       []string
}

// addTraceNote adds a note once.
func (sr *sideRun) addTraceNote(n string) {
	for _, m := range sr.traceNotes {
		if m == n {
			return
		}
	}
	sr.traceNotes = append(sr.traceNotes, n)
}

// gitEnv isolates git from the user's configuration and fixes what the
// report says was used.
func gitEnv(home string, durable bool) (env []string, settings []string) {
	cfg := [][2]string{{"gc.autoDetach", "false"}, {"init.defaultBranch", "main"}}
	settings = []string{
		"git " + gitVersion(),
		"no system or global config (GIT_CONFIG_NOSYSTEM=1, empty HOME)",
		"gc.autoDetach=false: an automatic gc runs inside the command that triggers it and is counted",
	}
	if durable {
		cfg = append(cfg, [2]string{"core.fsync", "all"}, [2]string{"core.fsyncMethod", "fsync"})
		settings = append(settings, "core.fsync=all, core.fsyncMethod=fsync (--durable)")
	} else {
		settings = append(settings, "core.fsync unset: git's default, which fsyncs pack files and their indexes but not loose objects, the index or refs")
	}
	env = append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C",
		"GIT_AUTHOR_NAME=io-report", "GIT_AUTHOR_EMAIL=io-report@example.com",
		"GIT_COMMITTER_NAME=io-report", "GIT_COMMITTER_EMAIL=io-report@example.com",
		fmt.Sprintf("GIT_CONFIG_COUNT=%d", len(cfg)))
	for i, kv := range cfg {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	return env, settings
}

func gitVersion() string {
	out, err := exec.Command("git", "version").Output()
	if err != nil {
		return "(not found)"
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "git version ")
}

// exec runs one measured command in dir for side sr. In the trace pass it
// runs under strace and adds the counts to sr.trace (when counted).
func (r *replay) exec(sr *sideRun, counted bool, dir string, argv ...string) (measured, error) {
	var log string
	if r.strace != "" && counted {
		r.logs++
		log = filepath.Join(r.tmp, fmt.Sprintf("trace-%d.log", r.logs))
		argv = straceArgs(r.strace, log, argv)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, r.env
	var errb bytes.Buffer
	cmd.Stderr = &errb
	var watch func(int, <-chan struct{})
	interrupted := false
	if log != "" {
		watch = func(pid int, done <-chan struct{}) { interrupted = straceWatchdog(pid, done) }
	}
	m, err := runMeasuredWatch(cmd, watch)
	if interrupted {
		sr.addTraceNote("a process started by a traced command outlived it (a resident server): strace stopped following it when the command exited")
	}
	if err != nil && !interrupted {
		return m, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(errb.String()))
	}
	if log != "" {
		c, err := parseStraceFile(log)
		if err != nil {
			return m, fmt.Errorf("strace log: %w", err)
		}
		sr.trace, sr.traced = sr.trace.add(c), true
		os.Remove(log)
	}
	return m, nil
}

// plain runs harness commands that are not measured (building the history
// the push workload pushes).
func (r *replay) plain(dir string, argv ...string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, r.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func sum(ms ...measured) measured {
	var t measured
	for _, m := range ms {
		t.wall += m.wall
		t.io = t.io.add(m.io)
	}
	return t
}

// runGit replays edits or branches on plain git.
func (r *replay) runGit() (*sideRun, error) {
	sr := &sideRun{name: sideGit, commands: "git commit -a"}
	if r.w.name == "branches" {
		sr.commands = "git checkout -b vN main; git commit -a"
	}
	repo := filepath.Join(r.tmp, "git")
	if err := writeTree(repo, r.w.base); err != nil {
		return nil, err
	}
	var err error
	var a, b, c measured
	if a, err = r.exec(sr, false, repo, "git", "init", "-q", "-b", "main"); err != nil {
		return nil, err
	}
	if b, err = r.exec(sr, false, repo, "git", "add", "-A"); err != nil {
		return nil, err
	}
	if c, err = r.exec(sr, false, repo, "git", "commit", "-q", "-m", "base"); err != nil {
		return nil, err
	}
	sr.setup = sum(a, b, c)
	for i, st := range r.w.steps {
		var co measured
		if st.fromBase {
			if co, err = r.exec(sr, true, repo, "git", "checkout", "-q", "-b", fmt.Sprintf("v%d", i), "main"); err != nil {
				return nil, err
			}
		}
		if err := applyEdits(repo, st.files); err != nil {
			return nil, err
		}
		m, err := r.exec(sr, true, repo, "git", "commit", "-a", "-q", "-m", fmt.Sprintf("step %d", i))
		if err != nil {
			return nil, err
		}
		sr.steps = append(sr.steps, sum(co, m))
	}
	sr.diskBytes, sr.diskFiles = diskUsage(filepath.Join(repo, ".git"))
	return sr, nil
}

// runCLI replays edits or branches through the helios binary, one process
// per command as an agent's tool calls would run it: through the store's
// resident server (started on demand, its /proc io counted), or with direct
// set, each command opening the database itself (HELIOS_NO_SERVER=1).
func (r *replay) runCLI(direct bool) (*sideRun, error) {
	name, sub := sideHeliosCLI, "cli"
	if direct {
		name, sub = sideHeliosDirect, "direct"
	}
	sr := &sideRun{name: name, commands: "helios snapshot"}
	if r.w.name == "branches" {
		sr.commands = "helios checkout --ref main; helios snapshot --ref vN"
	}
	store, wt := filepath.Join(r.tmp, sub+"-store"), filepath.Join(r.tmp, sub+"-wt")
	if err := writeTree(wt, r.w.base); err != nil {
		return nil, err
	}
	saved := r.env
	defer func() { r.env = saved }()
	r.env = append(append([]string(nil), r.env...), "HELIOS_SERVE_IDLE_TIMEOUT=120s")
	if direct {
		r.env = append(r.env, "HELIOS_NO_SERVER=1")
	}
	snap := func(counted bool, ref, msg string) (measured, error) {
		args := []string{r.heliosBin, "snapshot", "--store", store, "--dir", wt, "--ref", ref, "-q", "-m", msg}
		if r.durable {
			args = append(args, "--durable")
		}
		return r.exec(sr, counted, wt, args...)
	}
	a, err := r.exec(sr, false, r.tmp, r.heliosBin, "init", "--store", store, "-q")
	if err != nil {
		return nil, err
	}
	srv := newServerWatch(store)
	defer srv.stop(r, sr, store)
	b, err := snap(false, "main", "base")
	if err != nil {
		return nil, err
	}
	// The base import is flushed and compacted before the steps, uncounted,
	// as git's import is on disk before its steps: the final flush then
	// holds what the steps wrote.
	c, err := r.exec(sr, false, r.tmp, r.heliosBin, "gc", "--store", store, "-q")
	if err != nil {
		return nil, err
	}
	sr.setup = sum(a, b, c)
	sr.setup.io = sr.setup.io.add(srv.poll())
	if r.strace != "" {
		srv.trace(r, sr)
	}
	for i, st := range r.w.steps {
		var co measured
		if st.fromBase {
			if co, err = r.exec(sr, true, wt, r.heliosBin, "checkout", "--store", store, "--ref", "main", "--dir", wt, "-q"); err != nil {
				return nil, err
			}
		}
		if err := applyEdits(wt, st.files); err != nil {
			return nil, err
		}
		ref := "main"
		if st.fromBase {
			ref = fmt.Sprintf("v%d", i)
		}
		m, err := snap(true, ref, fmt.Sprintf("step %d", i))
		if err != nil {
			return nil, err
		}
		m.io = m.io.add(srv.poll())
		sr.steps = append(sr.steps, sum(co, m))
	}
	if sr.final, err = r.exec(sr, true, r.tmp, r.heliosBin, "gc", "--store", store, "-q"); err != nil {
		return nil, err
	}
	sr.final.io = sr.final.io.add(srv.poll())
	sr.serverPID = srv.pid
	switch {
	case srv.pid != 0:
		sr.notes = append(sr.notes, fmt.Sprintf("a resident store process (pid %d) served the store; its /proc io is counted in the step or final it followed", srv.pid))
	case !direct:
		sr.notes = append(sr.notes, "no resident store process was found: the commands opened the database directly")
	}
	sr.notes = append(sr.notes, "final: helios gc (RocksDB flush and full compaction), counted")
	srv.stop(r, sr, store) // the server closes the database first
	sr.diskBytes, sr.diskFiles = diskUsage(store)
	return sr, nil
}

// serverWatch follows a resident store process, if one serves the store,
// and measures its /proc io between polls (a process that appears during
// the run started then, from zero).
type serverWatch struct {
	store   string
	pid     int
	last    ioCounters
	tr      *pidTrace
	stopped bool
}

func newServerWatch(store string) *serverWatch {
	w := &serverWatch{store: store}
	if pid := findServer(store); pid != 0 {
		w.pid = pid
		w.last, _ = readProcIO(pid) // already running: count from here
	}
	return w
}

// poll returns what the server did since the last poll.
func (w *serverWatch) poll() ioCounters {
	if w.pid != 0 {
		if c, err := readProcIO(w.pid); err == nil {
			d := c.sub(w.last)
			w.last = c
			return d
		}
		w.pid = 0 // it exited; what it did since the last poll is lost
	}
	if pid := findServer(w.store); pid != 0 {
		w.pid, w.last = pid, ioCounters{}
		return w.poll()
	}
	return ioCounters{}
}

// trace attaches strace to the server for the trace pass.
func (w *serverWatch) trace(r *replay, sr *sideRun) {
	if w.pid == 0 {
		return
	}
	r.logs++
	tr, err := startPIDTrace(r.strace, filepath.Join(r.tmp, fmt.Sprintf("trace-%d.log", r.logs)), w.pid)
	if err != nil {
		sr.traceNotes = append(sr.traceNotes, fmt.Sprintf("the resident store process was not traced: %v", err))
		return
	}
	w.tr = tr
}

// stop ends the trace, adding its counts to sr, and stops the server this
// run started (uncounted). Only the first call does anything.
func (w *serverWatch) stop(r *replay, sr *sideRun, store string) {
	if w.stopped {
		return
	}
	w.stopped = true
	if w.tr != nil {
		if c, err := w.tr.stop(); err == nil {
			sr.trace = sr.trace.add(c)
		} else {
			sr.traceNotes = append(sr.traceNotes, fmt.Sprintf("the resident store process's trace was lost: %v", err))
		}
	}
	if findServer(store) != 0 {
		r.plain(r.tmp, r.heliosBin, "serve", "--stop", "--store", store)
	}
}

// runAPI replays edits or branches through the objstore API in this
// process, reading /proc/self/io around each step.
func (r *replay) runAPI() (sr *sideRun, err error) {
	sr = &sideRun{name: sideHeliosAPI, commands: "Draft.Put + Draft.Commit (in process)"}
	if r.w.name == "branches" {
		sr.commands = "NewDraft(main) + Put + Commit to a new ref (in process)"
	}
	dir := filepath.Join(r.tmp, "api-store")
	var m measured
	measure := func(fn func() error) (measured, error) {
		before, err := readProcIO(0)
		if err != nil {
			return measured{}, err
		}
		t0 := time.Now()
		ferr := fn()
		wall := time.Since(t0)
		after, err := readProcIO(0)
		if ferr != nil {
			return measured{}, ferr
		}
		return measured{wall: wall, io: after.sub(before)}, err
	}
	var s *objstore.Store
	var base objstore.ID
	sr.setup, err = measure(func() error {
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return err
		}
		kv, err := rocksdb.Open(filepath.Join(dir, "db"), rocksdb.Options{Create: true})
		if err != nil {
			return err
		}
		if s, err = objstore.Init(kv, objstore.Options{Durable: r.durable}); err != nil {
			kv.Close()
			return err
		}
		d, err := s.NewDraft(objstore.ZeroID)
		if err != nil {
			return err
		}
		for _, p := range r.w.paths {
			if err := d.Put(p, objstore.ModeFile, r.w.base[p]); err != nil {
				return err
			}
		}
		if base, err = d.Commit(objstore.CommitOptions{Ref: "refs/heads/main", Message: "base"}); err != nil {
			return err
		}
		// Flushed and compacted before the steps, as the CLI sides are.
		c, ok := s.KV().(objstore.Compactor)
		if !ok {
			return errors.New("the KV cannot flush and compact")
		}
		if err := c.Flush(); err != nil {
			return err
		}
		return c.Compact()
	})
	if err != nil {
		if s != nil {
			s.Close()
		}
		return nil, err
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	var tr *pidTrace
	if r.strace != "" {
		r.logs++
		if tr, err = startPIDTrace(r.strace, filepath.Join(r.tmp, fmt.Sprintf("trace-%d.log", r.logs)), os.Getpid()); err != nil {
			sr.traceNotes = append(sr.traceNotes, fmt.Sprintf("not traced: %v", err))
		}
	}
	d, err := s.NewDraft(base)
	if err != nil {
		return nil, err
	}
	kv0 := s.Stats().BytesWritten
	for i, st := range r.w.steps {
		m, err = measure(func() error {
			o := objstore.CommitOptions{Ref: "refs/heads/main", Message: fmt.Sprintf("step %d", i)}
			if st.fromBase {
				var err error
				if d, err = s.NewDraft(base); err != nil {
					return err
				}
				o.Ref, o.CreateRef = fmt.Sprintf("refs/heads/v%d", i), true
			}
			for _, f := range st.files {
				if err := d.Put(f.path, objstore.ModeFile, f.content); err != nil {
					return err
				}
			}
			_, err := d.Commit(o)
			return err
		})
		if err != nil {
			return nil, err
		}
		sr.steps = append(sr.steps, m)
	}
	sr.kvBytes = s.Stats().BytesWritten - kv0
	c, ok := s.KV().(objstore.Compactor)
	if !ok {
		return nil, errors.New("the KV cannot flush and compact")
	}
	fl, err := measure(c.Flush)
	if err != nil {
		return nil, err
	}
	co, err := measure(func() error {
		if err := c.Compact(); err != nil {
			return err
		}
		closed = true
		return s.Close()
	})
	if err != nil {
		return nil, err
	}
	sr.final, sr.finalFlush, sr.finalCompact = sum(fl, co), &fl, &co
	if tr != nil {
		c, err := tr.stop()
		if err != nil {
			return nil, fmt.Errorf("strace log: %w", err)
		}
		sr.trace, sr.traced = c, true
	}
	sr.notes = append(sr.notes, "final: KV Flush, then Compact + Close, counted")
	sr.diskBytes, sr.diskFiles = diskUsage(dir)
	return sr, nil
}

// runPush pushes a seeded history into an empty bare repository over
// file:// and into an empty Helios store through git-remote-helios, then
// makes pushIncrements more commits, pushing each to both.
func (r *replay) runPush() ([]*sideRun, error) {
	src := filepath.Join(r.tmp, "src")
	if err := writeTree(src, r.w.base); err != nil {
		return nil, err
	}
	for _, argv := range [][]string{{"git", "init", "-q", "-b", "main"}, {"git", "add", "-A"}, {"git", "commit", "-q", "-m", "base"}} {
		if err := r.plain(src, argv...); err != nil {
			return nil, err
		}
	}
	commit := func(i int, st workStep) error {
		if err := applyEdits(src, st.files); err != nil {
			return err
		}
		return r.plain(src, "git", "commit", "-a", "-q", "-m", fmt.Sprintf("step %d", i))
	}
	for i, st := range r.w.steps {
		if err := commit(i, st); err != nil {
			return nil, err
		}
	}
	g := &sideRun{name: sideGit, commands: "git push file:// (bare repository)"}
	h := &sideRun{name: sideHeliosCLI, commands: "git push helios:: (git-remote-helios)"}
	bare, store := filepath.Join(r.tmp, "remote.git"), filepath.Join(r.tmp, "store")
	var err error
	if g.setup, err = r.exec(g, false, r.tmp, "git", "init", "-q", "--bare", bare); err != nil {
		return nil, err
	}
	if h.setup, err = r.exec(h, false, r.tmp, r.heliosBin, "init", "--store", store, "-q"); err != nil {
		return nil, err
	}
	srv := newServerWatch(store)
	defer srv.stop(r, h, store)
	push := func() error {
		m, err := r.exec(g, true, src, "git", "push", "-q", "file://"+bare, "main")
		if err != nil {
			return err
		}
		g.steps = append(g.steps, m)
		if m, err = r.exec(h, true, src, "git", "push", "-q", "helios::"+store, "main"); err != nil {
			return err
		}
		m.io = m.io.add(srv.poll())
		h.steps = append(h.steps, m)
		return nil
	}
	if err := push(); err != nil {
		return nil, err
	}
	for i, st := range r.w.extra {
		if err := commit(len(r.w.steps)+i, st); err != nil {
			return nil, err
		}
		if err := push(); err != nil {
			return nil, err
		}
	}
	if h.final, err = r.exec(h, true, r.tmp, r.heliosBin, "gc", "--store", store, "-q"); err != nil {
		return nil, err
	}
	h.final.io = h.final.io.add(srv.poll())
	h.serverPID = srv.pid
	srv.stop(r, h, store)
	if srv.pid != 0 {
		h.notes = append(h.notes, fmt.Sprintf("a resident store process (pid %d) ran for the store; its /proc io is counted in the step or final it followed", srv.pid))
	}
	h.notes = append(h.notes, "final: helios gc (RocksDB flush and full compaction), counted")
	g.notes = append(g.notes, fmt.Sprintf("step 1 pushes %d commits into the empty remote; steps 2-%d push one commit each", len(r.w.steps)+1, len(r.w.extra)+1))
	g.diskBytes, g.diskFiles = diskUsage(bare)
	h.diskBytes, h.diskFiles = diskUsage(store)
	return []*sideRun{g, h}, nil
}

// diskUsage is the space allocated to the files under dir (st_blocks, as
// du counts) and how many files there are.
func diskUsage(dir string) (bytes, files int64) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				bytes += st.Blocks * 512
			}
			files++
		}
		return nil
	})
	return bytes, files
}
