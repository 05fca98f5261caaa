package propose

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrBadEdit is wrapped by every edit that cannot be applied: a path that is
// not offered, a line out of range, an Old text that does not match, edits
// that overlap.
var ErrBadEdit = errors.New("mcts: invalid edit")

// Edit replaces one line of one file. Line is 1-based and refers to the file
// as the proposer saw it (every edit of a Candidate refers to the same,
// unedited file). Old must equal the current line, ignoring trailing
// whitespace, so that an edit made for other content is rejected rather than
// applied in the wrong place. New is what the line becomes: one line, several
// (an insertion), or none (a deletion).
type Edit struct {
	Path string   `json:"path"`
	Line int      `json:"line"`
	Old  string   `json:"old"`
	New  []string `json:"new"`
}

// String is the one-line form used in state messages: "a.go:12: x < n → x <= n".
func (e Edit) String() string {
	switch len(e.New) {
	case 0:
		return fmt.Sprintf("%s:%d: delete %q", e.Path, e.Line, strings.TrimSpace(e.Old))
	case 1:
		return fmt.Sprintf("%s:%d: %q → %q", e.Path, e.Line, strings.TrimSpace(e.Old), strings.TrimSpace(e.New[0]))
	default:
		return fmt.Sprintf("%s:%d: %q → %d lines", e.Path, e.Line, strings.TrimSpace(e.Old), len(e.New))
	}
}

// Candidate is one proposed child: edits applied together. Prior is the
// proposer's belief that it helps (0..1, used by PUCT; 0 means no opinion).
// Note says what kind of edit it is ("cmp", "llm", ...).
type Candidate struct {
	Edits []Edit  `json:"edits"`
	Prior float64 `json:"prior,omitempty"`
	Note  string  `json:"note,omitempty"`
}

// Key identifies a candidate's edits, to drop duplicates a proposer returns.
func (c Candidate) Key() string {
	var b strings.Builder
	for _, e := range c.Edits {
		fmt.Fprintf(&b, "%s\x00%d\x00%s\x00%s\x01", e.Path, e.Line, e.Old, strings.Join(e.New, "\x00"))
	}
	return b.String()
}

// Lines splits content into lines without their line ends. A final line
// end does not make an empty last line.
func Lines(content []byte) []string {
	s := string(content)
	s = strings.TrimSuffix(s, "\n")
	if s == "" && len(content) <= 1 {
		if len(content) == 0 {
			return nil
		}
		return []string{""}
	}
	ls := strings.Split(s, "\n")
	for i, l := range ls {
		ls[i] = strings.TrimSuffix(l, "\r")
	}
	return ls
}

// Apply applies a candidate's edits to the files they name and returns the
// new contents of the files that changed. read returns a file's current
// content. The candidate is rejected whole (an error wrapping ErrBadEdit) if
// any edit is out of range, does not match, or overlaps another, or if it
// changes nothing.
func Apply(c Candidate, read func(path string) ([]byte, error)) (map[string][]byte, error) {
	if len(c.Edits) == 0 {
		return nil, fmt.Errorf("%w: no edits", ErrBadEdit)
	}
	byPath := map[string][]Edit{}
	var paths []string
	for _, e := range c.Edits {
		if _, ok := byPath[e.Path]; !ok {
			paths = append(paths, e.Path)
		}
		byPath[e.Path] = append(byPath[e.Path], e)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		content, err := read(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrBadEdit, p, err)
		}
		lines := Lines(content)
		es := byPath[p]
		sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
		for i, e := range es {
			if e.Line < 1 || e.Line > len(lines) {
				return nil, fmt.Errorf("%w: %s:%d: no such line (%d lines)", ErrBadEdit, p, e.Line, len(lines))
			}
			if i > 0 && es[i-1].Line == e.Line {
				return nil, fmt.Errorf("%w: %s:%d: edited twice", ErrBadEdit, p, e.Line)
			}
			if strings.TrimRight(lines[e.Line-1], " \t") != strings.TrimRight(e.Old, " \t") {
				return nil, fmt.Errorf("%w: %s:%d: line is %q, not %q", ErrBadEdit, p, e.Line, lines[e.Line-1], e.Old)
			}
			for _, n := range e.New {
				if strings.ContainsAny(n, "\n\r") {
					return nil, fmt.Errorf("%w: %s:%d: new line holds a line break", ErrBadEdit, p, e.Line)
				}
			}
		}
		var nl []string
		next := 0
		for _, e := range es {
			nl = append(nl, lines[next:e.Line-1]...)
			nl = append(nl, e.New...)
			next = e.Line
		}
		nl = append(nl, lines[next:]...)
		eol := "\n"
		if bytes.Contains(content, []byte("\r\n")) {
			eol = "\r\n"
		}
		var b bytes.Buffer
		for _, l := range nl {
			b.WriteString(l)
			b.WriteString(eol)
		}
		if len(content) > 0 && content[len(content)-1] != '\n' && b.Len() > 0 {
			b.Truncate(b.Len() - len(eol)) // keep a missing final newline missing
		}
		if !bytes.Equal(b.Bytes(), content) {
			out[p] = b.Bytes()
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: changes nothing", ErrBadEdit)
	}
	return out, nil
}
