//go:build !thin

package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"

	"github.com/urfave/cli/v2"
)

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "count objects and refs, and the store's size on disk",
		Flags: []cli.Flag{storeFlag, jsonFlag, noServerFlag},
		Action: func(c *cli.Context) error {
			store := c.String("store")
			s, err := connectCtx(c, forRead, false)
			if err != nil {
				return err
			}
			defer s.Close()
			out, err := s.Stats()
			if err != nil {
				return err
			}
			var disk int64
			filepath.WalkDir(store, func(_ string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					if info, err := d.Info(); err == nil {
						disk += info.Size()
					}
				}
				return nil
			})
			out["disk_bytes"] = disk
			if c.Bool("json") {
				return json.NewEncoder(c.App.Writer).Encode(out)
			}
			keys := make([]string, 0, len(out))
			for k := range out {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(c.App.Writer, "%-32s %d\n", k, out[k])
			}
			return nil
		},
	}
}
