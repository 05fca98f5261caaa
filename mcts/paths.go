package mcts

import (
	"bytes"
	"fmt"
	"path"
	"strings"

	"github.com/helios-vcs/helios/objstore"
)

// maxEditable is the largest file the search edits.
const maxEditable = 256 << 10

var nonCode = map[string]bool{".md": true, ".txt": true, ".rst": true, ".json": true, ".lock": true,
	".sum": true, ".mod": true, ".csv": true, ".svg": true, ".png": true, ".jpg": true, ".gif": true,
	".pdf": true, ".xml": true, ".cfg": true, ".ini": true, ".toml": true, ".yaml": true, ".yml": true}

var testDirs = map[string]bool{"test": true, "tests": true, "testdata": true, "__tests__": true,
	"spec": true, "fixtures": true, "heldout": true}

// testLike reports whether a path looks like a test, a fixture or a
// non-code file, which the search does not edit unless --files says so:
// editing the tests is not fixing the code.
func testLike(p string) bool {
	parts := strings.Split(p, "/")
	for _, d := range parts[:len(parts)-1] {
		if testDirs[d] || strings.HasPrefix(d, ".") {
			return true
		}
	}
	base := parts[len(parts)-1]
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	upper := strings.ToUpper(stem)
	switch {
	case nonCode[strings.ToLower(ext)], strings.HasPrefix(base, "."),
		strings.HasPrefix(upper, "README"), strings.HasPrefix(upper, "LICENSE"),
		strings.HasSuffix(stem, "_test"), strings.HasSuffix(stem, "_spec"), strings.HasSuffix(stem, ".test"),
		strings.HasPrefix(stem, "test_"), stem == "test", stem == "tests", stem == "conftest",
		strings.HasPrefix(stem, "run_test"), strings.HasPrefix(stem, "heldout"):
		return true
	}
	return false
}

// matchGlob matches p against a --files pattern: a pattern without '/'
// matches the base name anywhere; "dir/**" matches everything under dir;
// otherwise path.Match on the whole path.
func matchGlob(pat, p string) bool {
	if strings.HasSuffix(pat, "/**") {
		return strings.HasPrefix(p, strings.TrimSuffix(pat, "**"))
	}
	if !strings.Contains(pat, "/") {
		ok, _ := path.Match(pat, path.Base(p))
		return ok
	}
	ok, _ := path.Match(pat, p)
	return ok
}

// listPaths returns every file of state's tree (all) and those the search
// may edit: matching one of globs, or, with none, every file that is not
// test-like; never binary files (a NUL in the first 8 KiB) or files over
// 256 KiB.
func listPaths(w TreeWalker, r FileReader, state, root objstore.ID, globs []string) (editable, all []string, err error) {
	err = w.Walk(root, func(p string, e objstore.Entry) error {
		if e.Mode == objstore.ModeFile || e.Mode == objstore.ModeExec {
			all = append(all, p)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("mcts: list files: %w", err)
	}
	for _, p := range all {
		ok := false
		if len(globs) == 0 {
			ok = !testLike(p)
		}
		for _, g := range globs {
			ok = ok || matchGlob(g, p)
		}
		if !ok {
			continue
		}
		_, b, err := r.ReadFile(state, p)
		if err != nil {
			return nil, nil, fmt.Errorf("mcts: read %q: %w", p, err)
		}
		head := b[:min(len(b), 8<<10)]
		if len(b) > maxEditable || bytes.IndexByte(head, 0) >= 0 {
			continue
		}
		editable = append(editable, p)
	}
	return editable, all, nil
}
