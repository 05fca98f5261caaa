package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/helios-vcs/helios/objstore"
	"github.com/urfave/cli/v2"
)

func checkoutCommand() *cli.Command {
	return &cli.Command{
		Name:      "checkout",
		Usage:     "switch a directory to a state, writing only what differs (an empty directory is filled)",
		UsageText: "helios checkout --ref NAME|ID --dir WORKTREE [--force]",
		Flags: []cli.Flag{storeFlag, jsonFlag, quietFlag, noServerFlag,
			&cli.StringFlag{Name: "dir", Required: true, Usage: "directory to switch or fill"},
			&cli.StringFlag{Name: "ref", Value: "main", Usage: "ref or state ID to check out"},
			&cli.BoolFlag{Name: "force", Usage: "overwrite local changes to the files that differ"},
		},
		Action: func(c *cli.Context) error {
			return runCheckout(c.String("store"), c.Bool("no-server"), c.String("ref"), c.String("dir"), c.Bool("force"), c.Bool("json"), c.Bool("quiet"), c.App.Writer, c.App.ErrWriter)
		},
	}
}

func runCheckout(store string, noServer bool, rev, dir string, force, asJSON, quiet bool, stdout, stderr io.Writer) error {
	s, err := connect(store, forWrite, false, noServer, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	id, err := s.ResolveState(rev)
	if err != nil {
		return err
	}
	ms, err := s.Checkout(dir, id, objstore.CheckoutOptions{Force: force})
	if err != nil {
		return err
	}
	switch {
	case asJSON:
		return json.NewEncoder(stdout).Encode(struct {
			State objstore.ID `json:"state"`
			objstore.MaterializeStats
		}{id, ms})
	case !quiet:
		fmt.Fprintf(stdout, "%s is at %v: %d files written, %d deleted\n", dir, id, ms.Files, ms.Deleted)
	}
	return nil
}
