package main

import (
	"github.com/helios-vcs/helios/objstore/server"
	"github.com/urfave/cli/v2"
)

type openMode int

const (
	forRead openMode = iota
	forWrite
)

var noServerFlag = &cli.BoolFlag{
	Name:    "no-server",
	Usage:   "open the database in this process instead of going through the store's server (helios serve)",
	EnvVars: []string{"HELIOS_NO_SERVER"},
}

// connectCtx is connect with the store and --no-server taken from c.
func connectCtx(c *cli.Context, mode openMode, durable bool) (server.Store, error) {
	return connect(c.String("store"), mode, durable, c.Bool("no-server"), c.App.ErrWriter)
}
