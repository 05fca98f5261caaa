package propose

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFindRefs(t *testing.T) {
	out := `--- FAIL: TestX (0.00s)
    calc_test.go:13: bad
panic: boom
	/tmp/helios-mcts-1/w0/calc/calc.go:8 +0x1d
Traceback (most recent call last):
  File "/tmp/x/prog.py", line 3, in clamp
# at lib.sh:8
calc_test.go:13 again
`
	want := []Ref{{"calc_test.go", 13}, {"/tmp/helios-mcts-1/w0/calc/calc.go", 8}, {"/tmp/x/prog.py", 3}, {"lib.sh", 8}}
	if d := cmp.Diff(want, FindRefs(out)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	paths := []string{"calc/calc.go", "calc/calc_test.go", "prog.py", "other/prog.py"}
	for in, want := range map[string][]string{
		"calc_test.go":                       {"calc/calc_test.go"},
		"/tmp/helios-mcts-1/w0/calc/calc.go": {"calc/calc.go"},
		"./prog.py":                          {"prog.py"},
		"/tmp/x/other/prog.py":               {"other/prog.py"},
		"nothing.go":                         nil,
	} {
		if d := cmp.Diff(want, Resolve(in, paths)); d != "" {
			t.Errorf("Resolve(%q): %s", in, d)
		}
	}
}

func TestRankerFunctionBodies(t *testing.T) {
	src := "def helper(x):\n    return x\n\n\ndef clamp(x, lo, hi):\n    if x > lo:\n        return lo\n    return x\n"
	r := &Ranker{Paths: []string{"prog.py"}, Read: reader(map[string]string{"prog.py": src}),
		Output: "FAIL: test_low (test_prog.Tests.test_low)\nAssertionError: 3 != 0\n", Failing: []string{"test_prog.Tests.test_clamp_low"}}
	sc := r.Scores()["prog.py"]
	if !(sc[5] > sc[1] && sc[4] > sc[0]) {
		t.Errorf("clamp's body does not outrank helper's: %v", sc)
	}
	for _, tt := range []struct{ line, want string }{
		{"func (s *S) Clamp(x int) int {", "Clamp"}, {"def clamp(x):", "clamp"}, {"sum_to() {", "sum_to"},
		{"const f = function(a) {", "f"}, {"x = 1", ""}, {"export async function load() {", "load"},
	} {
		if got := defName(tt.line); got != tt.want {
			t.Errorf("defName(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
	ids := strings.Join(identifiers("TestClamp test_sum_to got want assert x"), ",")
	if ids != "Clamp,sum_to,sum" {
		t.Errorf("identifiers = %s", ids)
	}
}
