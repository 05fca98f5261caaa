package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/user"
	"strings"

	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/server"
	"github.com/urfave/cli/v2"
)

type snapshotOptions struct {
	store, dir, ref, message string
	durable, json, quiet     bool
	noServer                 bool
}

func snapshotCommand() *cli.Command {
	return &cli.Command{
		Name:      "snapshot",
		Usage:     "record a working directory as a new state on a ref",
		UsageText: "helios snapshot --dir WORKTREE --ref NAME [-m MSG]",
		Flags: []cli.Flag{storeFlag, jsonFlag, quietFlag, noServerFlag,
			&cli.StringFlag{Name: "dir", Value: ".", Usage: "working directory to record"},
			&cli.StringFlag{Name: "ref", Value: "main", Usage: "ref to move (a branch name or refs/...)"},
			&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Value: "snapshot"},
			&cli.BoolFlag{Name: "durable", Usage: "fsync before returning"},
		},
		Action: func(c *cli.Context) error {
			return runSnapshot(snapshotOptions{
				store: c.String("store"), dir: c.String("dir"), ref: c.String("ref"), message: c.String("message"),
				durable: c.Bool("durable"), json: c.Bool("json"), quiet: c.Bool("quiet"), noServer: c.Bool("no-server"),
			}, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// fullRef turns a short branch name into refs/heads/NAME.
func fullRef(name string) string {
	if name == "HEAD" || strings.HasPrefix(name, "refs/") {
		return name
	}
	return "refs/heads/" + name
}

func currentUser() objstore.Signature {
	name := "helios"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	return objstore.Signature{Name: name}
}

func runSnapshot(o snapshotOptions, stdout, stderr io.Writer) error {
	s, err := connect(o.store, forWrite, o.durable, o.noServer, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.Snapshot(server.SnapshotRequest{Dir: o.dir, Ref: fullRef(o.ref), Message: o.message, Author: currentUser(), Durable: o.durable})
	var conflict *objstore.RefConflictError
	if errors.As(err, &conflict) {
		return fmt.Errorf("%s moved while the snapshot was taken; run it again: %w", o.ref, err)
	}
	if err != nil {
		return err
	}
	switch {
	case o.json:
		return json.NewEncoder(stdout).Encode(res)
	case o.quiet:
	case !res.Changed:
		fmt.Fprintf(stdout, "nothing changed; %s is %v\n", o.ref, res.State)
	default:
		fmt.Fprintf(stdout, "%v on %s: %d changed, %d of %d files read\n", res.State, o.ref, len(res.Changes), res.Read, res.Scanned)
	}
	return nil
}
