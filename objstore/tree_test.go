package objstore

import (
	"errors"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

func TestGitOrder(t *testing.T) {
	es := []Entry{
		{Name: "a", Mode: ModeDir},
		{Name: "a.txt", Mode: ModeFile},
		{Name: "a-b", Mode: ModeFile},
		{Name: "b", Mode: ModeFile},
		{Name: "a0", Mode: ModeDir},
		{Name: "A", Mode: ModeFile},
	}
	SortEntries(es)
	var got []string
	for _, e := range es {
		got = append(got, e.Name)
	}
	// '-' (0x2d) < '.' (0x2e) < '/' (dir "a") < '0' (0x30).
	want := []string{"A", "a-b", "a.txt", "a", "a0", "b"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("git order (-want +got):\n%s", diff)
	}
	tr := &Tree{Entries: es}
	for _, e := range es {
		if got, ok := tr.Find(e.Name); !ok || got != e {
			t.Errorf("Find(%q) = %v, %v", e.Name, got, ok)
		}
	}
	if _, ok := tr.Find("missing"); ok {
		t.Error("Find(missing) found something")
	}
}

// TestGitOrderMatchesGit checks the order against git's own mktree.
func TestGitOrderMatchesGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", dir).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	names := []string{"foo", "foo.c", "foo-bar", "foo0", "Foo", "fo", "foo bar", "é"}
	var in strings.Builder
	const blob = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
	const tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
	es := []Entry{}
	for i, n := range names {
		if i%2 == 0 {
			in.WriteString("040000 tree " + tree + "\t" + n + "\n")
			es = append(es, Entry{Name: n, Mode: ModeDir})
		} else {
			in.WriteString("100644 blob " + blob + "\t" + n + "\n")
			es = append(es, Entry{Name: n, Mode: ModeFile})
		}
	}
	mk := exec.Command("git", "-C", dir, "mktree", "--missing")
	mk.Stdin = strings.NewReader(in.String())
	out, err := mk.Output()
	if err != nil {
		t.Fatalf("mktree: %v", err)
	}
	ls, err := exec.Command("git", "-C", dir, "-c", "core.quotepath=false", "ls-tree", "--name-only", strings.TrimSpace(string(out))).Output()
	if err != nil {
		t.Fatalf("ls-tree: %v", err)
	}
	want := strings.Split(strings.TrimSpace(string(ls)), "\n")
	SortEntries(es)
	var got []string
	for _, e := range es {
		got = append(got, e.Name)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order differs from git's (-git +ours):\n%s", diff)
	}
}

func genTree(t *rapid.T) *Tree {
	names := rapid.SliceOfNDistinct(rapid.StringMatching(`[a-zA-Z0-9._ -]{1,12}`), 0, 30, func(s string) string { return s }).Draw(t, "names")
	var es []Entry
	modes := []Mode{ModeFile, ModeExec, ModeSymlink, ModeDir, ModeGitlink}
	for _, n := range names {
		if ValidName(n) != nil {
			continue
		}
		var id ID
		copy(id[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "id"))
		es = append(es, Entry{Name: n, Mode: rapid.SampledFrom(modes).Draw(t, "mode"), ID: id})
	}
	SortEntries(es)
	return &Tree{Entries: es}
}

func TestTreeEncodingRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr := genTree(t)
		b, err := EncodeTree(tr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeTree(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.Entries) == 0 && len(got.Entries) == 0 {
			return
		}
		if diff := cmp.Diff(tr.Entries, got.Entries); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
		b2, _ := EncodeTree(got)
		if string(b) != string(b2) {
			t.Fatal("re-encoding differs")
		}
		// Any truncation is rejected, never mis-decoded.
		if len(b) > 1 {
			cut := rapid.IntRange(1, len(b)-1).Draw(t, "cut")
			if _, err := DecodeTree(b[:cut]); err == nil {
				t.Fatalf("truncated at %d of %d decoded", cut, len(b))
			}
		}
	})
}

func TestEncodeTreeRejects(t *testing.T) {
	tests := map[string][]Entry{
		"duplicate":    {{Name: "a", Mode: ModeFile}, {Name: "a", Mode: ModeFile}},
		"order":        {{Name: "b", Mode: ModeFile}, {Name: "a", Mode: ModeFile}},
		"dotgit":       {{Name: ".GiT", Mode: ModeDir}},
		"dotdot":       {{Name: "..", Mode: ModeDir}},
		"slash":        {{Name: "a/b", Mode: ModeFile}},
		"nul":          {{Name: "a\x00", Mode: ModeFile}},
		"empty":        {{Name: "", Mode: ModeFile}},
		"bad mode":     {{Name: "a", Mode: 0o100664}},
		"dir and file": {{Name: "a", Mode: ModeFile}, {Name: "a", Mode: ModeDir}},
	}
	for name, es := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := EncodeTree(&Tree{Entries: es})
			if !errors.Is(err, ErrBadTree) {
				t.Errorf("got %v, want ErrBadTree", err)
			}
		})
	}
	for _, b := range [][]byte{nil, {2}, {1, 1, 9}, {1, 200}, append([]byte{1, 0}, 7)} {
		if _, err := DecodeTree(b); !errors.Is(err, ErrBadTree) {
			t.Errorf("DecodeTree(%x) = %v, want ErrBadTree", b, err)
		}
	}
}

func TestModes(t *testing.T) {
	for _, m := range []Mode{ModeFile, ModeExec, ModeSymlink, ModeDir, ModeGitlink} {
		if !m.Valid() {
			t.Errorf("%v invalid", m)
		}
	}
	if Mode(0o100664).Valid() {
		t.Error("100664 valid")
	}
	if ModeDir.String() != "040000" || !ModeDir.IsDir() || ModeDir.IsBlob() || !ModeSymlink.IsBlob() {
		t.Error("mode predicates")
	}
	_ = sort.Strings
}

func TestValidNameAndCleanPath(t *testing.T) {
	bad := []string{"", ".", "..", ".git", ".GIT", ".Git.", ".git ", "git~1", "GIT~1", ".g\u200cit", "a/b", "a\x00b"}
	for _, n := range bad {
		if err := ValidName(n); !errors.Is(err, ErrBadPath) {
			t.Errorf("ValidName(%q) = %v, want ErrBadPath", n, err)
		}
	}
	for _, n := range []string{"a", ".gitignore", ".github", "git", "x.git", "..a", "é ü"} {
		if err := ValidName(n); err != nil {
			t.Errorf("ValidName(%q) = %v, want nil", n, err)
		}
	}
	for _, p := range []string{"/etc/passwd", "a/../b", "a//b", "a/", "../x", ".git/config", "x/.GIT/hooks/pre-commit", ""} {
		if _, err := CleanPath(p); !errors.Is(err, ErrBadPath) {
			t.Errorf("CleanPath(%q) = %v, want ErrBadPath", p, err)
		}
	}
	parts, err := CleanPath("a/b c/d.txt")
	if err != nil || len(parts) != 3 {
		t.Errorf("CleanPath ok path: %v, %v", parts, err)
	}
}

// TestIsDotGitMatchesDefinition checks isDotGit's ASCII shortcut against
// the rule written out plainly: drop HFS+'s ignored code points, then
// NTFS's trailing dots and spaces, then compare in any letter case.
func TestIsDotGitMatchesDefinition(t *testing.T) {
	// The code points HFS+ ignores, spelled out here (not hfsIgnored, the
	// list under test).
	const ignored = "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u206a\u206b\u206c\u206d\u206e\u206f\ufeff"
	plain := func(name string) bool {
		var b strings.Builder
		for _, r := range name {
			if !strings.ContainsRune(ignored, r) {
				b.WriteRune(r)
			}
		}
		trimmed := strings.TrimRight(b.String(), ". ")
		return strings.EqualFold(trimmed, ".git") || strings.EqualFold(trimmed, "git~1")
	}
	for _, n := range []string{".git", ".GiT. . ", "git~1", "Git~1.", ".g\u200dit", "\ufeff.git", ".git\u200c.", ".gi", ".gitx", "git~2", "\u212a"} {
		if got, want := isDotGit(n), plain(n); got != want {
			t.Errorf("isDotGit(%q) = %v, want %v", n, got, want)
		}
	}
	letters := append([]rune(".gGiItT~1 x\u0130\u0131\u212a\u017f"), []rune(ignored)...)
	rapid.Check(t, func(rt *rapid.T) {
		rs := rapid.SliceOfN(rapid.SampledFrom(letters), 0, 8).Draw(rt, "runes")
		n := string(rs)
		if got, want := isDotGit(n), plain(n); got != want {
			rt.Fatalf("isDotGit(%q) = %v, want %v", n, got, want)
		}
	})
}
