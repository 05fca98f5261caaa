//go:build !thin

package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// A workload is what io-report replays against each side: a starting tree
// and a seeded sequence of steps. Everything in it is computed up front from
// the seed, so every side applies the same bytes to the same paths.
type workload struct {
	name  string
	seed  uint64
	base  map[string][]byte
	paths []string // of base, sorted
	// steps are the measured steps (edits, branches) or, for push, the
	// history that is pushed in one go before the one-commit pushes.
	steps []workStep
	// extra are the one-commit pushes of the push workload.
	extra []workStep
}

// A workStep is one agent step: write these files, then snapshot. With
// fromBase the worktree first returns to the base state (a new variant of
// it: the branches workload).
type workStep struct {
	fromBase bool
	files    []fileEdit
}

type fileEdit struct {
	path    string
	content []byte
}

// treeBytes is the total size of a tree's files.
func treeBytes(t map[string][]byte) int64 {
	var n int64
	for _, b := range t {
		n += int64(len(b))
	}
	return n
}

func sortedPaths(t map[string][]byte) []string {
	ps := make([]string, 0, len(t))
	for p := range t {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

var (
	dirWords  = []string{"cmd", "internal", "pkg", "api", "store", "cache", "index", "server", "client", "proto", "util", "config", "auth", "log", "metrics", "query", "plan", "exec", "codec", "wire", "tree", "graph", "sync", "fs", "net", "http", "db", "sql", "kv", "raft", "gc", "io", "tools", "docs", "test"}
	fileWords = []string{"main", "handler", "reader", "writer", "buffer", "options", "errors", "types", "state", "node", "entry", "batch", "iter", "table", "merge", "split", "scan", "lock", "pool", "queue", "retry", "limit", "token", "codec", "schema", "plan", "cost", "stats", "trace", "hash"}
	identA    = []string{"read", "write", "open", "close", "parse", "encode", "decode", "load", "store", "find", "apply", "merge", "check", "build", "next", "reset", "flush", "sync", "update", "walk"}
	identB    = []string{"Entry", "Node", "Batch", "Buffer", "Header", "State", "Table", "Index", "Key", "Value", "Range", "Block", "Page", "Ref", "Tree", "Chunk", "Record", "Frame", "Token", "Config"}
	fileExts  = []string{".go", ".go", ".go", ".go", "_test.go", ".go", ".md", ".go", ".proto", ".go"}
)

// genTree returns a realistic source tree, deterministic in seed: 700 to
// 1,000 files of 2 to 5 KB of Go-like text, in directories nested up to four
// deep, a few to a few dozen files each.
func genTree(seed uint64) map[string][]byte {
	return genTreeSized(seed, 700, 300, 2048, 3072)
}

// genTreeSized is genTree with the file count (minFiles + up to spread) and
// file sizes (minSize + up to sizeSpread) as parameters; tests use tiny trees.
func genTreeSized(seed uint64, minFiles, spread, minSize, sizeSpread int) map[string][]byte {
	rng := rand.New(rand.NewPCG(seed, 0x10))
	nfiles := minFiles
	if spread > 0 {
		nfiles += rng.IntN(spread + 1)
	}
	// Directories: a random tree grown from the root, about one per 18 files.
	dirs := []string{""}
	depth := map[string]int{"": 0}
	for len(dirs) < max(2, nfiles/18) {
		parent := dirs[rng.IntN(len(dirs))]
		if depth[parent] >= 4 {
			continue
		}
		name := dirWords[rng.IntN(len(dirWords))]
		p := name
		if parent != "" {
			p = parent + "/" + name
		}
		if _, ok := depth[p]; ok {
			continue
		}
		dirs = append(dirs, p)
		depth[p] = depth[parent] + 1
	}
	out := make(map[string][]byte, nfiles)
	for len(out) < nfiles {
		d := dirs[rng.IntN(len(dirs))]
		name := fileWords[rng.IntN(len(fileWords))] + "_" + fileWords[rng.IntN(len(fileWords))] + fileExts[rng.IntN(len(fileExts))]
		p := name
		if d != "" {
			p = d + "/" + name
		}
		if _, ok := out[p]; ok {
			continue
		}
		out[p] = genSource(rng, p, minSize+rng.IntN(sizeSpread+1))
	}
	return out
}

// genSource writes about size bytes of Go-like source.
func genSource(rng *rand.Rand, path string, size int) []byte {
	var b bytes.Buffer
	pkg := filepath.Base(filepath.Dir(path))
	if pkg == "." {
		pkg = "main"
	}
	fmt.Fprintf(&b, "// Package %s is generated test input for helios io-report.\npackage %s\n\nimport (\n\t\"errors\"\n\t\"fmt\"\n)\n\n", pkg, pkg)
	for b.Len() < size {
		b.WriteString(genLine(rng))
	}
	return b.Bytes()[:size:size]
}

// genLine returns one line of plausible code, newline included.
func genLine(rng *rand.Rand) string {
	id := func() string { return identA[rng.IntN(len(identA))] + identB[rng.IntN(len(identB))] }
	switch rng.IntN(9) {
	case 0:
		return fmt.Sprintf("\nfunc %s(x *%s, n int) error {\n", id(), identB[rng.IntN(len(identB))])
	case 1:
		return fmt.Sprintf("\tif err := %s(x, n+%d); err != nil {\n\t\treturn fmt.Errorf(\"%s: %%w\", err)\n\t}\n", id(), rng.IntN(100), id())
	case 2:
		return fmt.Sprintf("\t// %s keeps the %s until %s is done.\n", id(), strings.ToLower(identB[rng.IntN(len(identB))]), id())
	case 3:
		return fmt.Sprintf("\tfor i := 0; i < n; i++ {\n\t\tx.%s[i] = %s(i)\n\t}\n", identB[rng.IntN(len(identB))], id())
	case 4:
		return "\treturn nil\n}\n"
	case 5:
		return fmt.Sprintf("\tv%d := x.%s(%d)\n", rng.IntN(10), id(), rng.IntN(1000))
	case 6:
		return fmt.Sprintf("\tif n > %d {\n\t\treturn errors.New(\"%s too large\")\n\t}\n", rng.IntN(4096), strings.ToLower(identB[rng.IntN(len(identB))]))
	case 7:
		return fmt.Sprintf("\tx.%s = append(x.%s, %s(n))\n", identB[rng.IntN(len(identB))], identB[rng.IntN(len(identB))], id())
	default:
		return fmt.Sprintf("\tn += len(x.%s) * %d\n", identB[rng.IntN(len(identB))], rng.IntN(64))
	}
}

// editFile changes one to three lines of content the way an agent does:
// replace a line, insert one, or delete one.
func editFile(rng *rand.Rand, content []byte) []byte {
	lines := strings.SplitAfter(string(content), "\n")
	for k := 1 + rng.IntN(3); k > 0; k-- {
		i := rng.IntN(len(lines))
		switch op := rng.IntN(4); {
		case op <= 1 || len(lines) < 4:
			lines[i] = genLine(rng)
		case op == 2:
			lines = append(lines[:i], append([]string{genLine(rng)}, lines[i:]...)...)
		default:
			lines = append(lines[:i], lines[i+1:]...)
		}
	}
	return []byte(strings.Join(lines, ""))
}

// genSteps makes n steps of one to three edited files each. Cumulative
// steps build on each other (an agent's edit loop); otherwise every step
// starts again from base (variants of one state).
func genSteps(rng *rand.Rand, base map[string][]byte, paths []string, n int, cumulative bool) []workStep {
	cur := make(map[string][]byte, len(base))
	for p, b := range base {
		cur[p] = b
	}
	steps := make([]workStep, 0, n)
	for i := 0; i < n; i++ {
		src := cur
		if !cumulative {
			src = base
		}
		st := workStep{fromBase: !cumulative}
		seen := map[string]bool{}
		for k := 1 + rng.IntN(3); k > 0; k-- {
			p := paths[rng.IntN(len(paths))]
			if seen[p] {
				continue
			}
			seen[p] = true
			c := editFile(rng, src[p])
			st.files = append(st.files, fileEdit{path: p, content: c})
			if cumulative {
				cur[p] = c
			}
		}
		steps = append(steps, st)
	}
	return steps
}

// pushIncrements is how many one-commit pushes follow the history push.
const pushIncrements = 10

// newWorkload builds the named workload from base (nil: a generated tree).
func newWorkload(name string, base map[string][]byte, n int, seed uint64) (*workload, error) {
	if base == nil {
		base = genTree(seed)
	}
	if len(base) == 0 {
		return nil, fmt.Errorf("the starting tree has no files")
	}
	w := &workload{name: name, seed: seed, base: base, paths: sortedPaths(base)}
	rng := rand.New(rand.NewPCG(seed, 0xed175))
	switch name {
	case "edits":
		w.steps = genSteps(rng, base, w.paths, n, true)
	case "branches":
		w.steps = genSteps(rng, base, w.paths, n, false)
	case "push":
		all := genSteps(rng, base, w.paths, n+pushIncrements, true)
		w.steps, w.extra = all[:n], all[n:]
	default:
		return nil, fmt.Errorf("unknown workload %q (want edits, branches or push)", name)
	}
	return w, nil
}

// readTree loads every regular file under dir (leaving out .git) as the
// starting tree.
func readTree(dir string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" && p != dir {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read tree %q: %w", dir, err)
	}
	return out, nil
}

// writeTree writes files into dir (harness work, not measured).
func writeTree(dir string, files map[string][]byte) error {
	for _, p := range sortedPaths(files) {
		if err := writeFile(dir, p, files[p]); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(dir, p string, content []byte) error {
	full := filepath.Join(dir, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o777); err != nil {
		return err
	}
	return os.WriteFile(full, content, 0o644)
}

func applyEdits(dir string, files []fileEdit) error {
	for _, f := range files {
		if err := writeFile(dir, f.path, f.content); err != nil {
			return err
		}
	}
	return nil
}
