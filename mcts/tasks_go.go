package mcts

import (
	"fmt"
	"strings"
)

// goTask is a Go package (standard library only) with one injected bug:
// bug[0] in src becomes bug[1]. Tests are boolean expressions, one test
// function each, named Test<Fn>_<n>; held-out tests are behind the
// "heldout" build tag, named TestHeldout<Fn>_<n>, so that the user's
// `go test` never runs them.
type goTask struct {
	name, fn string
	src      string
	bug      [2]string
	tests    []string
	heldout  []string
}

var goTasks = []goTask{
	{"go_binsearch", "Search", `// Search returns the index of x in the sorted slice xs, or -1.
func Search(xs []int, x int) int {
	lo, hi := 0, len(xs)-1
	for lo <= hi {
		mid := (lo + hi) / 2
		switch {
		case xs[mid] == x:
			return mid
		case xs[mid] < x:
			lo = mid + 1
		default:
			hi = mid - 1
		}
	}
	return -1
}
`, [2]string{"for lo <= hi {", "for lo < hi {"},
		[]string{"Search([]int{1, 3, 5}, 5) == 2", "Search([]int{1, 3, 5}, 4) == -1", "Search(nil, 1) == -1"},
		[]string{"Search([]int{7}, 7) == 0", "Search([]int{1, 2, 3, 4}, 1) == 0", "Search([]int{2, 4, 6, 8}, 9) == -1"}},
	{"go_fizzbuzz", "Fizz", `// Fizz returns "Fizz" for multiples of 3, "Buzz" for multiples of 5,
// "FizzBuzz" for multiples of both, and the number otherwise.
func Fizz(n int) string {
	switch {
	case n%15 == 0:
		return "FizzBuzz"
	case n%3 == 0:
		return "Fizz"
	case n%5 == 0:
		return "Buzz"
	}
	return strconv.Itoa(n)
}
`, [2]string{"case n%3 == 0:", "case n%3 != 0:"},
		[]string{`Fizz(3) == "Fizz"`, `Fizz(4) == "4"`, `Fizz(15) == "FizzBuzz"`},
		[]string{`Fizz(9) == "Fizz"`, `Fizz(10) == "Buzz"`, `Fizz(7) == "7"`}},
	{"go_sumsquares", "SumSquares", `// SumSquares returns 1² + 2² + ... + n².
func SumSquares(n int) int {
	s := 0
	for i := 1; i <= n; i++ {
		s += i * i
	}
	return s
}
`, [2]string{"s += i * i", "s -= i * i"},
		[]string{"SumSquares(3) == 14", "SumSquares(0) == 0", "SumSquares(1) == 1"},
		[]string{"SumSquares(4) == 30", "SumSquares(10) == 385"}},
	{"go_max", "Max", `// Max returns the largest element of xs, which is not empty.
func Max(xs []int) int {
	m := xs[0]
	for _, x := range xs[1:] {
		if x > m {
			m = x
		}
	}
	return m
}
`, [2]string{"if x > m {", "if x < m {"},
		[]string{"Max([]int{1, 5, 2}) == 5", "Max([]int{-3}) == -3", "Max([]int{2, 2, 1}) == 2"},
		[]string{"Max([]int{-5, -1, -9}) == -1", "Max([]int{0, 10}) == 10"}},
	{"go_reverse", "Reverse", `// Reverse returns s with its bytes in reverse order.
func Reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}
`, [2]string{"len(b)-1;", "len(b)-2;"},
		[]string{`Reverse("abc") == "cba"`, `Reverse("") == ""`, `Reverse("ab") == "ba"`},
		[]string{`Reverse("abcd") == "dcba"`, `Reverse("x") == "x"`}},
	{"go_isprime", "IsPrime", `// IsPrime reports whether n is a prime number.
func IsPrime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}
`, [2]string{"d*d <= n;", "d*d < n;"},
		[]string{"!IsPrime(9)", "IsPrime(7)", "!IsPrime(1)"},
		[]string{"!IsPrime(25)", "IsPrime(2)", "IsPrime(13)", "!IsPrime(49)"}},
	{"go_words", "Words", `// Words counts the words of s: runs of bytes other than spaces.
func Words(s string) int {
	n := 0
	in := false
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			in = false
		} else if !in {
			in = true
			n++
		}
	}
	return n
}
`, [2]string{"\t\t\tin = true\n", "\t\t\tin = false\n"},
		[]string{`Words("hello world") == 2`, `Words("") == 0`, `Words("a b") == 2`},
		[]string{`Words("  lead  trail ") == 2`, `Words("one") == 1`}},
	{"go_percent", "Percent", `// Percent returns part as a percentage of whole, 0 when whole is 0.
func Percent(part, whole int) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) * 100 / float64(whole)
}
`, [2]string{"float64(part) * 100", "float64(part) / 100"},
		[]string{"Percent(1, 4) == 25", "Percent(3, 0) == 0"},
		[]string{"Percent(5, 5) == 100", "Percent(3, 6) == 50"}},
	{"go_elapsed", "Elapsed", `// Elapsed returns the seconds from start to end; a negative span is 0.
func Elapsed(start, end int) int {
	d := diff(end, start)
	if d < 0 {
		return 0
	}
	return d
}

// diff returns a - b.
func diff(a, b int) int {
	return a - b
}
`, [2]string{"diff(end, start)", "diff(start, end)"},
		[]string{"Elapsed(10, 25) == 15", "Elapsed(5, 5) == 0", "Elapsed(30, 10) == 0"},
		[]string{"Elapsed(0, 1) == 1", "Elapsed(100, 160) == 60"}},
	{"go_hours", "Open", `// Open reports whether the shop is open at hour h: from 9 to 17,
// 9 included, 17 not.
func Open(h int) bool {
	return h >= 9 && h < 17
}
`, [2]string{"h >= 9 && h < 17", "h >= 9 || h < 17"},
		[]string{"Open(10)", "!Open(20)", "!Open(3)"},
		[]string{"Open(9)", "!Open(17)", "Open(16)"}},
	{"go_histogram", "Histogram", `// Histogram counts how often each value of xs occurs.
func Histogram(xs []int) map[int]int {
	h := map[int]int{}
	for _, x := range xs {
		h[x]++
	}
	return h
}
`, [2]string{"\t\th[x]++\n", "\t\th[x]++\n\t\th[x]++\n"},
		[]string{"Histogram([]int{1, 1, 2})[1] == 2", "len(Histogram(nil)) == 0", "Histogram([]int{3})[3] == 1"},
		[]string{"Histogram([]int{5, 5, 5})[5] == 3", "Histogram([]int{1, 2})[2] == 1"}},
	{"go_last", "Last", `// Last returns the last n elements of xs, all of them if n > len(xs).
func Last(xs []int, n int) []int {
	if n > len(xs) {
		n = len(xs)
	}
	return xs[len(xs)-n:]
}
`, [2]string{"xs[len(xs)-n:]", "xs[len(xs)+n:]"},
		[]string{"eqInts(Last([]int{1, 2, 3}, 2), []int{2, 3})", "len(Last([]int{1, 2}, 0)) == 0", "eqInts(Last([]int{4}, 5), []int{4})"},
		[]string{"eqInts(Last([]int{1, 2, 3, 4}, 1), []int{4})", "eqInts(Last([]int{7, 8}, 2), []int{7, 8})"}},
}

// goSource is a task's package file.
func goSource(src string) string {
	imports := ""
	if strings.Contains(src, "strconv.") {
		imports = "import \"strconv\"\n\n"
	}
	return "package prog\n\n" + imports + src
}

// goTestFile writes one test function per assertion; the user's file
// also holds the helpers both files use.
func goTestFile(fn string, asserts []string, heldout bool) string {
	var b strings.Builder
	prefix := "Test" + fn
	if heldout {
		b.WriteString("//go:build heldout\n\n")
		prefix = "TestHeldout" + fn
	}
	b.WriteString("package prog\n\nimport \"testing\"\n\n")
	if !heldout {
		b.WriteString("func eqInts(a, b []int) bool {\n\tif len(a) != len(b) {\n\t\treturn false\n\t}\n" +
			"\tfor i := range a {\n\t\tif a[i] != b[i] {\n\t\t\treturn false\n\t\t}\n\t}\n\treturn true\n}\n\n")
	}
	for i, a := range asserts {
		fmt.Fprintf(&b, "func %s_%d(t *testing.T) {\n\tif !(%s) {\n\t\tt.Errorf(\"failed: %%s\", %q)\n\t}\n}\n\n", prefix, i+1, a, a)
	}
	return b.String()
}

// goTaskSpec is the test and held-out commands of a Go task: go test's
// JSON, never a cached test result, no vet (a mutant is a program to
// run, not code to review).
var goTaskSpec = Task{
	Test:    "go test -json -count=1 -vet=off . 2>&1",
	Heldout: "go test -json -count=1 -vet=off -tags heldout -run Heldout . 2>&1",
}
