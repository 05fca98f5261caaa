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
		Flags: []cli.Flag{storeFlag, quietFlag},
		Action: func(c *cli.Context) error {
			return runInit(c.String("store"), c.Bool("quiet"), c.App.Writer)
		},
	}
}

func runInit(dir string, quiet bool, stdout io.Writer) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	kv, err := rocksdb.Open(dbDir(dir), rocksdb.Options{Create: true})
	if err != nil {
		return err
	}
	s, err := objstore.Init(kv, objstore.Options{})
	if err != nil {
		kv.Close()
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	if !quiet {
		fmt.Fprintf(stdout, "initialized helios store in %s\n", dir)
	}
	return nil
}
