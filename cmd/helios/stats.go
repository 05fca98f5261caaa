package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"

	"github.com/helios-vcs/helios/objstore"
	"github.com/urfave/cli/v2"
)

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "count objects and refs, and the store's size on disk",
		Flags: []cli.Flag{storeFlag, jsonFlag},
		Action: func(c *cli.Context) error {
			store := c.String("store")
			s, err := openStore(store, forRead, false, c.App.ErrWriter)
			if err != nil {
				return err
			}
			defer s.Close()
			out := map[string]int64{}
			for _, p := range []struct {
				name   string
				prefix byte
			}{{"states", 's'}, {"trees", 't'}, {"blobs", 'b'}, {"chunks", 'c'}, {"refs", 'r'}, {"stat_cache_entries", 'w'}} {
				var n, bytes int64
				s.KV().Scan([]byte{p.prefix}, func(k, v []byte) error { n++; bytes += int64(len(k) + len(v)); return nil })
				out[p.name] = n
				out[p.name+"_bytes"] = bytes
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
			if st, ok := s.KV().(objstore.Statser); ok {
				for k, v := range st.Stats() {
					out["rocksdb_"+k] = v
				}
			}
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
