package gitobj

import (
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// TestPassesLateChecks: a blob PassesLateChecks calls good passes both
// checks whatever it is named; the blobs those checks reject are not
// called good.
func TestPassesLateChecks(t *testing.T) {
	var id OID
	bad := []string{
		"[submodule \"x\"]\n\turl = -oops\n",
		"[SubModule \"x\"]\n\tpath = -p\n",
		"[submodule \"../x\"]\n\turl = ok\n",
		strings.Repeat("a", MaxGitattributesLine) + "\n",
	}
	for _, b := range bad {
		if PassesLateChecks([]byte(b)) {
			t.Errorf("%.40q passes", b)
		}
		if CheckGitmodules(id, []byte(b)) == nil && CheckGitattributes(id, []byte(b)) == nil {
			t.Errorf("%.40q: both checks pass; the case tests nothing", b)
		}
	}
	for _, g := range []string{"", "package main\n", "[core]\n\tbare = true\n", strings.Repeat("b", MaxGitattributesLine-1) + "\nx", "sub module\n"} {
		if !PassesLateChecks([]byte(g)) {
			t.Errorf("%.40q does not pass", g)
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		words := rapid.SliceOf(rapid.SampledFrom([]string{
			"[", "]", "\"", "submodule", "SUBMODULE", "sUbMoDuLe", "sub", "module", " ", "\n", "\t", "=",
			"url", "path", "update", "-", "!", "..", "/", "x", "core", "#", ";", "\\",
			strings.Repeat("z", 700),
		})).Draw(t, "words")
		data := []byte(strings.Join(words, ""))
		if PassesLateChecks(data) {
			if err := CheckGitmodules(id, data); err != nil {
				t.Fatalf("%q passes, CheckGitmodules: %v", data, err)
			}
			if err := CheckGitattributes(id, data); err != nil {
				t.Fatalf("%q passes, CheckGitattributes: %v", data, err)
			}
		}
		if strings.Contains(strings.ToLower(string(data)), "submodule") && PassesLateChecks(data) {
			t.Fatalf("%q names a submodule and passes", data)
		}
	})
}

// TestHasLongLine checks hasLongLine's window jumps against the plain
// rule: some line, split at '\n' (the last one ended by the data's end),
// has n bytes or more.
func TestHasLongLine(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 12).Draw(t, "n")
		data := rapid.SliceOfN(rapid.SampledFrom([]byte("ab\n")), 0, 64).Draw(t, "data")
		want := false
		for _, line := range strings.Split(string(data), "\n") {
			want = want || len(line) >= n
		}
		if got := hasLongLine(data, n); got != want {
			t.Fatalf("hasLongLine(%q, %d) = %v, want %v", data, n, got, want)
		}
	})
}
