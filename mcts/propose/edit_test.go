package propose

import (
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func reader(files map[string]string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		c, ok := files[p]
		if !ok {
			return nil, os.ErrNotExist
		}
		return []byte(c), nil
	}
}

func TestApply(t *testing.T) {
	files := map[string]string{
		"a.go":   "one\ntwo\nthree\n",
		"crlf":   "x\r\ny\r\n",
		"nonl":   "p\nq",
		"spaces": "a  \nb\n",
	}
	tests := []struct {
		name  string
		edits []Edit
		want  map[string]string
		bad   bool
	}{
		{"replace", []Edit{{Path: "a.go", Line: 2, Old: "two", New: []string{"TWO"}}}, map[string]string{"a.go": "one\nTWO\nthree\n"}, false},
		{"delete", []Edit{{Path: "a.go", Line: 1, Old: "one", New: []string{}}}, map[string]string{"a.go": "two\nthree\n"}, false},
		{"insert", []Edit{{Path: "a.go", Line: 3, Old: "three", New: []string{"three", "four"}}}, map[string]string{"a.go": "one\ntwo\nthree\nfour\n"}, false},
		{"swap", []Edit{{Path: "a.go", Line: 2, Old: "two", New: []string{"one"}}, {Path: "a.go", Line: 1, Old: "one", New: []string{"two"}}}, map[string]string{"a.go": "two\none\nthree\n"}, false},
		{"two files", []Edit{{Path: "a.go", Line: 1, Old: "one", New: []string{"1"}}, {Path: "nonl", Line: 2, Old: "q", New: []string{"Q"}}}, map[string]string{"a.go": "1\ntwo\nthree\n", "nonl": "p\nQ"}, false},
		{"crlf kept", []Edit{{Path: "crlf", Line: 1, Old: "x", New: []string{"z"}}}, map[string]string{"crlf": "z\r\ny\r\n"}, false},
		{"trailing space ignored", []Edit{{Path: "spaces", Line: 1, Old: "a", New: []string{"A"}}}, map[string]string{"spaces": "A\nb\n"}, false},
		{"old mismatch", []Edit{{Path: "a.go", Line: 2, Old: "three", New: []string{"x"}}}, nil, true},
		{"line zero", []Edit{{Path: "a.go", Line: 0, Old: "", New: []string{"x"}}}, nil, true},
		{"past end", []Edit{{Path: "a.go", Line: 4, Old: "", New: []string{"x"}}}, nil, true},
		{"twice", []Edit{{Path: "a.go", Line: 1, Old: "one", New: []string{"x"}}, {Path: "a.go", Line: 1, Old: "one", New: []string{"y"}}}, nil, true},
		{"no file", []Edit{{Path: "b.go", Line: 1, Old: "one", New: []string{"x"}}}, nil, true},
		{"newline in new", []Edit{{Path: "a.go", Line: 1, Old: "one", New: []string{"x\ny"}}}, nil, true},
		{"no change", []Edit{{Path: "a.go", Line: 1, Old: "one", New: []string{"one"}}}, nil, true},
		{"empty", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Apply(Candidate{Edits: tt.edits}, reader(files))
			if tt.bad {
				if !errors.Is(err, ErrBadEdit) {
					t.Fatalf("got %v, want ErrBadEdit", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gs := map[string]string{}
			for p, b := range got {
				gs[p] = string(b)
			}
			if d := cmp.Diff(tt.want, gs); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestLinesAndStrings(t *testing.T) {
	for in, want := range map[string][]string{"": nil, "\n": {""}, "a": {"a"}, "a\nb\n": {"a", "b"}, "a\r\n\n": {"a", ""}} {
		if d := cmp.Diff(want, Lines([]byte(in))); d != "" {
			t.Errorf("Lines(%q): %s", in, d)
		}
	}
	e := Edit{Path: "a.go", Line: 3, Old: " x < n", New: []string{"x <= n"}}
	if got, want := e.String(), `a.go:3: "x < n" → "x <= n"`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := (Edit{Path: "a", Line: 1, Old: "x"}).String(); got != `a:1: delete "x"` {
		t.Errorf("got %s", got)
	}
	if got := (Edit{Path: "a", Line: 1, Old: "x", New: []string{"x", "x"}}).String(); got != `a:1: "x" → 2 lines` {
		t.Errorf("got %s", got)
	}
	a := Candidate{Edits: []Edit{e}}
	b := Candidate{Edits: []Edit{e}, Note: "other"}
	if a.Key() != b.Key() || a.Key() == (Candidate{}).Key() {
		t.Error("Key does not identify edits")
	}
}
