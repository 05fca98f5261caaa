package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/helios-vcs/helios/objstore"
	"github.com/urfave/cli/v2"
)

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "list the paths that differ between two states (FROM defaults to TO's first parent)",
		UsageText: "helios diff [FROM] TO",
		Flags:     []cli.Flag{storeFlag, jsonFlag, noServerFlag},
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) < 1 || len(args) > 2 {
				return fmt.Errorf("diff takes one or two states or refs, got %d", len(args))
			}
			return runDiff(c.String("store"), c.Bool("no-server"), args, c.Bool("json"), c.App.Writer, c.App.ErrWriter)
		},
	}
}

type diffLine struct {
	Path    string       `json:"path"`
	Op      string       `json:"op"`
	OldMode string       `json:"old_mode,omitempty"`
	NewMode string       `json:"new_mode,omitempty"`
	OldID   *objstore.ID `json:"old_id,omitempty"`
	NewID   *objstore.ID `json:"new_id,omitempty"`
}

func runDiff(store string, noServer bool, args []string, asJSON bool, stdout, stderr io.Writer) error {
	s, err := connect(store, forRead, false, noServer, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	to, err := s.ResolveState(args[len(args)-1])
	if err != nil {
		return err
	}
	from := objstore.ZeroID
	if len(args) == 2 {
		if from, err = s.ResolveState(args[0]); err != nil {
			return err
		}
	} else if st, err := s.State(to); err != nil {
		return err
	} else if len(st.Parents) > 0 {
		from = st.Parents[0]
	}
	changes, err := s.DiffStates(from, to)
	if err != nil {
		return err
	}
	out := make([]diffLine, 0, len(changes))
	for _, c := range changes {
		l := diffLine{Path: c.Path, Op: c.Op.String()}
		if c.Op != objstore.Added {
			l.OldMode, l.OldID = c.From.Mode.String(), &c.From.ID
		}
		if c.Op != objstore.Deleted {
			l.NewMode, l.NewID = c.To.Mode.String(), &c.To.ID
		}
		out = append(out, l)
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	marks := map[string]string{"added": "A", "deleted": "D", "modified": "M", "mode changed": "T"}
	for _, l := range out {
		fmt.Fprintf(stdout, "%s\t%s\n", marks[l.Op], l.Path)
	}
	return nil
}
