package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The test binary doubles as the helios binary for io-report's CLI side
// (and for the resident server that side starts): with this variable set it
// runs main instead of the tests.
const asCLIEnv = "HELIOS_IOREPORT_TEST_AS_CLI"

func init() {
	if os.Getenv(asCLIEnv) == "1" {
		main()
		os.Exit(0)
	}
}

// testHelios returns the path of a helios binary for the CLI side: this
// test binary, running main.
func testHelios(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(asCLIEnv, "1")
	t.Setenv("HELIOS_SERVE_IDLE_TIMEOUT", "60s")
	return exe
}

func TestGenTreeDeterministic(t *testing.T) {
	a, b, c := genTree(7), genTree(7), genTree(8)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("genTree(7) differs between calls")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("genTree(7) and genTree(8) are equal")
	}
	if n := len(a); n < 700 || n > 1000 {
		t.Errorf("got %d files, want 700-1000", n)
	}
	deep := 0
	for p, content := range a {
		if n := len(content); n < 2048 || n > 5120 {
			t.Errorf("%s: got %d bytes, want 2-5 KiB", p, n)
		}
		if d := strings.Count(p, "/"); d > 4 {
			t.Errorf("%s: nested %d deep, want at most 4", p, d)
		} else if d >= 2 {
			deep++
		}
	}
	if deep == 0 {
		t.Error("no file is nested two or more directories deep")
	}
}

func TestWorkloadDeterministic(t *testing.T) {
	for _, name := range []string{"edits", "branches", "push"} {
		t.Run(name, func(t *testing.T) {
			base := genTreeSized(3, 40, 0, 300, 200)
			w1, err := newWorkload(name, base, 20, 5)
			if err != nil {
				t.Fatal(err)
			}
			w2, _ := newWorkload(name, base, 20, 5)
			w3, _ := newWorkload(name, base, 20, 6)
			if !reflect.DeepEqual(w1.steps, w2.steps) || !reflect.DeepEqual(w1.extra, w2.extra) {
				t.Fatal("same seed, different steps")
			}
			if reflect.DeepEqual(w1.steps, w3.steps) {
				t.Fatal("different seeds, same steps")
			}
			if len(w1.steps) != 20 {
				t.Errorf("got %d steps, want 20", len(w1.steps))
			}
			wantExtra := 0
			if name == "push" {
				wantExtra = pushIncrements
			}
			if len(w1.extra) != wantExtra {
				t.Errorf("got %d extra steps, want %d", len(w1.extra), wantExtra)
			}
			for i, st := range w1.steps {
				if st.fromBase != (name == "branches") {
					t.Errorf("step %d: fromBase %v", i, st.fromBase)
				}
				if len(st.files) == 0 || len(st.files) > 3 {
					t.Errorf("step %d edits %d files, want 1-3", i, len(st.files))
				}
				for _, f := range st.files {
					if _, ok := base[f.path]; !ok {
						t.Errorf("step %d edits %q, not in the tree", i, f.path)
					}
				}
			}
		})
	}
	if _, err := newWorkload("nope", nil, 1, 1); err == nil {
		t.Error("unknown workload accepted")
	}
	if _, err := newWorkload("edits", map[string][]byte{}, 1, 1); err == nil {
		t.Error("empty tree accepted")
	}
}

func TestEditFileChangesFewLines(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	orig := genSource(rng, "a/b.go", 3000)
	for i := 0; i < 50; i++ {
		got := editFile(rng, orig)
		if bytes.Equal(got, orig) {
			continue // a replaced line can equal the old one
		}
		a, b := strings.Split(string(orig), "\n"), strings.Split(string(got), "\n")
		if d := len(a) - len(b); d > 12 || d < -12 {
			t.Errorf("edit changed the line count by %d", d)
		}
	}
}

func TestParseProcIO(t *testing.T) {
	in := "rchar: 10\nwchar: 20\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n"
	got, err := parseProcIO([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := ioCounters{Rchar: 10, Wchar: 20, Syscr: 3, Syscw: 4, ReadBytes: 4096, WriteBytes: 8192}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseProcIO([]byte("rchar: 1\n")); err == nil {
		t.Error("missing fields accepted")
	}
	if _, err := parseProcIO([]byte(strings.Replace(in, "20", "x", 1))); err == nil {
		t.Error("bad number accepted")
	}
	if got.add(want).sub(want) != want {
		t.Error("add and sub do not invert")
	}
}

// TestRunMeasuredChild checks the reading of a child's counters before it
// is reaped, on a workload whose bytes are known: the child writes 512 KiB
// itself and reaps a grandchild that writes another 512 KiB.
func TestRunMeasuredChild(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", "(head -c 524288 /dev/zero > a); head -c 524288 /dev/zero > b")
	cmd.Dir = dir
	m, err := runMeasured(cmd)
	if err != nil {
		t.Fatal(err)
	}
	const want = 1 << 20
	if m.io.Wchar < want || m.io.Wchar > want+64<<10 {
		t.Errorf("got wchar %d, want about %d", m.io.Wchar, want)
	}
	if m.io.WriteBytes == 0 {
		t.Logf("write_bytes is 0: the filesystem under %s does not account it", dir)
	} else if m.io.WriteBytes < want*95/100 || m.io.WriteBytes > want*12/10 {
		t.Errorf("got write_bytes %d, want within 5%% below to 20%% above %d", m.io.WriteBytes, want)
	}
	if m.wall <= 0 {
		t.Error("no wall time")
	}
	if cmd.ProcessState == nil || !cmd.ProcessState.Exited() {
		t.Error("child was not reaped")
	}
	// A failing command is an error; its counters are still read.
	if _, err := runMeasured(exec.Command("sh", "-c", "exit 3")); err == nil {
		t.Error("exit 3 was not an error")
	}
	if _, err := runMeasured(exec.Command(filepath.Join(dir, "missing"))); err == nil {
		t.Error("missing binary was not an error")
	}
}

func TestParseStrace(t *testing.T) {
	log := `100  openat(AT_FDCWD, "x", O_RDONLY|O_CLOEXEC) = 3
100  openat(AT_FDCWD, ".git/index.lock", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0666) = 4
100  write(4, ""..., 4096) = 4096
101  openat(AT_FDCWD, "obj", O_RDWR|O_CREAT|O_EXCL, 0444 <unfinished ...>
100  fsync(4 <unfinished ...>
101  <... openat resumed>) = 5
100  <... fsync resumed>) = 0
100  openat(AT_FDCWD, "logs/HEAD", O_WRONLY|O_CREAT|O_APPEND, 0666) = 6
100  openat(AT_FDCWD, "exists", O_WRONLY|O_CREAT|O_EXCL, 0666) = -1 EEXIST (File exists)
102  openat(AT_FDCWD, "late", O_WRONLY|O_CREAT|O_TRUNC, 0666 <unfinished ...>
102  <... openat resumed>) = -1 ENOENT (No such file or directory)
100  pwrite64(5, ""..., 10, 0) = 10
100  fdatasync(5) = 0
100  creat("c", 0644) = 7
100  writev(7, [], 0) = 0
garbage
`
	got, err := parseStrace(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	want := syscallCounts{Writes: 3, Fsyncs: 2, Creates: 3}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseStraceFile(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("missing log accepted")
	}
}

func TestFindServer(t *testing.T) {
	dir, err := os.MkdirTemp("", "ioreport-sock-") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if pid := findServer(dir); pid != 0 {
		t.Fatalf("empty dir: got pid %d", pid)
	}
	os.Mkdir(filepath.Join(dir, "run"), 0o777)
	l, err := net.Listen("unix", filepath.Join(dir, "run", "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if got, want := findServer(dir), os.Getpid(); got != want {
		t.Errorf("got pid %d, want %d", got, want)
	}
}

func TestHumanFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{humanBytes(12), "12 B"}, {humanBytes(2048), "2.0 KiB"}, {humanBytes(3 << 20), "3.0 MiB"}, {humanBytes(5 << 30), "5.00 GiB"}, {humanBytes(-2048), "-2.0 KiB"},
		{humanDur(12), "12µs"}, {humanDur(1500), "1.5ms"}, {humanDur(2.5e6), "2.50s"},
		{less(0.931), "93.1% less"}, {less(-1.5), "2.50× git"},
		{siBytes(1000), "1 kB"}, {siBytes(1e6), "1 MB"}, {siBytes(10), "10 B"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// ioReportJSON is the part of io-report's JSON the tests read.
type ioReportJSON struct {
	Workload    string   `json:"workload"`
	N           int      `json:"n"`
	GitSettings []string `json:"git_settings"`
	Traced      bool     `json:"syscalls_traced"`
	Sides       []struct {
		Name      string         `json:"name"`
		Steps     int            `json:"steps"`
		Total     ioCounters     `json:"total"`
		Final     ioCounters     `json:"final_io"`
		Syscalls  *syscallCounts `json:"syscalls"`
		DiskBytes int64          `json:"disk_bytes"`
		WallP50   float64        `json:"wall_p50_us"`
		WallP95   float64        `json:"wall_p95_us"`
		PerStep   []stepPoint    `json:"per_step"`
	} `json:"sides"`
	Reduction []ioReduction `json:"reduction"`
}

func smallTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := writeTree(dir, genTreeSized(11, 30, 0, 400, 400)); err != nil {
		t.Fatal(err)
	}
	// A .git directory in the starting tree is left out.
	writeFile(dir, ".git/config", []byte("[core]\n"))
	return dir
}

func TestIOReportEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	helios := testHelios(t)
	tree := smallTree(t)
	for _, c := range []struct {
		workload string
		sides    []string
		durable  bool
	}{
		{"edits", []string{sideGit, sideHeliosCLI, sideHeliosDirect, sideHeliosAPI}, false},
		{"branches", []string{sideGit, sideHeliosCLI, sideHeliosDirect, sideHeliosAPI}, true},
	} {
		t.Run(c.workload, func(t *testing.T) {
			svg := filepath.Join(t.TempDir(), "chart.svg")
			args := []string{"io-report", "--workload", c.workload, "--tree", tree, "--n", "3", "--seed", "4", "--json", "--svg", svg, "--helios", helios}
			if c.durable {
				// The trace pass runs for edits only, to keep the test short.
				args = append(args, "--durable", "--no-trace")
			}
			out := mustRun(t, args...)
			var rep ioReportJSON
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("json: %v\n%s", err, out)
			}
			checkReport(t, &rep, c.workload, c.sides)
			if c.durable != strings.Contains(strings.Join(rep.GitSettings, " "), "core.fsync=all") {
				t.Errorf("durable %v, git settings %q", c.durable, rep.GitSettings)
			}
			checkSVG(t, svg, c.sides)
		})
	}
}

func checkReport(t *testing.T, rep *ioReportJSON, workload string, sides []string) {
	t.Helper()
	if rep.Workload != workload || rep.N != 3 {
		t.Errorf("got workload %q n %d", rep.Workload, rep.N)
	}
	var names []string
	for _, s := range rep.Sides {
		names = append(names, s.Name)
		wantSteps := 3
		if workload == "push" {
			wantSteps = 1 + pushIncrements
		}
		if s.Steps != wantSteps || len(s.PerStep) != wantSteps {
			t.Errorf("%s: got %d steps (%d points), want %d", s.Name, s.Steps, len(s.PerStep), wantSteps)
		}
		if s.Total.Wchar <= 0 || s.Total.Syscw <= 0 {
			t.Errorf("%s: nothing written: %+v", s.Name, s.Total)
		}
		if s.DiskBytes <= 0 {
			t.Errorf("%s: no disk usage", s.Name)
		}
		if s.WallP50 <= 0 || s.WallP95 < s.WallP50 {
			t.Errorf("%s: wall P50 %v P95 %v", s.Name, s.WallP50, s.WallP95)
		}
		if s.Name != sideGit && s.Final.Wchar <= 0 {
			t.Errorf("%s: the final flush and compaction wrote nothing", s.Name)
		}
		if rep.Traced && s.Syscalls == nil {
			t.Errorf("%s: traced, but no syscall counts", s.Name)
		}
		if rep.Traced && s.Syscalls != nil && s.Syscalls.Writes == 0 {
			t.Errorf("%s: the trace saw no writes", s.Name)
		}
	}
	if !reflect.DeepEqual(names, sides) {
		t.Errorf("got sides %q, want %q", names, sides)
	}
	if len(rep.Reduction) != len(sides)-1 {
		t.Errorf("got %d reductions, want %d", len(rep.Reduction), len(sides)-1)
	}
}

// checkSVG parses the chart as XML and looks for a series per side.
func checkSVG(t *testing.T, path string, sides []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	series := map[string]int{}
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			if se.Name.Local == "polyline" {
				for _, a := range se.Attr {
					if a.Name.Local == "data-side" {
						series[a.Value]++
					}
				}
			}
		}
	}
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
	for _, s := range sides {
		if series[s] != 2 { // bytes and time
			t.Errorf("side %s: %d series in the chart, want 2", s, series[s])
		}
	}
}

func TestIOReportPush(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	if _, err := exec.LookPath("git-remote-helios"); err != nil {
		t.Skip("git-remote-helios is not on PATH (make test puts bin/ there)")
	}
	helios := testHelios(t)
	out := mustRun(t, "io-report", "--workload", "push", "--tree", smallTree(t), "--n", "3", "--json", "--no-trace", "--helios", helios)
	var rep ioReportJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	checkReport(t, &rep, "push", []string{sideGit, sideHeliosCLI})
}

func TestIOReportText(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	helios := testHelios(t)
	out := mustRun(t, "io-report", "--workload", "edits", "--tree", smallTree(t), "--n", "2", "--no-trace", "--helios", helios)
	for _, want := range []string{"write_bytes", "helios-cli vs git", "git: core.fsync unset", "trace pass skipped"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
}

func TestIOReportErrors(t *testing.T) {
	helios := testHelios(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--workload", "nope"}, "unknown workload"},
		{[]string{"--n", "0"}, "--n must be"},
		{[]string{"--tree", filepath.Join(t.TempDir(), "missing")}, "read tree"},
	} {
		_, _, err := run(t, append([]string{"io-report", "--helios", helios}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got error %v, want %q", c.args, err, c.want)
		}
	}
}

// TestStraceWatchdog: a traced command that leaves a process behind is
// not waited for; its own syscalls are counted.
func TestStraceWatchdog(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed")
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "trace.log")
	argv := straceArgs(strace, log, []string{"sh", "-c", "sleep 8 & echo x > f; exit 0"})
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	interrupted := false
	_, err = runMeasuredWatch(cmd, func(pid int, done <-chan struct{}) { interrupted = straceWatchdog(pid, done) })
	if !interrupted {
		t.Errorf("the watchdog did not interrupt strace (err %v)", err)
	}
	c, err := parseStraceFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if c.Writes == 0 || c.Creates == 0 {
		t.Errorf("got %+v, want the shell's write and file creation", c)
	}
	if tracing(os.Getpid()) {
		t.Error("this process traces nothing, but tracing says it does")
	}
}
