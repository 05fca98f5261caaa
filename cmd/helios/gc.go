//go:build !thin

package main

import (
	"encoding/json"
	"fmt"

	"github.com/helios-vcs/helios/cmd/internal/storedir"
	"github.com/urfave/cli/v2"
)

func gcCommand() *cli.Command {
	return &cli.Command{
		Name:  "gc",
		Usage: "delete objects no ref reaches, then compact",
		Flags: []cli.Flag{storeFlag, jsonFlag, quietFlag, noServerFlag,
			&cli.BoolFlag{Name: "no-compact", Usage: "skip compaction (space is returned later)"},
		},
		Action: func(c *cli.Context) error {
			s, err := connectCtx(c, forWrite, false)
			if err != nil {
				return err
			}
			defer s.Close()
			rep, err := s.GC(c.Context, !c.Bool("no-compact"))
			if err != nil {
				return err
			}
			// Clone packs may hold objects of refs deleted since they were
			// made: they go with them (the next clone makes a new one).
			if cp := storedir.ClonePacks(c.String("store")); cp != nil {
				if err := cp.Clear(); err != nil {
					return err
				}
			}
			switch {
			case c.Bool("json"):
				return json.NewEncoder(c.App.Writer).Encode(rep)
			case !c.Bool("quiet"):
				fmt.Fprintf(c.App.Writer, "deleted states %d, trees %d, blobs %d, chunks %d (%d bytes)\n",
					rep.Deleted["state"], rep.Deleted["tree"], rep.Deleted["blob"], rep.Deleted["chunk"], rep.DeletedBytes)
			}
			return nil
		},
	}
}
