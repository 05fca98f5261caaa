package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
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
	s, err := objstore.Open(kv, objstore.Options{Durable: durable})
	if err != nil {
		kv.Close()
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return s, nil
}
