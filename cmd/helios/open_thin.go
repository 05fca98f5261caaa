//go:build thin

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/helios-vcs/helios/objstore/server"
)

// connect returns the store's server, started (by the full build) if none
// runs. With --no-server, or when no server can serve the store, the whole
// command goes to the full build, which opens the database itself.
func connect(dir string, mode openMode, durable, noServer bool, stderr io.Writer) (server.Store, error) {
	if _, err := os.Stat(filepath.Join(dir, "db")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no helios store at %q (run: helios init --store %s)", dir, dir)
		}
		return nil, err
	}
	full, err := fullExecutable()
	if err != nil {
		return nil, err
	}
	if !noServer {
		c, err := server.Connect(dir, server.ConnectOptions{Build: server.BuildIDOf(full), Command: func(dir string) *exec.Cmd {
			return exec.Command(full, "serve", "--store", dir)
		}})
		if err == nil {
			return c, nil
		}
		fmt.Fprintf(stderr, "helios: no server for %s (%v); opening the store directly\n", dir, err)
	}
	execFull(os.Args)
	return nil, errors.New("unreachable")
}
