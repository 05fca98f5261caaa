package main

import (
	"fmt"
	"io"
	"os"

	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
	"github.com/urfave/cli/v2"
)

func initCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "make a new, empty store",
		Flags: []cli.Flag{storeFlag, quietFlag,
			&cli.BoolFlag{Name: "tier", Usage: "keep large chunks in the block tier (an io_uring segment log in DIR/tier.log; off by default, see BENCHMARKS.md)"},
			&cli.IntFlag{Name: "tier-threshold", Value: 32 << 10, Usage: "chunks of at least this many bytes go to the tier"},
			&cli.Int64Flag{Name: "tier-size", Value: 4 << 30, Usage: "size of the tier's file in bytes (sparse)"},
		},
		Action: func(c *cli.Context) error {
			o := initOptions{store: c.String("store"), quiet: c.Bool("quiet")}
			if c.Bool("tier") {
				o.tierThreshold, o.tierSize = c.Int("tier-threshold"), c.Int64("tier-size")
			}
			return runInit(o, c.App.Writer, c.App.ErrWriter)
		},
	}
}

type initOptions struct {
	store         string
	quiet         bool
	tierThreshold int
	tierSize      int64
}

func runInit(o initOptions, stdout, stderr io.Writer) error {
	dir := o.store
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	kv, err := rocksdb.Open(dbDir(dir), rocksdb.Options{Create: true})
	if err != nil {
		return err
	}
	opts := objstore.Options{Settings: objstore.DefaultSettings}
	if o.tierThreshold > 0 {
		dev, log, err := openTier(dir, o.tierSize, stderr)
		if err != nil {
			kv.Close()
			return err
		}
		opts.Settings.TierThreshold = o.tierThreshold
		opts.Tier, opts.TierDevice = log, dev
	}
	s, err := objstore.Init(kv, opts)
	if err != nil {
		kv.Close()
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	if !o.quiet {
		fmt.Fprintf(stdout, "initialized helios store in %s\n", dir)
	}
	return nil
}
