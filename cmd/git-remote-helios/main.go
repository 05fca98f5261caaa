//go:build !thin

package main

import (
	"context"
	"io"
	"os"

	"github.com/helios-vcs/helios/cmd/internal/remotehelper"
	"github.com/helios-vcs/helios/cmd/internal/remotehelper/direct"
	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/objstore"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv("GIT_DIR"), os.Stdin, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, gitDir string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runWith(ctx, args, gitDir, stdin, stdout, stderr, nil)
}

// runWith is run with a hook that may wrap the Remote (tests inject delays
// that way).
func runWith(ctx context.Context, args []string, gitDir string, stdin io.Reader, stdout, stderr io.Writer, wrap func(helper.Remote) helper.Remote) int {
	return remotehelper.Run(ctx, args, gitDir, stdin, stdout, stderr, remotehelper.Options{Direct: direct.Open, Wrap: wrap})
}

func storePath(url string) (string, error) { return remotehelper.StorePath(url) }

func openStore(dir string, write bool, stderr io.Writer) (*objstore.Store, error) {
	return direct.OpenStore(dir, write, stderr)
}
