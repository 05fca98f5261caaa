//go:build !thin

package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
)

func fsckCommand() *cli.Command {
	return &cli.Command{
		Name:  "fsck",
		Usage: "verify every reachable object against its ID and every ref (exit 1 on problems)",
		Flags: []cli.Flag{storeFlag, jsonFlag, noServerFlag,
			&cli.BoolFlag{Name: "full", Usage: "also read and verify unreferenced objects"},
		},
		Action: func(c *cli.Context) error {
			return runFsck(c, c.String("store"), c.Bool("full"), c.Bool("json"), c.App.Writer, c.App.ErrWriter)
		},
	}
}

func runFsck(c *cli.Context, store string, full, asJSON bool, stdout, stderr io.Writer) error {
	s, err := connect(store, forRead, false, c.Bool("no-server"), stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	rep, err := s.Fsck(c.Context, full)
	if err != nil {
		return err
	}
	if asJSON {
		if err := json.NewEncoder(stdout).Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "refs %d, states %d, trees %d, blobs %d, chunks %d reachable\n",
			rep.Refs, rep.Reachable["state"], rep.Reachable["tree"], rep.Reachable["blob"], rep.Reachable["chunk"])
		if full {
			fmt.Fprintf(stdout, "unreferenced: states %d, trees %d, blobs %d, chunks %d (gc removes them)\n",
				rep.Unreferenced["state"], rep.Unreferenced["tree"], rep.Unreferenced["blob"], rep.Unreferenced["chunk"])
		}
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "problem: %v\n", p)
		}
	}
	if !rep.Clean() {
		return &exitError{1, fmt.Errorf("fsck found %d problems", len(rep.Problems))}
	}
	return nil
}
