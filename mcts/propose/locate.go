package propose

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Ref is a file:line reference found in test output.
type Ref struct {
	Path string // as the output spells it
	Line int
}

var (
	// a.go:12, pkg/a_test.go:12:5, /tmp/x/calc.py:7
	refRE = regexp.MustCompile(`(/?(?:[\w.\-]+/)*[\w\-][\w.\-]*\.[A-Za-z]\w*):(\d+)`)
	// Python tracebacks: File "/x/calc.py", line 7, in clamp
	pyRefRE = regexp.MustCompile(`File "([^"]+)", line (\d+)`)
	identRE = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
	// Lines that define a function in most languages.
	defRE = regexp.MustCompile(`^\s*(?:(?:pub\s+|export\s+|async\s+|static\s+)*(?:func|def|function|fn|sub|proc|procedure)\s+(?:\([^)]*\)\s*)?([A-Za-z_]\w*)|([A-Za-z_]\w*)\s*\(\)\s*\{|(?:const|let|var)?\s*([A-Za-z_]\w*)\s*[:=]+\s*(?:function|lambda|\())`)
)

// FindRefs returns the file:line references in output, in order of
// appearance, without repeats.
func FindRefs(output string) []Ref {
	type pos struct {
		at  int
		ref Ref
	}
	var found []pos
	for _, re := range []*regexp.Regexp{refRE, pyRefRE} {
		for _, m := range re.FindAllStringSubmatchIndex(output, -1) {
			n, err := strconv.Atoi(output[m[4]:m[5]])
			if err != nil || n <= 0 {
				continue
			}
			found = append(found, pos{m[0], Ref{Path: output[m[2]:m[3]], Line: n}})
		}
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].at < found[j].at })
	seen := map[Ref]bool{}
	var out []Ref
	for _, f := range found {
		if !seen[f.ref] {
			seen[f.ref] = true
			out = append(out, f.ref)
		}
	}
	return out
}

// Resolve maps a path as test output spells it (relative to a package, or
// absolute inside a scratch checkout) to the state's paths it can mean: an
// exact match, else every path that it ends with or that ends with it.
func Resolve(p string, paths []string) []string {
	p = strings.TrimPrefix(p, "./")
	var out []string
	for _, q := range paths {
		if q == p {
			return []string{q}
		}
	}
	best := 0
	for _, q := range paths {
		if strings.HasSuffix(p, "/"+q) || strings.HasSuffix(q, "/"+p) {
			switch {
			case len(q) > best:
				out, best = []string{q}, len(q)
			case len(q) == best:
				out = append(out, q)
			}
		}
	}
	return out
}

var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`if else for while return func def function var let const got want
		expected actual error err nil none null true false self this test tests assert assertequal
		asserttrue assertfalse fail failed failure pass passed ok panic main package import from
		int str string float bool len range print line file and not the with run runtime goroutine
		exit status traceback most recent call last raise raised testing value values result
		equal equals should must`) {
		stopWords[w] = true
	}
}

// identifiers returns the words in s that may name a function under test.
// A test name's prefix goes: TestClamp gives Clamp, test_clamp gives clamp.
func identifiers(s string) []string {
	var out []string
	for _, w := range identRE.FindAllString(s, -1) {
		for _, pre := range []string{"Test", "test_", "Benchmark"} {
			if strings.HasPrefix(w, pre) && len(w) > len(pre) {
				w = w[len(pre):]
			}
		}
		for _, p := range prefixes(w) {
			if len(p) >= 3 && !stopWords[strings.ToLower(p)] {
				out = append(out, p)
			}
		}
	}
	return out
}

// prefixes returns w and its leading words: clamp_low gives clamp_low and
// clamp, ClampLow gives ClampLow and Clamp (a test named for a case of
// the function it tests).
func prefixes(w string) []string {
	out := []string{w}
	for i := len(w) - 1; i > 0; i-- {
		if w[i] == '_' || w[i] >= 'A' && w[i] <= 'Z' && w[i-1] >= 'a' && w[i-1] <= 'z' {
			out = append(out, strings.TrimSuffix(w[:i], "_"))
		}
	}
	return out
}

// defNames memoizes defName: the search ranks the same lines for node
// after node, and the regular expression is most of the ranking's cost.
var defNames struct {
	sync.Mutex
	m map[string]string
}

// defName returns the function a line defines, or "".
func defName(line string) string {
	defNames.Lock()
	name, ok := defNames.m[line]
	defNames.Unlock()
	if ok {
		return name
	}
	name = defNameUncached(line)
	defNames.Lock()
	if defNames.m == nil || len(defNames.m) >= 1<<16 {
		defNames.m = map[string]string{}
	}
	defNames.m[line] = name
	defNames.Unlock()
	return name
}

func defNameUncached(line string) string {
	m := defRE.FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	for _, g := range m[1:] {
		if g != "" {
			return g
		}
	}
	return ""
}

// Ranker scores the lines of the editable files by how likely they hold
// the bug, from the test output of a node:
//   - a line that output names as file:line scores 1, its neighbours
//     1/(1+distance) within 8 lines (nearness);
//   - the body of a function whose name appears in the output, in a
//     failing test's name, or on a test line the output points at, scores
//     0.5 at its definition, decaying slowly over the next 40 lines (so
//     that within a function the operator decides the order);
//   - every other line scores a small base, so nothing is out of reach.
type Ranker struct {
	Paths   []string // editable files
	All     []string // every file of the state (test files too)
	Read    func(string) ([]byte, error)
	Output  string
	Failing []string
}

// Scores returns a score per line (1-based index i at [i-1]) of each path.
func (r *Ranker) Scores() map[string][]float64 {
	out := map[string][]float64{}
	files := map[string][]string{}
	for _, p := range r.Paths {
		b, err := r.Read(p)
		if err != nil {
			continue
		}
		ls := Lines(b)
		files[p] = ls
		sc := make([]float64, len(ls))
		for i := range sc {
			sc[i] = 0.01
		}
		out[p] = sc
	}
	words := map[string]bool{}
	addWords := func(s string) {
		for _, w := range identifiers(s) {
			words[strings.ToLower(w)] = true
		}
	}
	for _, f := range r.Failing {
		addWords(f)
	}
	for _, line := range strings.Split(r.Output, "\n") {
		addWords(line)
	}
	for _, ref := range FindRefs(r.Output) {
		for _, p := range Resolve(ref.Path, r.Paths) {
			sc := out[p]
			for d := -8; d <= 8; d++ {
				i := ref.Line - 1 + d
				if i >= 0 && i < len(sc) {
					sc[i] += 1 / (1 + float64(abs(d)))
				}
			}
		}
		if len(Resolve(ref.Path, r.Paths)) == 0 {
			// A test file: the functions its failing line calls are suspects.
			for _, p := range Resolve(ref.Path, r.All) {
				if b, err := r.Read(p); err == nil {
					if ls := Lines(b); ref.Line <= len(ls) {
						addWords(ls[ref.Line-1])
					}
				}
			}
		}
	}
	for p, ls := range files {
		sc := out[p]
		for i, l := range ls {
			name := defName(l)
			if name == "" || !words[strings.ToLower(name)] {
				continue
			}
			for d := 0; d <= 40 && i+d < len(ls); d++ {
				if d > 0 && defName(ls[i+d]) != "" {
					break
				}
				sc[i+d] += 0.5 * (1 - float64(d)/80)
			}
		}
	}
	return out
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
