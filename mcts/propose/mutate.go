package propose

import (
	"context"
	"math"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Mutate is the built-in proposer. It needs nothing external and knows no
// language: it edits single lines of the editable files with the classic
// mutation operators, on the lines the node's own test output points at.
//
// Lines are ranked by Ranker (file:line references in the output, their
// neighbours, the bodies of the functions the failing tests name); the
// best Lines of them are mutated, every operator that applies giving one
// candidate:
//
//	cmp    < <= > >= == != replaced by a neighbour (< by <= and >, ...)
//	arith  binary + - * / swapped (+ and -, * and /), += -=, ++ --
//	bool   && and ||, and/or, true/false, True/False
//	const  an integer literal n becomes n+1, n-1, 0 and 1
//	cond   an if/elif/while condition negated, or one side of its && or ||
//	       dropped
//	args   the two arguments of a call swapped
//	delete, dup, swap   a statement line deleted, duplicated, swapped with
//	       the next line of the same indentation
//
// Code inside string literals and comments is left alone ("#" comments for
// Python, shell, Ruby and the like; "//" otherwise). Candidates are ordered
// by line score times an operator weight; ties are broken by the request's
// Rand, so the order depends on the search seed and on nothing else. All
// candidates come in round 0; later rounds get none.
type Mutate struct {
	// Lines is how many of the best-ranked lines are mutated (default 40).
	Lines int
	// Max caps the candidates per node (default 300).
	Max int
}

var _ Proposer = (*Mutate)(nil)

var opWeight = map[string]float64{
	"cmp": 1, "bool": 0.9, "arith": 0.9, "const": 0.8, "cond": 0.7, "args": 0.6,
	"delete": 0.5, "swap": 0.4, "dup": 0.3,
}

// Propose implements Proposer.
func (m *Mutate) Propose(ctx context.Context, req *Request) ([]Candidate, error) {
	if req.Round > 0 {
		return nil, nil
	}
	nLines, max := m.Lines, m.Max
	if nLines <= 0 {
		nLines = 40
	}
	if max <= 0 {
		max = 300
	}
	rk := &Ranker{Paths: req.Paths, All: req.All, Read: req.Read, Output: req.Output, Failing: req.Failing}
	scores := rk.Scores()
	type lineRef struct {
		path  string
		i     int
		score float64
		tie   float64
	}
	var lines []lineRef
	for _, p := range req.Paths { // req.Paths order, not map order: determinism
		for i, s := range scores[p] {
			lines = append(lines, lineRef{p, i, s, req.Rand.Float64()})
		}
	}
	sort.SliceStable(lines, func(a, b int) bool {
		if lines[a].score != lines[b].score {
			return lines[a].score > lines[b].score
		}
		return lines[a].tie < lines[b].tie
	})
	type scored struct {
		c     Candidate
		score float64
		tie   float64
	}
	var out []scored
	seen := map[string]bool{}
	contents := map[string][]string{}
	for _, lr := range lines {
		ls, ok := contents[lr.path]
		if !ok {
			b, err := req.Read(lr.path)
			if err != nil {
				continue
			}
			ls = Lines(b)
			contents[lr.path] = ls
		}
		ms := Mutations(lr.path, ls, lr.i+1)
		if len(ms) == 0 {
			continue
		}
		nLines--
		for _, c := range ms {
			k := c.Key()
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, scored{c, lr.score * opWeight[c.Note], req.Rand.Float64()})
		}
		if nLines == 0 {
			break
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].score != out[b].score {
			return out[a].score > out[b].score
		}
		return out[a].tie < out[b].tie
	})
	if len(out) > max {
		out = out[:max]
	}
	cs := make([]Candidate, len(out))
	top := 0.0
	for _, s := range out {
		top = math.Max(top, s.score)
	}
	for i, s := range out {
		cs[i] = s.c
		if top > 0 {
			cs[i].Prior = s.score / top
		}
	}
	return cs, nil
}

// hashComments lists extensions whose comments start with '#'.
var hashComments = map[string]bool{".py": true, ".sh": true, ".bash": true, ".rb": true, ".pl": true,
	".r": true, ".yaml": true, ".yml": true, ".toml": true, ".mk": true, ".cmake": true, ".tcl": true, "": true}

// codeMask marks the bytes of line that are code: not in a string literal,
// not in a comment.
func codeMask(p, line string) []bool {
	hash := hashComments[strings.ToLower(path.Ext(p))]
	mask := make([]bool, len(line))
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case hash && c == '#', !hash && c == '/' && i+1 < len(line) && line[i+1] == '/':
			return mask
		default:
			mask[i] = true
		}
	}
	return mask
}

// operator tokens, longest first; those mapped to nothing are skipped whole.
var opTokens = []struct {
	tok  string
	to   []string
	kind string
}{
	{"<<=", nil, ""}, {">>=", nil, ""}, {"...", nil, ""}, {"**=", nil, ""}, {"&^=", nil, ""},
	{"<=", []string{"<", ">="}, "cmp"}, {">=", []string{">", "<="}, "cmp"},
	{"==", []string{"!="}, "cmp"}, {"!=", []string{"=="}, "cmp"},
	{"&&", []string{"||"}, "bool"}, {"||", []string{"&&"}, "bool"},
	{"+=", []string{"-="}, "arith"}, {"-=", []string{"+="}, "arith"},
	{"++", []string{"--"}, "arith"}, {"--", []string{"++"}, "arith"},
	{"<<", nil, ""}, {">>", nil, ""}, {"<-", nil, ""}, {"->", nil, ""}, {"=>", nil, ""},
	{":=", nil, ""}, {"**", nil, ""}, {"//", nil, ""}, {"*=", nil, ""}, {"/=", nil, ""},
	{"%=", nil, ""}, {"|=", nil, ""}, {"&=", nil, ""}, {"^=", nil, ""}, {"&^", nil, ""},
	{"<", []string{"<=", ">"}, "cmp"}, {">", []string{">=", "<"}, "cmp"},
	{"+", []string{"-"}, "arith"}, {"-", []string{"+"}, "arith"},
	{"*", []string{"/"}, "arith"}, {"/", []string{"*"}, "arith"},
}

var wordSwaps = map[string]struct {
	to   string
	kind string
}{
	"and": {"or", "bool"}, "or": {"and", "bool"}, "true": {"false", "bool"}, "false": {"true", "bool"},
	"True": {"False", "bool"}, "False": {"True", "bool"},
}

var (
	condRE    = regexp.MustCompile(`^(\s*(?:\}\s*)?(?:else\s+if|elif|if|while)\b\s*)(.*?)(\s*(?:\{|:|then|do)?\s*)$`)
	blockOpen = regexp.MustCompile(`[{:(\[]\s*$|^\s*[})\]]|^\s*(?:else|elif|if|for|while|def|func|case|default|switch|try|except|finally|class|return)\b`)
)

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Mutations returns every single-line mutation of line n (1-based) of a
// file, as candidates whose Note is the operator's kind.
func Mutations(p string, lines []string, n int) []Candidate {
	line := lines[n-1]
	if strings.TrimSpace(line) == "" {
		return nil
	}
	mask := codeMask(p, line)
	var out []Candidate
	one := func(kind, nl string) {
		if nl != line {
			out = append(out, Candidate{Note: kind, Edits: []Edit{{Path: p, Line: n, Old: line, New: []string{nl}}}})
		}
	}
	// Operators and words.
	for i := 0; i < len(line); {
		if !mask[i] {
			i++
			continue
		}
		if isIdent(line[i]) {
			j := i
			for j < len(line) && isIdent(line[j]) {
				j++
			}
			w := line[i:j]
			if s, ok := wordSwaps[w]; ok {
				one(s.kind, line[:i]+s.to+line[j:])
			}
			if w[0] >= '0' && w[0] <= '9' {
				if v, err := strconv.Atoi(w); err == nil && (i == 0 || line[i-1] != '.') && (j == len(line) || line[j] != '.') {
					for _, nv := range []int{v + 1, v - 1, 0, 1} {
						if nv != v && nv >= 0 {
							one("const", line[:i]+strconv.Itoa(nv)+line[j:])
						}
					}
				}
			}
			i = j
			continue
		}
		matched := false
		for _, op := range opTokens {
			if !strings.HasPrefix(line[i:], op.tok) {
				continue
			}
			matched = true
			if op.kind != "arith" || len(op.tok) > 1 || binaryContext(line, i) {
				for _, to := range op.to {
					one(op.kind, line[:i]+to+line[i+len(op.tok):])
				}
			}
			i += len(op.tok)
			break
		}
		if !matched {
			i++
		}
	}
	// Conditions.
	if m := condRE.FindStringSubmatch(line); m != nil && strings.TrimSpace(m[2]) != "" {
		cond := m[2]
		python := strings.HasSuffix(strings.TrimSpace(m[3]), ":")
		inner, paren := cond, false
		if strings.HasPrefix(cond, "(") && strings.HasSuffix(cond, ")") && balanced(cond[1:len(cond)-1]) {
			inner, paren = cond[1:len(cond)-1], true
		}
		wrap := func(c string) string {
			if paren {
				return m[1] + "(" + c + ")" + m[3]
			}
			return m[1] + c + m[3]
		}
		switch {
		case strings.HasPrefix(inner, "!(") && balanced(inner[2:len(inner)-1]) && strings.HasSuffix(inner, ")"):
			one("cond", wrap(inner[2:len(inner)-1]))
		case strings.HasPrefix(inner, "not "):
			one("cond", wrap(strings.TrimPrefix(inner, "not ")))
		case python:
			one("cond", wrap("not ("+inner+")"))
		default:
			one("cond", wrap("!("+inner+")"))
		}
		for _, sep := range []string{" && ", " || ", " and ", " or "} {
			parts := splitTop(inner, sep)
			if len(parts) < 2 {
				continue
			}
			for k := range parts {
				rest := append(append([]string(nil), parts[:k]...), parts[k+1:]...)
				one("cond", wrap(strings.Join(rest, sep)))
			}
		}
	}
	// Swapped call arguments.
	for i := 1; i < len(line); i++ {
		if line[i] != '(' || !mask[i] || !isIdent(line[i-1]) {
			continue
		}
		end := matchParen(line, i)
		if end < 0 {
			continue
		}
		args := splitTop(line[i+1:end], ",")
		if len(args) == 2 && strings.TrimSpace(args[0]) != "" && strings.TrimSpace(args[1]) != "" {
			a, b := strings.TrimSpace(args[0]), strings.TrimSpace(args[1])
			if a != b {
				one("args", line[:i+1]+b+", "+a+line[end:])
			}
		}
	}
	// Whole lines: only plain statements, never block openers or closers.
	if !blockOpen.MatchString(line) && !commentOnly(mask, line) {
		out = append(out, Candidate{Note: "delete", Edits: []Edit{{Path: p, Line: n, Old: line, New: []string{}}}})
		out = append(out, Candidate{Note: "dup", Edits: []Edit{{Path: p, Line: n, Old: line, New: []string{line, line}}}})
		if n < len(lines) {
			next := lines[n]
			if next != line && indent(next) == indent(line) && strings.TrimSpace(next) != "" &&
				!blockOpen.MatchString(next) && !commentOnly(codeMask(p, next), next) {
				out = append(out, Candidate{Note: "swap", Edits: []Edit{
					{Path: p, Line: n, Old: line, New: []string{next}},
					{Path: p, Line: n + 1, Old: next, New: []string{line}},
				}})
			}
		}
	}
	return out
}

// binaryContext reports whether the operator at i follows an operand, so
// that it is binary (a - b) and not unary (-1, *p).
func binaryContext(line string, i int) bool {
	j := i - 1
	for j >= 0 && (line[j] == ' ' || line[j] == '\t') {
		j--
	}
	return j >= 0 && (isIdent(line[j]) || line[j] == ')' || line[j] == ']')
}

func indent(s string) string { return s[:len(s)-len(strings.TrimLeft(s, " \t"))] }

func commentOnly(mask []bool, line string) bool {
	for i, m := range mask {
		if m && line[i] != ' ' && line[i] != '\t' {
			return false
		}
	}
	return true
}

func balanced(s string) bool {
	d := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			d++
		case ')':
			d--
			if d < 0 {
				return false
			}
		}
	}
	return d == 0
}

// matchParen returns the index of the ')' closing the '(' at i, or -1.
func matchParen(s string, i int) int {
	d := 0
	var quote byte
	for j := i; j < len(s); j++ {
		c := s[j]
		switch {
		case quote != 0:
			if c == '\\' {
				j++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(':
			d++
		case c == ')':
			d--
			if d == 0 {
				return j
			}
		}
	}
	return -1
}

// splitTop splits s at sep where it is outside brackets and quotes.
func splitTop(s, sep string) []string {
	var parts []string
	d, start := 0, 0
	var quote byte
	for j := 0; j < len(s); j++ {
		c := s[j]
		switch {
		case quote != 0:
			if c == '\\' {
				j++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '[' || c == '{':
			d++
		case c == ')' || c == ']' || c == '}':
			d--
		case d == 0 && strings.HasPrefix(s[j:], sep):
			parts = append(parts, s[start:j])
			start = j + len(sep)
			j += len(sep) - 1
		}
	}
	return append(parts, s[start:])
}
