package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/audit/storeaudit"
	"github.com/helios-vcs/helios/nvme"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
	"github.com/helios-vcs/helios/objstore/server"
	"github.com/urfave/cli/v2"
)

// A store directory holds the RocksDB database in "db". A local-path store
// is single-user: anyone who can open these files can do anything to it.
func dbDir(store string) string { return filepath.Join(store, "db") }

type openMode int

const (
	forRead openMode = iota
	forWrite
)

// openStore opens the store in dir. Readers open a read-only instance, which
// can run beside a writer; a writer waits up to a minute for another
// writer's lock, saying so once on stderr.
func openStore(dir string, mode openMode, durable bool, stderr io.Writer) (*objstore.Store, error) {
	if _, err := os.Stat(dbDir(dir)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no helios store at %q (run: helios init --store %s)", dir, dir)
		}
		return nil, err
	}
	kv, err := rocksdb.Open(dbDir(dir), rocksdb.Options{
		ReadOnly: mode == forRead,
		LockWait: time.Minute,
		OnWait: func() {
			fmt.Fprintf(stderr, "helios: waiting for another process to release the store %s\n", dir)
		},
	})
	if err != nil {
		return nil, err
	}
	opts := objstore.Options{Durable: durable, Actor: localActor()}
	fail := func(err error) (*objstore.Store, error) {
		kv.Close()
		if opts.Tier != nil {
			opts.Tier.Close()
			opts.TierDevice.Close()
		}
		return nil, err
	}
	// An encrypted store (it has a keyring) is unlocked by its key provider.
	var kvs objstore.KV = kv
	wrap, secret, err := sealingOptions(dir, os.Getenv("HELIOS_KEY_PROVIDER"))
	if err != nil {
		return fail(err)
	}
	if wrap != nil {
		kvs, opts.Secret = wrap(kv), secret
	}
	if _, err := os.Stat(tierPath(dir)); err == nil {
		dev, log, err := openTier(dir, 0, stderr)
		if err != nil {
			return fail(err)
		}
		opts.Tier, opts.TierDevice = log, dev
	}
	// A store with an audit key (the default; see helios init --no-audit)
	// records every ref change in its signed log, in the same batch.
	var journal *storeaudit.Journal
	if mode == forWrite && auditEnabled(dir) {
		if journal, err = auditJournal(dir, kvs); err != nil {
			return fail(err)
		}
		opts.Journal = journal
	}
	s, err := objstore.Open(kvs, opts)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", dir, err))
	}
	if journal != nil {
		if err := journal.Baseline(s, opts.Actor); err != nil {
			s.Close()
			return nil, fmt.Errorf("%s: audit baseline: %w", dir, err)
		}
	}
	return s, nil
}

// auditEnabled reports whether the store keeps an audit log: it has the
// signing key that helios init makes (unless --no-audit).
func auditEnabled(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, audit.SignerKeyFile))
	return err == nil
}

func tierPath(store string) string { return filepath.Join(store, "tier.log") }

// openTier opens (size > 0: creates) the block tier's file and its log. It
// says once on stderr when io_uring or O_DIRECT is unavailable.
func openTier(store string, size int64, stderr io.Writer) (nvme.Device, *nvme.Log, error) {
	dev, err := nvme.Open(tierPath(store), nvme.Options{Size: size, Logf: func(f string, a ...any) {
		fmt.Fprintf(stderr, "helios: tier: "+f+"\n", a...)
	}})
	if err != nil {
		return nil, nil, fmt.Errorf("tier: %w", err)
	}
	// A new log gets segments of 64 MiB, or an eighth of a smaller device.
	seg := min(int64(64<<20), dev.Size()/8) &^ (1<<20 - 1)
	log, err := nvme.OpenLog(dev, nvme.LogOptions{SegmentSize: max(seg, 1<<20)})
	if err != nil {
		dev.Close()
		return nil, nil, fmt.Errorf("tier: %w", err)
	}
	return dev, log, nil
}

var noServerFlag = &cli.BoolFlag{
	Name:    "no-server",
	Usage:   "open the database in this process instead of going through the store's server (helios serve)",
	EnvVars: []string{"HELIOS_NO_SERVER"},
}

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

// connectCtx is connect with the store and --no-server taken from c.
func connectCtx(c *cli.Context, mode openMode, durable bool) (server.Store, error) {
	return connect(c.String("store"), mode, durable, c.Bool("no-server"), c.App.ErrWriter)
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
