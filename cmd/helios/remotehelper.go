//go:build !thin

package main

import (
	"context"
	"os"

	"github.com/helios-vcs/helios/cmd/internal/remotehelper"
	"github.com/helios-vcs/helios/cmd/internal/remotehelper/direct"
	"github.com/urfave/cli/v2"
)

// remoteHelperCommand is git-remote-helios inside helios, with the store
// opened in this process when no server serves it: the thin build of
// git-remote-helios (no RocksDB) execs it for such stores.
func remoteHelperCommand() *cli.Command {
	return &cli.Command{
		Name:            "git-remote-helios",
		Usage:           "the git remote helper (git runs git-remote-helios; its thin build runs this)",
		UsageText:       "helios git-remote-helios REMOTE [URL]",
		Hidden:          true,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			code := remotehelper.Run(context.Background(), c.Args().Slice(), os.Getenv("GIT_DIR"), os.Stdin, c.App.Writer, c.App.ErrWriter,
				remotehelper.Options{Direct: direct.Open})
			if code != 0 {
				return &exitError{code, errReported}
			}
			return nil
		},
	}
}
