package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
)

func showCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "print a file's content, or list a directory, at a state",
		UsageText: "helios show [--ref NAME|ID] PATH",
		Flags: []cli.Flag{storeFlag, jsonFlag, noServerFlag,
			&cli.StringFlag{Name: "ref", Value: "HEAD"},
		},
		Action: func(c *cli.Context) error {
			return runShow(c.String("store"), c.Bool("no-server"), c.String("ref"), c.Args().First(), c.Bool("json"), c.App.Writer, c.App.ErrWriter)
		},
	}
}

func runShow(store string, noServer bool, rev, path string, asJSON bool, stdout, stderr io.Writer) error {
	s, err := connect(store, forRead, false, noServer, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	id, err := s.ResolveState(rev)
	if err != nil {
		return err
	}
	e, err := s.Stat(id, path)
	if err != nil {
		return err
	}
	if e.Mode.IsDir() {
		ents, err := s.ListTree(id, path)
		if err != nil {
			return err
		}
		if asJSON {
			type ent struct {
				Name string `json:"name"`
				Mode string `json:"mode"`
				ID   string `json:"id"`
			}
			out := make([]ent, 0, len(ents))
			for _, e := range ents {
				out = append(out, ent{e.Name, e.Mode.String(), e.ID.String()})
			}
			return json.NewEncoder(stdout).Encode(out)
		}
		for _, e := range ents {
			fmt.Fprintf(stdout, "%v %v\t%s\n", e.Mode, e.ID, e.Name)
		}
		return nil
	}
	_, err = s.ReadFile(id, path, stdout)
	return err
}
