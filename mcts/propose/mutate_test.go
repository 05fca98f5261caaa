package propose

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// mutants returns the new text of each single-edit mutation of line 1.
func mutants(path, line string, kind string) []string {
	var out []string
	for _, c := range Mutations(path, []string{line, "next()"}, 1) {
		if c.Note == kind && len(c.Edits) == 1 && len(c.Edits[0].New) == 1 {
			out = append(out, c.Edits[0].New[0])
		}
	}
	return out
}

func TestMutationOperators(t *testing.T) {
	tests := []struct {
		path, line, kind string
		want             []string
	}{
		{"a.go", "\tif i < n {", "cmp", []string{"\tif i <= n {", "\tif i > n {"}},
		{"a.go", "\tif i <= n {", "cmp", []string{"\tif i < n {", "\tif i >= n {"}},
		{"a.go", "x == y", "cmp", []string{"x != y"}},
		{"a.go", "a && b", "bool", []string{"a || b"}},
		{"a.py", "return a and b", "bool", []string{"return a or b"}},
		{"a.py", "x = True", "bool", []string{"x = False"}},
		{"a.go", "s = s + i", "arith", []string{"s = s - i"}},
		{"a.go", "s += i", "arith", []string{"s -= i"}},
		{"a.go", "i++", "arith", []string{"i--"}},
		{"a.go", "x := -1 * *p", "arith", []string{"x := -1 / *p"}}, // unary - and * left alone
		{"a.go", "ch <- v; a >> 2", "cmp", nil},
		{"a.go", "n := 10", "const", []string{"n := 11", "n := 9", "n := 0", "n := 1"}},
		{"a.go", "f := 1.5", "const", nil},
		{"a.go", `s := "a < b" // x < y`, "cmp", nil},
		{"a.py", `x = 'a < b'  # x < y`, "cmp", nil},
		{"a.go", "\tif a && b {", "cond", []string{"\tif !(a && b) {", "\tif b {", "\tif a {"}},
		{"a.go", "\tif !(ok) {", "cond", []string{"\tif ok {"}},
		{"a.py", "    if x > 0:", "cond", []string{"    if not (x > 0):"}},
		{"a.py", "    while not done:", "cond", []string{"    while done:"}},
		{"a.js", "if (a || b) {", "cond", []string{"if (!(a || b)) {", "if (b) {", "if (a) {"}},
		{"a.go", "x := max(a, b[1])", "args", []string{"x := max(b[1], a)"}},
		{"a.go", "f(a, a)", "args", nil},
	}
	for _, tt := range tests {
		got := mutants(tt.path, tt.line, tt.kind)
		slices.Sort(got)
		want := slices.Clone(tt.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s %q %s: got %q, want %q", tt.path, tt.line, tt.kind, got, want)
		}
	}
}

func TestLineMutations(t *testing.T) {
	lines := []string{"a = 1", "b = 2", "\tc = 3", "}", ""}
	kinds := map[string]int{}
	for _, c := range Mutations("x.py", lines, 1) {
		kinds[c.Note]++
		if c.Note == "swap" {
			files, err := Apply(c, reader(map[string]string{"x.py": strings.Join(lines, "\n") + "\n"}))
			if err != nil || string(files["x.py"]) != "b = 2\na = 1\n\tc = 3\n}\n\n" {
				t.Errorf("swap gave %q, %v", files["x.py"], err)
			}
		}
	}
	if kinds["delete"] != 1 || kinds["dup"] != 1 || kinds["swap"] != 1 {
		t.Errorf("line operators on a statement: %v", kinds)
	}
	// Different indentation: no swap; closers and blanks: nothing.
	for _, c := range Mutations("x.py", lines, 2) {
		if c.Note == "swap" {
			t.Error("swapped lines of different indentation")
		}
	}
	if ms := Mutations("x.py", lines, 4); len(ms) != 0 {
		t.Errorf("mutations of a closing brace: %v", ms)
	}
	if ms := Mutations("x.py", lines, 5); len(ms) != 0 {
		t.Errorf("mutations of a blank line: %v", ms)
	}
}

const calcGo = `package calc

// Clamp limits x to [lo, hi].
func Clamp(x, lo, hi int) int {
	if x < lo {
		return lo
	}
	if x < hi {
		return hi
	}
	return x
}

func Other(a, b int) int {
	return a + b
}
`

func TestMutateRanksFailingLines(t *testing.T) {
	files := map[string]string{"calc/calc.go": calcGo, "calc/calc_test.go": "package calc\n\nfunc TestClamp(t *testing.T) {\n\tif got := Clamp(5, 0, 3); got != 3 {\n"}
	req := &Request{
		Paths:   []string{"calc/calc.go"},
		All:     []string{"calc/calc.go", "calc/calc_test.go"},
		Read:    reader(files),
		Output:  "--- FAIL: TestClamp (0.00s)\n    calc_test.go:4: Clamp(5, 0, 3) = 5, want 3\n",
		Failing: []string{"calc.TestClamp"},
		Rand:    rand.New(rand.NewPCG(1, 2)),
	}
	m := &Mutate{}
	cs, err := m.Propose(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	fix := -1
	for i, c := range cs {
		if len(c.Edits) == 1 && c.Edits[0].New != nil && len(c.Edits[0].New) == 1 && c.Edits[0].New[0] == "\tif x > hi {" {
			fix = i
		}
		for _, e := range c.Edits {
			if e.Line >= 14 {
				if fix < 0 {
					t.Errorf("an edit of Other (line %d) came before the fix", e.Line)
				}
			}
		}
	}
	if fix < 0 || fix > 12 {
		t.Errorf("the fix is candidate %d of %d, want among the first 12", fix, len(cs))
	}
	if cs[0].Prior != 1 {
		t.Errorf("first prior %v, want 1", cs[0].Prior)
	}
	// Same seed, same order; round 1 gives nothing.
	req.Rand = rand.New(rand.NewPCG(1, 2))
	again, _ := m.Propose(context.Background(), req)
	if len(again) != len(cs) || again[0].Key() != cs[0].Key() || again[len(again)-1].Key() != cs[len(cs)-1].Key() {
		t.Error("same request, different candidates")
	}
	req.Round = 1
	if more, _ := m.Propose(context.Background(), req); len(more) != 0 {
		t.Errorf("round 1 gave %d candidates", len(more))
	}
	small := &Mutate{Lines: 1, Max: 3}
	req.Round, req.Rand = 0, rand.New(rand.NewPCG(1, 2))
	if cs, _ := small.Propose(context.Background(), req); len(cs) != 3 {
		t.Errorf("Max 3 gave %d", len(cs))
	}
}
