package mcts

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/helios-vcs/helios/objstore"
)

// Task is one program of an A/B suite: a repository with one injected bug,
// the tests a user would have (Test) and held-out tests (Heldout) that a
// patch must also pass to count as verified. On disk a suite is a
// directory with one directory per task holding task.json and repo/:
//
//	{"test": "CMD", "heldout": "CMD", "files": ["GLOB", ...], "junit": "FILE"}
type Task struct {
	Name    string   `json:"-"`
	Dir     string   `json:"-"`
	Test    string   `json:"test"`
	Heldout string   `json:"heldout"`
	Files   []string `json:"files,omitempty"`
	JUnit   string   `json:"junit,omitempty"`
}

// LoadTasks reads a suite, tasks in name order.
func LoadTasks(dir string) ([]Task, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("mcts: tasks: %w", err)
	}
	var out []Task
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "task.json"))
		if err != nil {
			continue
		}
		var t Task
		if err := json.Unmarshal(b, &t); err != nil {
			return nil, fmt.Errorf("mcts: task %q: %w", e.Name(), err)
		}
		if t.Test == "" {
			return nil, fmt.Errorf("mcts: task %q: no test command", e.Name())
		}
		t.Name, t.Dir = e.Name(), filepath.Join(dir, e.Name())
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// WalkImport calls fn with each regular file under dir (not in .git or
// __pycache__): its slash-separated relative path, mode and content. It is
// what every backend's ImportDir imports.
func WalkImport(dir string, fn func(rel string, mode objstore.Mode, content []byte) error) error {
	return filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if e.Name() == ".git" || e.Name() == "__pycache__" {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		mode := objstore.ModeFile
		if info.Mode().Perm()&0o111 != 0 {
			mode = objstore.ModeExec
		}
		return fn(filepath.ToSlash(rel), mode, b)
	})
}

// ImportDir stores the files under dir (not .git) as a new state.
func ImportDir(s *objstore.Store, dir, message string) (objstore.ID, error) {
	d, err := s.NewDraft(objstore.ZeroID)
	if err != nil {
		return objstore.ZeroID, err
	}
	err = WalkImport(dir, func(rel string, mode objstore.Mode, b []byte) error { return d.Put(rel, mode, b) })
	if err != nil {
		return objstore.ZeroID, fmt.Errorf("mcts: import %q: %w", dir, err)
	}
	return d.Commit(objstore.CommitOptions{Message: message, Author: objstore.Signature{Name: "helios mcts"}})
}

// builtinTask is a Python function with one injected bug: bug[0] in src
// becomes bug[1]. Tests are assertions, one test method each.
type builtinTask struct {
	name    string
	src     string
	bug     [2]string
	tests   []string
	heldout []string
}

var builtinTasks = []builtinTask{
	{"clamp", "def clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n",
		[2]string{"if x < lo:", "if x > lo:"},
		[]string{"clamp(-1, 0, 3) == 0", "clamp(5, 0, 3) == 3", "clamp(2, 0, 3) == 2"},
		[]string{"clamp(0, 0, 3) == 0", "clamp(3, 0, 3) == 3", "clamp(-10, -5, 5) == -5"}},
	{"sum_to", "def sum_to(n):\n    total = 0\n    for i in range(1, n + 1):\n        total += i\n    return total\n",
		[2]string{"range(1, n + 1)", "range(1, n - 1)"},
		[]string{"sum_to(3) == 6", "sum_to(1) == 1", "sum_to(0) == 0"},
		[]string{"sum_to(10) == 55", "sum_to(2) == 3"}},
	{"leap", "def is_leap(y):\n    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)\n",
		[2]string{"y % 100 != 0", "y % 100 == 0"},
		[]string{"is_leap(2024)", "not is_leap(1900)", "is_leap(2000)", "not is_leap(2023)"},
		[]string{"is_leap(1996)", "not is_leap(2100)"}},
	{"max_of", "def max_of(xs):\n    best = xs[0]\n    for x in xs[1:]:\n        if x > best:\n            best = x\n    return best\n",
		[2]string{"if x > best:", "if x < best:"},
		[]string{"max_of([1, 3, 2]) == 3", "max_of([5]) == 5"},
		[]string{"max_of([-4, -2, -9]) == -2", "max_of([0, 7, 7]) == 7"}},
	{"bsearch", "def index_of(xs, target):\n    lo, hi = 0, len(xs) - 1\n    while lo <= hi:\n        mid = (lo + hi) // 2\n        if xs[mid] == target:\n            return mid\n        if xs[mid] < target:\n            lo = mid + 1\n        else:\n            hi = mid - 1\n    return -1\n",
		[2]string{"while lo <= hi:", "while lo < hi:"},
		[]string{"index_of([1, 3, 5, 7], 7) == 3", "index_of([1, 3, 5, 7], 4) == -1", "index_of([2], 2) == 0"},
		[]string{"index_of([1, 3, 5, 7], 1) == 0", "index_of([], 1) == -1", "index_of([1, 2, 3], 2) == 1"}},
	{"factorial", "def factorial(n):\n    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result\n",
		[2]string{"result = 1", "result = 0"},
		[]string{"factorial(3) == 6", "factorial(0) == 1"},
		[]string{"factorial(5) == 120", "factorial(1) == 1"}},
	{"fizzbuzz", "def fizzbuzz(n):\n    if n % 15 == 0:\n        return 'FizzBuzz'\n    if n % 3 == 0:\n        return 'Fizz'\n    if n % 5 == 0:\n        return 'Buzz'\n    return str(n)\n",
		[2]string{"n % 5 == 0", "n % 6 == 0"},
		[]string{"fizzbuzz(5) == 'Buzz'", "fizzbuzz(3) == 'Fizz'", "fizzbuzz(15) == 'FizzBuzz'", "fizzbuzz(7) == '7'"},
		[]string{"fizzbuzz(10) == 'Buzz'", "fizzbuzz(6) == 'Fizz'"}},
	{"average", "def average(xs):\n    if not xs:\n        return 0.0\n    return sum(xs) / len(xs)\n",
		[2]string{"sum(xs) / len(xs)", "sum(xs) * len(xs)"},
		[]string{"average([2, 4]) == 3", "average([]) == 0.0"},
		[]string{"average([1, 2, 3, 4]) == 2.5", "average([5]) == 5"}},
	{"both_positive", "def both_positive(a, b):\n    return a > 0 and b > 0\n",
		[2]string{"a > 0 and b > 0", "a > 0 or b > 0"},
		[]string{"both_positive(1, 2)", "not both_positive(1, -2)"},
		[]string{"not both_positive(-1, 2)", "not both_positive(0, 0)"}},
	{"last_index", "def last_index(xs, v):\n    i = len(xs) - 1\n    while i >= 0:\n        if xs[i] == v:\n            return i\n        i -= 1\n    return -1\n",
		[2]string{"while i >= 0:", "while i > 0:"},
		[]string{"last_index([4, 1, 4], 4) == 2", "last_index([4, 1, 2], 4) == 0"},
		[]string{"last_index([], 1) == -1", "last_index([7], 7) == 0"}},
	{"count_positive", "def count_positive(xs):\n    n = 0\n    for x in xs:\n        if x > 0:\n            n += 1\n    return n\n",
		[2]string{"if x > 0:", "if x >= 0:"},
		[]string{"count_positive([1, 0, -1, 2]) == 2", "count_positive([]) == 0"},
		[]string{"count_positive([0, 0]) == 0", "count_positive([3]) == 1"}},
	{"sign", "def sign(x):\n    if x < 0:\n        return -1\n    if x > 0:\n        return 1\n    return 0\n",
		[2]string{"        return 1\n", "        return 2\n"},
		[]string{"sign(5) == 1", "sign(-3) == -1", "sign(0) == 0"},
		[]string{"sign(1) == 1", "sign(-1) == -1"}},
	{"power", "def power(b, e):\n    r = 1\n    for _ in range(e):\n        r *= b\n    return r\n",
		[2]string{"    r = 1\n", "    r = 2\n"},
		[]string{"power(2, 3) == 8", "power(5, 0) == 1"},
		[]string{"power(3, 2) == 9", "power(1, 9) == 1"}},
	{"in_range", "def in_range(x, lo, hi):\n    return lo <= x and x < hi\n",
		[2]string{"lo <= x", "lo < x"},
		[]string{"in_range(0, 0, 3)", "not in_range(3, 0, 3)", "in_range(1, 0, 3)"},
		[]string{"not in_range(-1, 0, 3)", "in_range(5, 5, 6)"}},
	{"median", "def median(xs):\n    s = sorted(xs)\n    mid = len(s) // 2\n    if len(s) % 2 == 1:\n        return s[mid]\n    return (s[mid - 1] + s[mid]) / 2\n",
		[2]string{"len(s) % 2 == 1", "len(s) % 2 == 0"},
		[]string{"median([3, 1, 2]) == 2", "median([4, 1, 3, 2]) == 2.5"},
		[]string{"median([5]) == 5", "median([1, 2]) == 1.5"}},
	{"dedupe", "def dedupe(xs):\n    seen = set()\n    out = []\n    for x in xs:\n        if x not in seen:\n            seen.add(x)\n            out.append(x)\n    return out\n",
		[2]string{"            out.append(x)\n", "            out.append(x)\n            out.append(x)\n"},
		[]string{"dedupe([1, 1, 2]) == [1, 2]", "dedupe([]) == []"},
		[]string{"dedupe([3, 2, 3, 1]) == [3, 2, 1]", "dedupe([5]) == [5]"}},
	{"running_total", "def running_total(xs):\n    out = []\n    t = 0\n    for x in xs:\n        t += x\n        out.append(t)\n    return out\n",
		[2]string{"        t += x\n        out.append(t)\n", "        out.append(t)\n        t += x\n"},
		[]string{"running_total([1, 2, 3]) == [1, 3, 6]", "running_total([]) == []"},
		[]string{"running_total([5]) == [5]", "running_total([1, -1]) == [1, 0]"}},
	{"ratio", "def divide(a, b):\n    return a / b\n\n\ndef ratio(part, whole):\n    if whole == 0:\n        return 0.0\n    return divide(part, whole)\n",
		[2]string{"divide(part, whole)", "divide(whole, part)"},
		[]string{"ratio(1, 4) == 0.25", "ratio(3, 0) == 0.0"},
		[]string{"ratio(2, 8) == 0.25", "ratio(0, 5) == 0.0"}},
	{"min_index", "def min_index(xs):\n    best = 0\n    for i in range(1, len(xs)):\n        if xs[i] < xs[best]:\n            best = i\n    return best\n",
		[2]string{"range(1, len(xs))", "range(2, len(xs))"},
		[]string{"min_index([3, 1, 2]) == 1", "min_index([1, 2]) == 0"},
		[]string{"min_index([5, 4, 3]) == 2", "min_index([2, 0, 0]) == 1"}},
	{"celsius", "def to_fahrenheit(c):\n    return c * 9 / 5 + 32\n",
		[2]string{"+ 32", "- 32"},
		[]string{"to_fahrenheit(0) == 32", "to_fahrenheit(100) == 212"},
		[]string{"to_fahrenheit(-40) == -40", "to_fahrenheit(10) == 50"}},
}

func unittestFile(module string, asserts []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "import unittest\n\nfrom %s import *\n\n\nclass Tests(unittest.TestCase):\n", module)
	for i, a := range asserts {
		fmt.Fprintf(&b, "    def test_%d(self):\n        self.assertTrue(%s)\n\n", i+1, a)
	}
	b.WriteString("\nif __name__ == '__main__':\n    unittest.main()\n")
	return b.String()
}

// BuiltinTaskCount is the size of the built-in suite.
var BuiltinTaskCount = len(builtinTasks) + len(goTasks)

// suiteTask is one built-in task as files: the repository with the bug,
// the file that holds it and that file with the bug undone, and the
// commands.
type suiteTask struct {
	name  string
	files map[string]string
	path  string
	fixed string
	spec  Task
}

// builtinSuite builds the built-in tasks, Python then Go.
func builtinSuite() ([]suiteTask, error) {
	var out []suiteTask
	inject := func(name, src string, bug [2]string) (string, error) {
		if strings.Count(src, bug[0]) != 1 {
			return "", fmt.Errorf("mcts: builtin task %q: the bug's text occurs %d times, want once", name, strings.Count(src, bug[0]))
		}
		return strings.Replace(src, bug[0], bug[1], 1), nil
	}
	for _, t := range builtinTasks {
		buggy, err := inject(t.name, t.src, t.bug)
		if err != nil {
			return nil, err
		}
		out = append(out, suiteTask{name: t.name, path: "prog.py", fixed: t.src, files: map[string]string{
			"prog.py":         buggy,
			"test_prog.py":    unittestFile("prog", t.tests),
			"heldout_prog.py": unittestFile("prog", t.heldout),
		}, spec: Task{
			Test:    "PYTHONDONTWRITEBYTECODE=1 python3 -m unittest test_prog 2>&1",
			Heldout: "PYTHONDONTWRITEBYTECODE=1 python3 -m unittest heldout_prog 2>&1",
		}})
	}
	for _, t := range goTasks {
		buggy, err := inject(t.name, t.src, t.bug)
		if err != nil {
			return nil, err
		}
		out = append(out, suiteTask{name: t.name, path: "prog.go", fixed: goSource(t.src), files: map[string]string{
			"go.mod":          "module example.com/prog\n\ngo 1.22\n",
			"prog.go":         goSource(buggy),
			"prog_test.go":    goTestFile(t.fn, t.tests, false),
			"heldout_test.go": goTestFile(t.fn, t.heldout, true),
		}, spec: goTaskSpec})
	}
	return out, nil
}

// WriteBuiltinTasks writes the built-in suite into dir: small programs in
// Python and Go (standard library only), each with one injected bug of a
// kind the mutate proposer can undo in one edit (a flipped comparison or
// operator, a constant off by one, a swapped argument, a duplicated or
// dropped line), the tests a user would have, and held-out tests. Python
// tasks test with unittest, Go tasks with go test -json (held-out tests
// behind the "heldout" build tag). It is small, and its bugs are of the
// kinds the mutate proposer knows: results on it say how the search
// behaves and what it costs, not how it does on real bugs.
func WriteBuiltinTasks(dir string) error {
	suite, err := builtinSuite()
	if err != nil {
		return err
	}
	for _, t := range suite {
		if err := writeSuiteTask(dir, t, t.files); err != nil {
			return err
		}
	}
	return nil
}

func writeSuiteTask(dir string, t suiteTask, files map[string]string) error {
	repo := filepath.Join(dir, t.name, "repo")
	if err := os.MkdirAll(repo, 0o777); err != nil {
		return err
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(repo, name), []byte(content), 0o666); err != nil {
			return err
		}
	}
	spec, _ := json.MarshalIndent(t.spec, "", "  ")
	return os.WriteFile(filepath.Join(dir, t.name, "task.json"), spec, 0o666)
}
