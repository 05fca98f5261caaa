package helper

import (
	"context"
	"fmt"
	"io"
)

// Main is the body of a git-remote-helios executable: args are the
// helper's arguments as git passes them (<remote> <url>), gitDir is
// $GIT_DIR (may be empty) and open turns the URL into a Remote: it runs
// while git and the helper exchange capabilities and options
// (Config.Connect), and its error is reported at git's first command
// that needs the remote. It returns the exit status; errors are printed to stderr as "error: ...",
// the convention git expects from a failing helper.
func Main(ctx context.Context, args []string, gitDir string, stdin io.Reader, stdout, stderr io.Writer, open func(url string) (Remote, error)) int {
	if len(args) < 1 || len(args) > 2 {
		fmt.Fprintln(stderr, "usage: git-remote-helios <remote> [<url>]")
		return 2
	}
	url := args[len(args)-1]
	connect := func() (Remote, error) {
		r, err := open(url)
		if err != nil {
			return nil, fmt.Errorf("helper: open %q: %w", url, err)
		}
		return r, nil
	}
	err := Serve(ctx, Config{Connect: connect, GitDir: gitDir, In: stdin, Out: stdout, Err: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	return 0
}
