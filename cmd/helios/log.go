package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/helios-vcs/helios/objstore"
	"github.com/urfave/cli/v2"
)

func logCommand() *cli.Command {
	return &cli.Command{
		Name:      "log",
		Usage:     "list states from a ref back through first parents",
		UsageText: "helios log [--ref NAME|ID] [-n N]",
		Flags: []cli.Flag{storeFlag, jsonFlag, noServerFlag,
			&cli.StringFlag{Name: "ref", Value: "HEAD"},
			&cli.IntFlag{Name: "n", Value: 20, Usage: "at most this many states (0: all)"},
		},
		Action: func(c *cli.Context) error {
			return runLog(c.String("store"), c.Bool("no-server"), c.String("ref"), c.Int("n"), c.Bool("json"), c.App.Writer, c.App.ErrWriter)
		},
	}
}

type logEntry struct {
	ID      objstore.ID   `json:"id"`
	Parents []objstore.ID `json:"parents"`
	Author  string        `json:"author"`
	Time    time.Time     `json:"time"`
	Message string        `json:"message"`
}

func runLog(store string, noServer bool, rev string, n int, asJSON bool, stdout, stderr io.Writer) error {
	s, err := connect(store, forRead, false, noServer, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	start, err := s.ResolveState(rev)
	if err != nil {
		return err
	}
	ids, sts, err := s.Log(start, n)
	if err != nil {
		return err
	}
	var out []logEntry
	for i, st := range sts {
		out = append(out, logEntry{ID: ids[i], Parents: st.Parents, Author: st.Author.Name, Time: st.Author.When, Message: st.Message})
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	for _, e := range out {
		fmt.Fprintf(stdout, "state %v\nAuthor: %s\nDate:   %s\n\n    %s\n\n", e.ID, e.Author, e.Time.Format(time.RFC1123Z), strings.ReplaceAll(strings.TrimRight(e.Message, "\n"), "\n", "\n    "))
	}
	return nil
}
