package eval

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The files in testdata are real outputs of each runner on a clamp
// function with a flipped comparison (pytest's and the JUnit file are from
// pytest 8, which this machine lacks; the others were made here).
func TestParseRealOutputs(t *testing.T) {
	tests := []struct {
		file                    string
		format                  string
		passed, failed, skipped int
		failing                 []string
		textHas                 string
	}{
		{"go-json.txt", "go-json", 1, 2, 0, []string{"example.com/calc.TestClampHigh", "example.com/calc.TestClampMid"}, "calc_test.go:13"},
		{"go-json-build.txt", "go-json", 0, 1, 0, []string{"example.com/calc (package)"}, "broken.go:2:14"},
		{"go-v.txt", "go", 1, 2, 0, []string{"TestClampHigh", "TestClampMid"}, "calc_test.go:19"},
		{"tap.txt", "tap", 3, 2, 0, []string{"test 1", "test 2"}, "sum_to 3: got 3, want 6"},
		{"pytest.txt", "pytest", 2, 2, 0, []string{"test_prog.py::test_high", "test_prog.py::test_mid"}, "test_prog.py:7"},
		{"unittest.txt", "unittest", 0, 4, 1, []string{"test_prog.Tests.test_err", "test_prog.Tests.test_high", "test_prog.Tests.test_low", "test_prog.Tests.test_mid"}, `line 10, in test_mid`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r, ok := Parse(readTestdata(t, tt.file))
			if !ok {
				t.Fatal("not parsed")
			}
			if r.Format != tt.format || r.Passed != tt.passed || r.Failed != tt.failed || r.Skipped != tt.skipped {
				t.Errorf("got %s %d/%d/%d, want %s %d/%d/%d", r.Format, r.Passed, r.Failed, r.Skipped, tt.format, tt.passed, tt.failed, tt.skipped)
			}
			if d := cmp.Diff(tt.failing, r.Failing()); d != "" {
				t.Errorf("failing (-want +got):\n%s", d)
			}
			if !strings.Contains(r.Text, tt.textHas) {
				t.Errorf("text lacks %q:\n%s", tt.textHas, r.Text)
			}
		})
	}
}

func TestParseJUnit(t *testing.T) {
	r, err := ParseJUnit(readTestdata(t, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Passed != 2 || r.Failed != 2 || r.Skipped != 1 {
		t.Errorf("got %d/%d/%d, want 2/2/1", r.Passed, r.Failed, r.Skipped)
	}
	if d := cmp.Diff([]string{"test_prog.test_high", "test_prog.test_mid"}, r.Failing()); d != "" {
		t.Errorf("failing (-want +got):\n%s", d)
	}
	if !strings.Contains(r.Text, "test_prog.py:7") {
		t.Errorf("text = %q", r.Text)
	}
	one := `<testsuite name="x"><testcase name="a"/><testcase name="b"><error message="x"/></testcase></testsuite>`
	if r, err := ParseJUnit([]byte(one)); err != nil || r.Passed != 1 || r.Failed != 1 {
		t.Errorf("single suite: %+v %v", r, err)
	}
	for _, bad := range []string{"", "<testsuites>", "<testsuites></testsuites>"} {
		if _, err := ParseJUnit([]byte(bad)); err == nil {
			t.Errorf("ParseJUnit(%q) = nil error", bad)
		}
	}
}

func TestParseEdgeCases(t *testing.T) {
	tests := []struct {
		name, out      string
		ok             bool
		passed, failed int
	}{
		{"plain text", "hello\nworld\n", false, 0, 0},
		{"go without -v", "--- FAIL: TestX (0.00s)\nFAIL\n", false, 0, 0},
		{"go test ok line is not TAP", "ok  \texample.com/calc\t0.002s\n", false, 0, 0},
		{"tap plan counts missing", "1..3\nok 1 - a\n", true, 1, 2},
		{"tap skip and todo", "ok 1 - a # SKIP no\nnot ok 2 - b # TODO later\nok 3\n", true, 1, 0},
		{"tap repeated number fails", "ok 1\nnot ok 1\n", true, 0, 1},
		{"pytest quiet", "..F\n1 failed, 2 passed in 0.01s\n", true, 2, 1},
		{"pytest errors", "==== 1 error, 3 passed, 1 skipped in 0.2s ====\n", true, 3, 1},
		{"unittest ok", "...\n------\nRan 3 tests in 0.000s\n\nOK\n", true, 3, 0},
		{"unittest skipped", "Ran 2 tests in 0.000s\n\nOK (skipped=1)\n", true, 1, 0},
		{"go json garbage lines", "{not json}\n{\"Action\":\"pass\",\"Package\":\"p\",\"Test\":\"T\"}\n", true, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := Parse([]byte(tt.out))
			if ok != tt.ok || r.Passed != tt.passed || r.Failed != tt.failed {
				t.Errorf("got ok=%v %d/%d (%s), want ok=%v %d/%d", ok, r.Passed, r.Failed, r.Format, tt.ok, tt.passed, tt.failed)
			}
		})
	}
}
