//go:build thin

package main

import (
	"fmt"
	"os"
	"syscall"

	"github.com/helios-vcs/helios/objstore/server"
	"github.com/urfave/cli/v2"
)

// The thin build of helios (make build's bin/helios: no cgo, no RocksDB)
// runs the commands an agent runs in a loop (snapshot, checkout, log,
// diff, show) through the store's server, and hands everything else, and
// these too when no server can serve them, to the full build installed
// beside it as helios-store. Its point is start-up time: it maps a third of
// the pages the full build does (see BENCHMARKS.md).

// fullName is the full build's executable name.
const fullName = "helios-store"

// commands are the thin build's own commands.
func commands() []*cli.Command {
	return []*cli.Command{snapshotCommand(), checkoutCommand(), logCommand(), diffCommand(), showCommand()}
}

// forward execs the full build for a command this build does not run.
func forward(args []string) {
	if len(args) > 1 {
		for _, c := range commands() {
			if args[1] == c.Name {
				return
			}
		}
	}
	execFull(args)
}

// fullExecutable is the full build beside this executable, else on $PATH.
func fullExecutable() (string, error) {
	if p := server.Executable(fullName); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("this helios is the thin build and needs %s beside it or on $PATH", fullName)
}

// execFull replaces this process with the full build, same arguments.
func execFull(args []string) {
	exe, err := fullExecutable()
	if err == nil {
		err = syscall.Exec(exe, append([]string{"helios"}, args[1:]...), os.Environ())
	}
	fmt.Fprintf(os.Stderr, "helios: %v\n", err)
	os.Exit(2)
}
