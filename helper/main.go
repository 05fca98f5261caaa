package helper

import (
	"context"
	"fmt"
	"io"
)

// Main is the body of a git-remote-helios executable: args are the
// helper's arguments as git passes them (<remote> <url>), gitDir is
// $GIT_DIR (may be empty) and open turns the URL into a Remote before the
// helper reads from git. It returns the exit status; errors are printed
// to stderr as "error: ...", the convention git expects from a failing
// helper.
func Main(ctx context.Context, args []string, gitDir string, stdin io.Reader, stdout, stderr io.Writer, open func(url string) (Remote, error)) int {
	return MainConnecting(ctx, args, gitDir, stdin, stdout, stderr, func(url string) (func() (Remote, error), error) {
		r, err := open(url)
		if err != nil {
			return nil, err
		}
		return Reached(r), nil
	})
}

// Reached is the connect function (MainConnecting, Config.Connect) of a
// remote already reached.
func Reached(r Remote) func() (Remote, error) {
	return func() (Remote, error) { return r, nil }
}

// MainConnecting is Main for a remote that takes a while to reach (a
// store's server that may have to start): open decides at once how the
// URL is reached, or fails, and its connect function runs while the
// helper answers git's first commands (Config.Connect); its error is
// reported at the first command that needs the remote.
func MainConnecting(ctx context.Context, args []string, gitDir string, stdin io.Reader, stdout, stderr io.Writer, open func(url string) (connect func() (Remote, error), err error)) int {
	if len(args) < 1 || len(args) > 2 {
		fmt.Fprintln(stderr, "usage: git-remote-helios <remote> [<url>]")
		return 2
	}
	url := args[len(args)-1]
	connect, err := open(url)
	if err != nil {
		fmt.Fprintf(stderr, "error: helper: open %q: %v\n", url, err)
		return 1
	}
	err = Serve(ctx, Config{GitDir: gitDir, In: stdin, Out: stdout, Err: stderr, Connect: func() (Remote, error) {
		r, err := connect()
		if err != nil {
			return nil, fmt.Errorf("helper: open %q: %w", url, err)
		}
		return r, nil
	}})
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	return 0
}
