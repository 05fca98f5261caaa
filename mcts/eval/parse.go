package eval

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Report is what a test runner's output says.
type Report struct {
	// Format is the parser that read it: "go-json", "go", "tap", "pytest",
	// "unittest" or "junit".
	Format                  string
	Passed, Failed, Skipped int
	// Tests maps test names to whether they passed, when the format names
	// them (go-json, go -v, tap, junit, pytest -v or -rA; failures only for
	// unittest and plain pytest).
	Tests map[string]bool
	// Text is the output that matters to a proposer (the failing tests'
	// output), when the format lets it be picked out.
	Text string
}

// Failing returns the names of the failing tests, sorted.
func (r *Report) Failing() []string {
	var out []string
	for n, ok := range r.Tests {
		if !ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Parse reads a test runner's output. It tries, in order, go test -json,
// TAP, pytest's summary, unittest's summary and go test -v, and reports
// false when none of them is there.
func Parse(out []byte) (Report, bool) {
	for _, p := range []func([]byte) (Report, bool){parseGoJSON, parseTAP, parsePytest, parseUnittest, parseGoText} {
		if r, ok := p(out); ok {
			return r, true
		}
	}
	return Report{}, false
}

type goEvent struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Output     string
}

// parseGoJSON reads go test -json (test2json) events. A package that fails
// without a failing test (a build error, a panic in init) counts as one
// failed test named after the package.
func parseGoJSON(out []byte) (Report, bool) {
	r := Report{Format: "go-json", Tests: map[string]bool{}}
	outputs := map[string]*strings.Builder{}
	pkgFailed := map[string]bool{}
	pkgTestFailed := map[string]bool{}
	events := 0
	var extra strings.Builder
	for rest := out; len(rest) > 0; {
		// The whole output is in memory: cut lines out of it (a Scanner
		// would allocate its buffer on every parse).
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 || line[0] != '{' {
			if len(bytes.TrimSpace(line)) > 0 {
				extra.Write(line) // build errors printed outside the stream
				extra.WriteByte('\n')
			}
			continue
		}
		var ev goEvent
		if json.Unmarshal(line, &ev) != nil || ev.Action == "" {
			continue
		}
		events++
		pkg := ev.Package
		if pkg == "" {
			pkg = ev.ImportPath
		}
		key := pkg + "." + ev.Test
		if ev.Test == "" {
			key = pkg
		}
		switch ev.Action {
		case "build-output":
			extra.WriteString(ev.Output)
		case "output":
			b := outputs[key]
			if b == nil {
				b = &strings.Builder{}
				outputs[key] = b
			}
			if b.Len() < 64<<10 {
				b.WriteString(ev.Output)
			}
		case "pass":
			if ev.Test != "" {
				r.Tests[key] = true
			}
		case "fail":
			if ev.Test != "" {
				r.Tests[key] = false
				pkgTestFailed[pkg] = true
			} else {
				pkgFailed[pkg] = true
			}
		case "skip":
			if ev.Test != "" {
				r.Skipped++
			}
		}
	}
	if events == 0 {
		return Report{}, false
	}
	for pkg := range pkgFailed {
		if !pkgTestFailed[pkg] {
			r.Tests[pkg+" (package)"] = false
		}
	}
	var text strings.Builder
	text.WriteString(extra.String())
	for _, n := range r.Failing() {
		if b := outputs[n]; b != nil {
			text.WriteString(b.String())
		} else if b := outputs[strings.TrimSuffix(n, " (package)")]; b != nil {
			text.WriteString(b.String())
		}
	}
	r.Text = text.String()
	r.count()
	return r, true
}

func (r *Report) count() {
	r.Passed, r.Failed = 0, 0
	for _, ok := range r.Tests {
		if ok {
			r.Passed++
		} else {
			r.Failed++
		}
	}
}

var (
	tapLine = regexp.MustCompile(`(?m)^\s*(not )?ok (\d+)\b[ \t]*-?[ \t]*([^\n#]*)(#[^\n]*)?$`)
	tapPlan = regexp.MustCompile(`(?m)^\s*1\.\.(\d+)`)
)

// parseTAP reads the Test Anything Protocol: "ok N - name", "not ok N",
// a "1..N" plan (planned tests that never reported count as failed),
// "# SKIP" and "# TODO" directives. Tests are named "test N".
func parseTAP(out []byte) (Report, bool) {
	ms := tapLine.FindAllSubmatch(out, -1)
	plan := tapPlan.FindSubmatch(out)
	if len(ms) == 0 {
		return Report{}, false
	}
	r := Report{Format: "tap", Tests: map[string]bool{}}
	var text strings.Builder
	seen := map[int]bool{}
	for _, m := range ms {
		n, _ := strconv.Atoi(string(m[2]))
		seen[n] = true
		// Tests are known by number: a failing test's description often
		// carries what it got, which changes from state to state.
		name := "test " + string(m[2])
		dir := strings.ToUpper(string(m[4]))
		switch {
		case strings.HasPrefix(dir, "# SKIP"):
			r.Skipped++
			continue
		case strings.HasPrefix(dir, "# TODO"):
			continue
		}
		ok := len(m[1]) == 0
		if prev, dup := r.Tests[name]; dup {
			r.Tests[name] = prev && ok
		} else {
			r.Tests[name] = ok
		}
		if !ok {
			text.Write(m[0])
			text.WriteByte('\n')
		}
	}
	if plan != nil {
		n, _ := strconv.Atoi(string(plan[1]))
		for i := 1; i <= n; i++ {
			if !seen[i] {
				r.Tests[fmt.Sprintf("test %d (missing)", i)] = false
			}
		}
	}
	r.count()
	r.Text = text.String()
	// Diagnostics after a failure ("# file:line ...") help the proposer.
	if r.Failed > 0 {
		r.Text = string(out)
	}
	return r, true
}

var (
	pytestSummary = regexp.MustCompile(`(?m)^=*\s*((?:\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?)(?:, )?)+)(?: in [\d.]+s.*)?\s*=*\s*$`)
	pytestCount   = regexp.MustCompile(`(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)`)
	pytestName    = regexp.MustCompile(`(?m)^(?:(FAILED|ERROR|PASSED) (\S+::\S+)|(\S+::\S+) (PASSED|FAILED|ERROR))`)
)

// parsePytest reads pytest's final summary ("2 failed, 5 passed in
// 0.12s"), and test names from -v, -rA or the short summary when present.
func parsePytest(out []byte) (Report, bool) {
	all := pytestSummary.FindAllSubmatch(out, -1)
	if len(all) == 0 {
		return Report{}, false
	}
	sum := all[len(all)-1][1]
	r := Report{Format: "pytest", Tests: map[string]bool{}}
	for _, m := range pytestCount.FindAllSubmatch(sum, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		switch string(m[2]) {
		case "passed", "xfailed":
			r.Passed += n
		case "failed", "error", "errors", "xpassed":
			r.Failed += n
		case "skipped":
			r.Skipped += n
		}
	}
	for _, m := range pytestName.FindAllSubmatch(out, -1) {
		status, name := string(m[1]), string(m[2])
		if status == "" {
			status, name = string(m[4]), string(m[3])
		}
		r.Tests[name] = status == "PASSED"
	}
	r.Text = string(out)
	return r, true
}

var (
	unittestRan    = regexp.MustCompile(`(?m)^Ran (\d+) tests? in `)
	unittestResult = regexp.MustCompile(`(?m)^(OK|FAILED)(?: \(([^)]*)\))?\s*$`)
	unittestName   = regexp.MustCompile(`(?m)^(FAIL|ERROR): (\S+) \(([^)]*)\)`)
	kvRE           = regexp.MustCompile(`(\w+)=(\d+)`)
)

// parseUnittest reads Python unittest's "Ran N tests" and "OK" / "FAILED
// (failures=1, errors=2, skipped=3)" lines, and the FAIL:/ERROR: headers.
func parseUnittest(out []byte) (Report, bool) {
	ran := unittestRan.FindSubmatch(out)
	res := unittestResult.FindAllSubmatch(out, -1)
	if ran == nil || len(res) == 0 {
		return Report{}, false
	}
	last := res[len(res)-1]
	total, _ := strconv.Atoi(string(ran[1]))
	r := Report{Format: "unittest", Tests: map[string]bool{}}
	for _, kv := range kvRE.FindAllSubmatch(last[2], -1) {
		n, _ := strconv.Atoi(string(kv[2]))
		switch string(kv[1]) {
		case "failures", "errors", "unexpected_successes":
			r.Failed += n
		case "skipped", "expected_failures":
			r.Skipped += n
		}
	}
	r.Passed = total - r.Failed - r.Skipped
	if r.Passed < 0 {
		r.Passed = 0
	}
	for _, m := range unittestName.FindAllSubmatch(out, -1) {
		// Python 3.11 prints "FAIL: test_x (mod.Class.test_x)", older ones
		// "FAIL: test_x (mod.Class)".
		name := string(m[3])
		if !strings.HasSuffix(name, "."+string(m[2])) {
			name += "." + string(m[2])
		}
		r.Tests[name] = false
	}
	r.Text = string(out)
	return r, true
}

var goTextLine = regexp.MustCompile(`(?m)^\s*--- (PASS|FAIL|SKIP): (\S+)`)

// parseGoText reads go test -v's "--- PASS: TestX" and "--- FAIL: TestX"
// lines. Without -v, go test prints only failures, which cannot give a
// share, so output without a PASS line is not taken.
func parseGoText(out []byte) (Report, bool) {
	ms := goTextLine.FindAllSubmatch(out, -1)
	r := Report{Format: "go", Tests: map[string]bool{}}
	passes := 0
	for _, m := range ms {
		switch string(m[1]) {
		case "PASS":
			r.Tests[string(m[2])] = true
			passes++
		case "FAIL":
			r.Tests[string(m[2])] = false
		case "SKIP":
			r.Skipped++
		}
	}
	if passes == 0 {
		return Report{}, false
	}
	r.count()
	r.Text = string(out)
	return r, true
}

type junitSuites struct {
	Suites []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Suites []junitSuite `xml:"testsuite"`
	Cases  []junitCase  `xml:"testcase"`
}

type junitCase struct {
	Name      string    `xml:"name,attr"`
	Classname string    `xml:"classname,attr"`
	Failure   *junitMsg `xml:"failure"`
	Error     *junitMsg `xml:"error"`
	Skipped   *junitMsg `xml:"skipped"`
}

type junitMsg struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// ParseJUnit reads a JUnit XML report (<testsuites> or one <testsuite>,
// nested suites too).
func ParseJUnit(data []byte) (Report, error) {
	var root junitSuites
	trimmed := bytes.TrimSpace(data)
	if err := xml.Unmarshal(trimmed, &root); err != nil {
		return Report{}, fmt.Errorf("mcts: junit: %w", err)
	}
	var one junitSuite
	if len(root.Suites) == 0 {
		if err := xml.Unmarshal(trimmed, &one); err != nil {
			return Report{}, fmt.Errorf("mcts: junit: %w", err)
		}
		root.Suites = []junitSuite{one}
	}
	r := Report{Format: "junit", Tests: map[string]bool{}}
	var text strings.Builder
	var walk func(s junitSuite)
	walk = func(s junitSuite) {
		for _, c := range s.Cases {
			name := c.Name
			if c.Classname != "" {
				name = c.Classname + "." + c.Name
			}
			switch {
			case c.Skipped != nil:
				r.Skipped++
			case c.Failure != nil || c.Error != nil:
				r.Tests[name] = false
				m := c.Failure
				if m == nil {
					m = c.Error
				}
				fmt.Fprintf(&text, "FAIL %s: %s\n%s\n", name, m.Message, m.Text)
			default:
				r.Tests[name] = true
			}
		}
		for _, sub := range s.Suites {
			walk(sub)
		}
	}
	for _, s := range root.Suites {
		walk(s)
	}
	if len(r.Tests) == 0 && r.Skipped == 0 {
		return Report{}, fmt.Errorf("mcts: junit: no test cases")
	}
	r.count()
	r.Text = text.String()
	return r, nil
}
