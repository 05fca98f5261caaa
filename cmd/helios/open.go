//go:build !thin

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/helios-vcs/helios/cmd/internal/storedir"
	"github.com/helios-vcs/helios/nvme"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/server"
)

// A store directory's layout and how it is opened (keyring, tier, audit
// journal) live in cmd/internal/storedir, shared with git-remote-helios.
func dbDir(store string) string { return storedir.DBDir(store) }

func tierPath(store string) string { return storedir.TierPath(store) }

// openStore opens the store in dir. Readers open a read-only instance, which
// can run beside a writer; a writer waits up to a minute for another
// writer's lock, saying so once on stderr.
func openStore(dir string, mode openMode, durable bool, stderr io.Writer) (*objstore.Store, error) {
	return storedir.Open(dir, storedir.Options{Write: mode == forWrite, Durable: durable, Stderr: stderr})
}

// openExclusive opens the store for writing in this process, asking a
// running server to hand the database over first: for commands that are
// not served (policy set, keys rotate) and for mcts run --no-server.
func openExclusive(dir string, durable bool, stderr io.Writer) (*objstore.Store, error) {
	return storedir.Open(dir, storedir.Options{Write: true, Durable: durable, Stderr: stderr, StopServer: true})
}

func openTier(store string, size int64, stderr io.Writer) (nvme.Device, *nvme.Log, error) {
	return storedir.OpenTier(store, size, stderr)
}

func localActor() string { return storedir.LocalActor() }

// connect returns the store's API for a command: through the store's
// server, started if none runs, or, with --no-server or when no server can
// start, on the database opened here (openStore: readers read-only, writers
// wait for the lock). Both behave the same.
func connect(dir string, mode openMode, durable, noServer bool, stderr io.Writer) (server.Store, error) {
	if _, err := os.Stat(dbDir(dir)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no helios store at %q (run: helios init --store %s)", dir, dir)
		}
		return nil, err
	}
	if !noServer {
		c, err := server.Connect(dir, server.ConnectOptions{Build: server.BuildID(), Command: serverCommand})
		if err == nil {
			return c, nil
		}
		fmt.Fprintf(stderr, "helios: no server for %s (%v); opening the store directly\n", dir, err)
	}
	s, err := openStore(dir, mode, durable, stderr)
	if err != nil {
		return nil, err
	}
	return server.Local{S: s, Durable: durable}, nil
}

// serverCommand runs a server for the store in dir: this executable's
// "serve". Its idle timeout comes from HELIOS_SERVE_IDLE_TIMEOUT, which it
// inherits.
func serverCommand(dir string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return exec.Command(exe, "serve", "--store", dir)
}
