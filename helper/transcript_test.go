package helper_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/helios-vcs/helios/helper"
)

var update = flag.Bool("update", false, "rewrite testdata/*.txt with the helper's actual output")

// TestTranscripts replays testdata/*.txt: directives ("#! fixture basic"),
// the lines git sends, a "----" line, and the lines the helper must send
// back. $A $B $C $V1 $Z and $GIT_DIR stand for the fixture's ids and
// paths. A final "!! <error>" line is the error Serve returned.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			header, want, ok := strings.Cut(string(data), "\n----\n")
			if !ok {
				t.Fatalf("%s: no ---- separator", file)
			}
			kind := "basic"
			var in []string
			for _, line := range strings.SplitAfter(header, "\n") {
				if d, ok := strings.CutPrefix(line, "#! fixture "); ok {
					kind = strings.TrimSpace(d)
					continue
				}
				if strings.HasPrefix(line, "#") {
					continue
				}
				in = append(in, line)
			}
			f := newFixture(t, kind)
			input := f.expand(strings.Join(in, ""))
			var out, stderr bytes.Buffer
			err = helper.Serve(context.Background(), helper.Config{
				Remote: f.remote, GitDir: f.gitDir,
				In: strings.NewReader(input), Out: &out, Err: &stderr,
			})
			got := f.unexpand(out.String())
			if err != nil {
				got += "!! " + f.unexpand(err.Error()) + "\n"
			}
			if *update {
				if err := os.WriteFile(file, []byte(header+"\n----\n"+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("transcript mismatch (-want +got):\n%s\nstderr:\n%s", diff, stderr.String())
			}
		})
	}
}
