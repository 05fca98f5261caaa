package mcts

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/objstore"
)

func TestWilsonAndSignTest(t *testing.T) {
	for _, tt := range []struct {
		k, n   int
		lo, hi float64
	}{{0, 0, 0, 1}, {5, 10, 0.2366, 0.7634}, {10, 10, 0.7225, 1}, {0, 20, 0, 0.1611}} {
		lo, hi := Wilson(tt.k, tt.n)
		if math.Abs(lo-tt.lo) > 1e-4 || math.Abs(hi-tt.hi) > 1e-4 {
			t.Errorf("Wilson(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", tt.k, tt.n, lo, hi, tt.lo, tt.hi)
		}
	}
	for _, tt := range []struct {
		b, c int
		p    float64
	}{{0, 0, 1}, {5, 0, 0.0625}, {1, 1, 1}, {8, 2, 0.109375}, {0, 10, 0.001953125}} {
		if got := SignTest(tt.b, tt.c); math.Abs(got-tt.p) > 1e-12 {
			t.Errorf("SignTest(%d, %d) = %v, want %v", tt.b, tt.c, got, tt.p)
		}
	}
	if median(nil) != 0 || median([]float64{3, 1, 2}) != 2 || median([]float64{4, 1, 3, 2}) != 2.5 {
		t.Error("median")
	}
}

func TestBuiltinTasksAreBuggyAndFixable(t *testing.T) {
	dir := t.TempDir()
	if err := WriteBuiltinTasks(dir); err != nil {
		t.Fatal(err)
	}
	tasks, err := LoadTasks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != BuiltinTaskCount || BuiltinTaskCount < 20 {
		t.Fatalf("%d tasks, want %d (≥ 20)", len(tasks), BuiltinTaskCount)
	}
	if tasks[0].Name != "average" || !strings.Contains(tasks[0].Test, "unittest test_prog") {
		t.Errorf("first task %+v", tasks[0])
	}
	if _, err := LoadTasks(filepath.Join(dir, "none")); err == nil {
		t.Error("LoadTasks of a missing dir succeeded")
	}
	os.WriteFile(filepath.Join(dir, "clamp", "task.json"), []byte(`{"heldout": "x"}`), 0o666)
	if _, err := LoadTasks(dir); err == nil {
		t.Error("task without a test command loaded")
	}
}

func TestABOnBuiltinTasks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Python searches")
	}
	// A pyenv shim costs 0.4 s a run: put the interpreter itself first.
	if out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output(); err == nil {
		t.Setenv("PATH", filepath.Dir(strings.TrimSpace(string(out)))+":"+os.Getenv("PATH"))
	} else {
		t.Skip("no python3")
	}
	dir := t.TempDir()
	if err := WriteBuiltinTasks(dir); err != nil {
		t.Fatal(err)
	}
	tasks, _ := LoadTasks(dir)
	var pick []Task
	for _, tk := range tasks {
		if tk.Name == "clamp" || tk.Name == "celsius" {
			pick = append(pick, tk)
		}
	}
	ab := &AB{
		A:     ABConfig{Name: "uct", Search: Config{Workers: 1, Iterations: 40}, Proposer: "mutate"},
		B:     ABConfig{Name: "one iteration", Search: Config{Workers: 1, Iterations: 1}, Proposer: "mutate"},
		Seeds: 1,
		Open:  func(string) (*objstore.Store, error) { return objstore.Init(objstore.NewMemKV(), objstore.Options{}) },
	}
	var log strings.Builder
	ab.Log = &log
	rep, err := ab.Run(context.Background(), pick)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pairs != 2 || len(rep.Trials) != 4 {
		t.Fatalf("pairs %d trials %d", rep.Pairs, len(rep.Trials))
	}
	if rep.A.Verified != 2 || rep.A.SuccessScore != 1 || rep.A.MedianSolveS <= 0 {
		t.Errorf("A: %+v\n%s", rep.A, log.String())
	}
	if rep.Both+rep.OnlyA+rep.OnlyB > 2 || rep.SignP <= 0 || rep.SignP > 1 {
		t.Errorf("pairs: %+v", rep)
	}
	var out strings.Builder
	rep.WriteText(&out)
	if !strings.Contains(out.String(), "SuccessScore 1.00") || !strings.Contains(out.String(), "2 tasks × 1 seeds = 2 pairs") {
		t.Errorf("text:\n%s", out.String())
	}
	if _, err := NewProposer("bogus", ProposerOptions{}); err == nil {
		t.Error("unknown proposer accepted")
	}
	if _, err := NewProposer("openai", ProposerOptions{}); err == nil {
		t.Error("openai without url accepted")
	}
	if _, err := NewProposer("command:", ProposerOptions{}); err == nil {
		t.Error("empty command accepted")
	}
	if p, err := NewProposer("command:cat", ProposerOptions{}); err != nil || p == nil {
		t.Errorf("command:cat: %v", err)
	}
}
