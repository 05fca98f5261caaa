// Package storedir opens a store directory the way both binaries must:
// helios and git-remote-helios. A store directory holds
//
//	db/                 the RocksDB database (objstore/rocksdb)
//	tier.log            the block tier, when the store was made with one
//	keyring.json        the wrapped master key, when the store is encrypted
//	audit-signer.key    the audit log's signing key (absent with --no-audit)
//	audit-verifier.key  its public half
//	serve.sock, serve.* the resident server's socket and lock files
//	clonepacks/         packs that clones install (helper/clonepack; not
//	                    for encrypted stores), cleared by gc
//
// Open unlocks the keyring through its key provider, opens the tier, and
// for writers installs the audit journal, so that every ref change made by
// any program is recorded in the store's signed log in the same batch as
// the change. A local-path store is single-user: anyone who can open these
// files can do anything to them; helios serve is where policy is enforced.
package storedir

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/audit/keys"
	"github.com/helios-vcs/helios/audit/storeaudit"
	"github.com/helios-vcs/helios/helper/clonepack"
	"github.com/helios-vcs/helios/nvme"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
	"github.com/helios-vcs/helios/objstore/server"
	"golang.org/x/mod/sumdb/note"
)

// Paths inside a store directory.
func DBDir(store string) string       { return filepath.Join(store, "db") }
func TierPath(store string) string    { return filepath.Join(store, "tier.log") }
func KeyringPath(store string) string { return filepath.Join(store, keys.KeyringFile) }

// ClonePacks is the store's cache of clone packs (helper/clonepack), or nil
// for an encrypted store: the packs hold objects in the clear.
func ClonePacks(store string) *clonepack.Cache {
	if _, err := os.Stat(KeyringPath(store)); err == nil {
		return nil
	}
	return clonepack.Open(filepath.Join(store, clonepack.DirName), 0)
}

// ErrNoStore is wrapped when a directory holds no store.
var ErrNoStore = errors.New("no helios store")

// Options configure Open.
type Options struct {
	// Write opens the database for writing (waiting for another writer's
	// lock up to LockWait); otherwise a read-only instance that can run
	// beside a writer.
	Write    bool
	Durable  bool
	LockWait time.Duration
	// KeyProvider overrides the keyring's own provider (file:, env:,
	// command:); default $HELIOS_KEY_PROVIDER, then the keyring's.
	KeyProvider string
	// Actor is who the audit log records (default: the OS user).
	Actor string
	// Stderr receives one-line notices (waiting for a lock, a tier
	// fallback); nil discards them.
	Stderr io.Writer
	// StopServer asks a running helios serve to exit before a writer
	// opens the database (which the server holds): for programs that
	// write directly (git-remote-helios and mcts run without a server,
	// policy and key changes).
	// The server starts again on the next command that wants it.
	StopServer bool
}

// Open opens the store in dir.
func Open(dir string, o Options) (*objstore.Store, error) {
	if _, err := os.Stat(DBDir(dir)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w at %q (run: helios init --store %s)", ErrNoStore, dir, dir)
		}
		return nil, err
	}
	stderr := o.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	if o.LockWait == 0 {
		o.LockWait = time.Minute
	}
	if o.Write && o.StopServer {
		if err := StopServer(dir, o.LockWait); err != nil {
			return nil, err
		}
	}
	if o.Write {
		return open(dir, o, stderr)
	}
	// A read-only instance opened while the writer changed the database
	// may show a ref without the objects behind it (see objstore/rocksdb's
	// read-only open); such a view is checked and, when mixed, opened again.
	var err error
	for try := 1; try <= readOnlyTries; try++ {
		var s *objstore.Store
		if s, err = open(dir, o, stderr); !errors.Is(err, errMixedView) {
			return s, err
		}
		time.Sleep(time.Duration(try) * 5 * time.Millisecond)
	}
	return nil, fmt.Errorf("%s: a writer changed the store during each of %d read-only opens; try again: %w", dir, readOnlyTries, err)
}

// readOnlyTries bounds the read-only opens of a store that a writer keeps
// changing (about a second of pauses in all).
const readOnlyTries = 20

// errMixedView is wrapped by open when a read-only view mixes two versions
// of the store.
var errMixedView = errors.New("read-only view mixes two versions of the store")

func open(dir string, o Options, stderr io.Writer) (*objstore.Store, error) {
	kv, err := rocksdb.Open(DBDir(dir), rocksdb.Options{
		ReadOnly: !o.Write,
		LockWait: o.LockWait,
		OnWait: func() {
			fmt.Fprintf(stderr, "helios: waiting for another process to release the store %s\n", dir)
		},
	})
	if err != nil {
		return nil, err
	}
	if o.Actor == "" {
		o.Actor = LocalActor()
	}
	opts := objstore.Options{Durable: o.Durable, Actor: o.Actor}
	fail := func(err error) (*objstore.Store, error) {
		kv.Close()
		if opts.Tier != nil {
			opts.Tier.Close()
			opts.TierDevice.Close()
		}
		return nil, err
	}
	// An encrypted store (it has a keyring) is unlocked by its provider.
	var kvs objstore.KV = kv
	provider := o.KeyProvider
	if provider == "" {
		provider = os.Getenv("HELIOS_KEY_PROVIDER")
	}
	wrap, secret, err := Sealing(dir, provider)
	if err != nil {
		return fail(err)
	}
	if wrap != nil {
		if kvs, err = wrap(kv); err != nil {
			return fail(fmt.Errorf("store %s: %w", dir, err))
		}
		opts.Secret = secret
	}
	if _, err := os.Stat(TierPath(dir)); err == nil {
		dev, log, err := OpenTier(dir, 0, stderr)
		if err != nil {
			return fail(err)
		}
		opts.Tier, opts.TierDevice = log, dev
	}
	// A store with an audit key (the default; helios init --no-audit makes
	// none) records every ref change in its signed log, in the same batch.
	var journal *storeaudit.Journal
	if o.Write && AuditEnabled(dir) {
		if journal, err = Journal(dir, kvs); err != nil {
			return fail(err)
		}
		opts.Journal = journal
	}
	s, err := objstore.Open(kvs, opts)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", dir, err))
	}
	if kv.Unsettled() {
		if err := s.CheckRefTargets(); err != nil {
			s.Close()
			if errors.Is(err, objstore.ErrNotFound) {
				return nil, fmt.Errorf("%w: %w", errMixedView, err)
			}
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
	}
	if journal != nil {
		if err := journal.Baseline(s, opts.Actor); err != nil {
			s.Close()
			return nil, fmt.Errorf("%s: audit baseline: %w", dir, err)
		}
	}
	return s, nil
}

// LocalActor is who the audit log records for commands run here: the OS
// user. A local-path store cannot check it; helios serve records the peer.
func LocalActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return fmt.Sprintf("uid:%d", os.Getuid())
}

// AuditEnabled reports whether the store keeps an audit log: it has the
// signing key that helios init makes.
func AuditEnabled(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, audit.SignerKeyFile))
	return err == nil
}

// Signer loads the store's audit signing key, making one on first use.
// The key sits in the store directory: whoever can write the directory can
// also re-sign a rewritten log, which is why clients keep checkpoints and
// check consistency (see package audit). Keep the directory's permissions
// tight, or move the signer to an HSM behind a note.Signer.
func Signer(dir string) (note.Signer, error) {
	path := filepath.Join(dir, audit.SignerKeyFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		id := make([]byte, 8)
		rand.Read(id)
		if _, _, err := audit.GenerateKeys(dir, "helios-"+hex.EncodeToString(id)); err != nil {
			return nil, err
		}
	}
	return audit.LoadSigner(path)
}

// Journal is the store's audit journal over kv, for a process that opens
// the store for writing: every ref commit then writes its audit record and
// a new signed checkpoint in the same atomic batch.
func Journal(dir string, kv objstore.KV) (*storeaudit.Journal, error) {
	signer, err := Signer(dir)
	if err != nil {
		return nil, err
	}
	return storeaudit.Open(kv, signer)
}

func sealWith(master []byte) (func(objstore.KV) (objstore.KV, error), []byte, error) {
	aead, err := keys.ValueAEAD(master)
	if err != nil {
		return nil, nil, err
	}
	secret, mac := keys.IDSecret(master), keys.KeyMAC(master)
	clear(master)
	return func(kv objstore.KV) (objstore.KV, error) { return objstore.SealKV(kv, aead, mac) }, secret, nil
}

// Sealing unlocks an existing store's keyring: wrap seals a KV and secret
// is objstore.Options.Secret. provider "" uses the provider the keyring
// names. A store without a keyring is a plain store: nil, nil, nil (or an
// error if a provider was named).
func Sealing(dir, provider string) (wrap func(objstore.KV) (objstore.KV, error), secret []byte, err error) {
	var p keys.Provider
	if provider != "" {
		if p, err = keys.ParseProvider(provider); err != nil {
			return nil, nil, err
		}
	}
	master, _, err := keys.Unlock(KeyringPath(dir), p)
	if errors.Is(err, keys.ErrNoKeyring) {
		if provider != "" {
			return nil, nil, fmt.Errorf("store %s is not encrypted, but a key provider was given", dir)
		}
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store %s: %w", dir, err)
	}
	return sealWith(master)
}

// CreateSealing makes a new store's keyring with a fresh master key
// wrapped by provider, and returns what Sealing would.
func CreateSealing(dir, provider string) (wrap func(objstore.KV) (objstore.KV, error), secret []byte, err error) {
	p, err := keys.ParseProvider(provider)
	if err != nil {
		return nil, nil, err
	}
	master, err := keys.Create(KeyringPath(dir), p)
	if err != nil {
		return nil, nil, err
	}
	return sealWith(master)
}

// OpenTier opens (size > 0: creates) the block tier's file and its log,
// saying once on stderr when io_uring or O_DIRECT is unavailable.
func OpenTier(dir string, size int64, stderr io.Writer) (nvme.Device, *nvme.Log, error) {
	dev, err := nvme.Open(TierPath(dir), nvme.Options{Size: size, Logf: func(f string, a ...any) {
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

// StopServer asks the store's running server (helios serve) to exit after
// its requests in flight, and waits until it has. Nothing runs: nil.
func StopServer(dir string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	// A server may hold the lock before it listens (it is starting: a
	// helper killed right after starting it leaves it so), and a client
	// of another build makes a server exit (version handshake): so a
	// failed Dial is tried again while the lock is held, not taken as the
	// end of it.
	for server.Running(dir) {
		if c, err := server.Dial(dir, server.BuildID()); err == nil {
			c.Stop()
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := server.WaitStopped(dir, max(time.Until(deadline), 0)); err != nil {
		return fmt.Errorf("the store's server did not stop: %w", err)
	}
	return nil
}
