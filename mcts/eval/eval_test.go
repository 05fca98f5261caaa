package eval

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helios-vcs/helios/objstore"
)

type fixture struct {
	t *testing.T
	s *objstore.Store
}

func newFixture(t *testing.T) *fixture {
	s, err := objstore.Init(objstore.NewMemKV(), objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t, s}
}

// state stores files as a state and returns it and its tree.
func (f *fixture) state(files map[string]string) (objstore.ID, objstore.ID) {
	f.t.Helper()
	d, err := f.s.NewDraft(objstore.ZeroID)
	if err != nil {
		f.t.Fatal(err)
	}
	for p, c := range files {
		if err := d.Put(p, objstore.ModeFile, []byte(c)); err != nil {
			f.t.Fatal(err)
		}
	}
	id, err := d.Commit(objstore.CommitOptions{Message: "t"})
	if err != nil {
		f.t.Fatal(err)
	}
	st, _ := f.s.State(id)
	return id, st.Root
}

func tapScript(results ...bool) string {
	var b strings.Builder
	for i, ok := range results {
		if ok {
			b.WriteString("echo 'ok " + string(rune('1'+i)) + "'\n")
		} else {
			b.WriteString("echo 'not ok " + string(rune('1'+i)) + "'\n")
		}
	}
	b.WriteString("echo '1.." + string(rune('0'+len(results))) + "'\n")
	return b.String()
}

func TestEvalRewardsAndPenalty(t *testing.T) {
	f := newFixture(t)
	ev, err := New(f.s, Config{Command: "sh t.sh"})
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	ctx := context.Background()
	tests := []struct {
		name    string
		script  string
		reward  float64
		broken  int
		solved  bool
		failing int
	}{
		{"base", tapScript(true, true, false), 2.0 / 3, 0, false, 1},
		{"fixed", tapScript(true, true, true), 1, 0, true, 0},
		{"fix one break one", tapScript(false, true, true), 1.0 / 3, 1, false, 1},
		{"gone tests count", tapScript(true), 0, 1, false, 2},
	}
	for _, tt := range tests {
		st, tree := f.state(map[string]string{"t.sh": tt.script, "lib.txt": "x\n"})
		r, err := ev.Eval(ctx, 0, st, tree)
		if err != nil {
			t.Fatal(err)
		}
		if r.Reward != tt.reward || r.Broken != tt.broken || r.Solved != tt.solved || r.Failed != tt.failing {
			t.Errorf("%s: got reward %v broken %d solved %v failed %d, want %v %d %v %d", tt.name, r.Reward, r.Broken, r.Solved, r.Failed, tt.reward, tt.broken, tt.solved, tt.failing)
		}
		if r.Format != "tap" {
			t.Errorf("%s: format %q", tt.name, r.Format)
		}
		if b, _ := os.ReadFile(filepath.Join(ev.Dir(0), "t.sh")); string(b) != tt.script {
			t.Errorf("%s: scratch checkout holds %q", tt.name, b)
		}
	}
	if !strings.HasPrefix(ev.Dir(0), os.TempDir()) {
		t.Errorf("scratch %q is not under the temp dir", ev.Dir(0))
	}
	if ev.Timeout() < time.Second {
		t.Errorf("scaled timeout %v, want at least 1s", ev.Timeout())
	}
}

func TestEvalExitStatusCacheAndJUnit(t *testing.T) {
	f := newFixture(t)
	counter := filepath.Join(t.TempDir(), "runs")
	ev, err := New(f.s, Config{Command: `echo run >> "$COUNTER"; exit $(cat code)`, Env: []string{"COUNTER=" + counter}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pass, passTree := f.state(map[string]string{"code": "0\n"})
	fail, failTree := f.state(map[string]string{"code": "3\n"})
	r, _ := ev.Eval(ctx, 0, fail, failTree)
	if r.Reward != 0 || r.Solved || r.ExitCode != 3 || r.Format != "" {
		t.Errorf("exit 3: %+v", r)
	}
	r, _ = ev.Eval(ctx, 1, pass, passTree)
	if r.Reward != 1 || !r.Solved {
		t.Errorf("exit 0: %+v", r)
	}
	r, _ = ev.Eval(ctx, 0, pass, passTree)
	if !r.Cached || r.Reward != 1 || ev.CacheHits() != 1 {
		t.Errorf("second run of a tree: cached %v, hits %d", r.Cached, ev.CacheHits())
	}
	if b, _ := os.ReadFile(counter); strings.Count(string(b), "run") != 2 {
		t.Errorf("command ran %d times, want 2", strings.Count(string(b), "run"))
	}
	dir := ev.Dir(0)
	ev.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("scratch %q left after Close: %v", dir, err)
	}

	xml := `<testsuite><testcase name="a"/><testcase name="b"><failure message="no">x.py:3</failure></testcase></testsuite>`
	ju, err := New(f.s, Config{Command: "cp report.src out.xml; exit 1", JUnit: "out.xml"})
	if err != nil {
		t.Fatal(err)
	}
	defer ju.Close()
	st, tree := f.state(map[string]string{"report.src": xml})
	r, _ = ju.Eval(ctx, 0, st, tree)
	if r.Format != "junit" || r.Reward != 0.5 || !strings.Contains(r.Output, "x.py:3") {
		t.Errorf("junit: %+v", r)
	}
	if _, err := New(f.s, Config{Command: "  "}); err == nil {
		t.Error("New with no command succeeded")
	}
}

func TestEvalTimeoutKillsGroup(t *testing.T) {
	f := newFixture(t)
	ev, err := New(f.s, Config{Command: "sleep 30 & wait", Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	st, tree := f.state(map[string]string{"a": "1"})
	r, err := ev.Eval(context.Background(), 0, st, tree)
	if err != nil {
		t.Fatal(err)
	}
	if !r.TimedOut || r.Reward != 0 || r.Solved || !strings.Contains(r.Output, "timed out") {
		t.Errorf("hang: %+v", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st2, tree2 := f.state(map[string]string{"a": "2"})
	if _, err := ev.Eval(ctx, 0, st2, tree2); err == nil {
		t.Error("Eval with a cancelled context succeeded")
	}
}

func TestEvalRemakesBlockedCheckout(t *testing.T) {
	f := newFixture(t)
	// The test writes an untracked file where the next state has one.
	ev, err := New(f.s, Config{Command: "echo junk > new.txt"})
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	a, at := f.state(map[string]string{"a": "1"})
	b, bt := f.state(map[string]string{"a": "1", "new.txt": "tracked\n"})
	if _, err := ev.Eval(context.Background(), 0, a, at); err != nil {
		t.Fatal(err)
	}
	first := ev.Dir(0)
	if _, err := ev.Eval(context.Background(), 0, b, bt); err != nil {
		t.Fatal(err)
	}
	if ev.Dir(0) == first {
		t.Skip("checkout overwrote the untracked file; no remake needed")
	}
	if got, _ := os.ReadFile(filepath.Join(ev.Dir(0), "a")); string(got) != "1" {
		t.Errorf("remade checkout holds a = %q", got)
	}
}
