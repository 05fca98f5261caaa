//go:build !thin

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
			&cli.BoolFlag{Name: "encrypt", Usage: "AES-256-GCM on every stored value, keyed IDs; needs --key-provider"},
			&cli.StringFlag{Name: "key-provider", Usage: "wraps the data key: file:PATH, env:VAR or command:CMD (a KMS or HSM)"},
			&cli.BoolFlag{Name: "no-audit", Usage: "keep no signed audit log of ref changes (saves a signature per commit)"},
		},
		Action: func(c *cli.Context) error {
			o := initOptions{store: c.String("store"), quiet: c.Bool("quiet"), audit: !c.Bool("no-audit")}
			if c.Bool("encrypt") {
				if o.keyProvider = c.String("key-provider"); o.keyProvider == "" {
					return fmt.Errorf("--encrypt needs --key-provider file:PATH|env:VAR|command:CMD")
				}
			} else if c.String("key-provider") != "" {
				return fmt.Errorf("--key-provider is for --encrypt")
			}
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
	keyProvider   string // non-empty: an encrypted store
	audit         bool
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
	if _, err := kv.Get([]byte("mformat")); err == nil {
		kv.Close()
		return fmt.Errorf("%s is already a helios store", dir)
	}
	opts := objstore.Options{Settings: objstore.DefaultSettings}
	var kvs objstore.KV = kv
	if o.keyProvider != "" {
		wrap, secret, err := createSealing(dir, o.keyProvider)
		if err != nil {
			kv.Close()
			return err
		}
		if kvs, err = wrap(kv); err != nil {
			kv.Close()
			return err
		}
		opts.Secret = secret
	}
	if o.audit {
		if _, err := auditSigner(dir); err != nil {
			kv.Close()
			return err
		}
	}
	if o.tierThreshold > 0 {
		dev, log, err := openTier(dir, o.tierSize, stderr)
		if err != nil {
			kv.Close()
			return err
		}
		opts.Settings.TierThreshold = o.tierThreshold
		opts.Tier, opts.TierDevice = log, dev
	}
	s, err := objstore.Init(kvs, opts)
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
