package helper

import (
	"context"
	"fmt"
	"io"
)

// Main is the body of a git-remote-helios executable: args are the
// helper's arguments as git passes them (<remote> <url>), gitDir is
// $GIT_DIR (may be empty) and open turns the URL into a Remote. It
// returns the exit status; errors are printed to stderr as "error: ...",
// the convention git expects from a failing helper.
func Main(ctx context.Context, args []string, gitDir string, stdin io.Reader, stdout, stderr io.Writer, open func(url string) (Remote, error)) int {
	if len(args) < 1 || len(args) > 2 {
		fmt.Fprintln(stderr, "usage: git-remote-helios <remote> [<url>]")
		return 2
	}
	url := args[len(args)-1]
	remote, err := open(url)
	if err != nil {
		fmt.Fprintf(stderr, "error: helper: open %q: %v\n", url, err)
		return 1
	}
	err = Serve(ctx, Config{Remote: remote, GitDir: gitDir, In: stdin, Out: stdout, Err: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	return 0
}
