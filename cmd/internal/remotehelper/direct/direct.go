// Package direct opens a store for git-remote-helios in the helper's own
// process (cmd/internal/storedir: RocksDB, keyring, tier, audit journal):
// the path when no server serves the store, or HELIOS_NO_SERVER=1.
package direct

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/audit/storeaudit"
	"github.com/helios-vcs/helios/cmd/internal/remotehelper"
	"github.com/helios-vcs/helios/cmd/internal/storedir"
	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/storeremote"
	"github.com/helios-vcs/helios/objstore"
)

// lockWait is how long a push waits for another writer.
const lockWait = 10 * time.Minute

// Open is remotehelper.Direct: the store in dir as a storeremote.Remote
// that opens the database on first use (read-only for list and fetch, for
// writing at list for-push), checks the audit log against the checkpoint
// gitDir kept, and applies the store's policy for the local user.
func Open(dir, gitDir string, stderr io.Writer) (helper.Remote, io.Closer, error) {
	remote := storeremote.New(func(write bool) (*objstore.Store, error) {
		s, err := OpenStore(dir, write, stderr)
		if err != nil {
			return nil, err
		}
		if err := checkAuditLog(s, dir, gitDir, stderr); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	})
	remote.ClonePacks = storedir.ClonePacks(dir)
	return &policyRemote{Remote: remote, dir: dir, user: storedir.LocalActor(), store: remote.Store, gitDir: gitDir}, remote, nil
}

// OpenStore opens the store directory (cmd/internal/storedir: keyring,
// tier, audit journal): read-only for reading (a frozen view that runs
// beside a writer), else for writing, after asking a running helios serve
// to hand the database over, waiting for another writer's lock with one
// message on stderr.
func OpenStore(dir string, write bool, stderr io.Writer) (*objstore.Store, error) {
	return storedir.Open(dir, storedir.Options{Write: write, LockWait: lockWait, Stderr: stderr, StopServer: true})
}

// checkAuditLog keeps the last audit checkpoint this repository saw of the
// store (under $GIT_DIR/helios/checkpoints) and, on every fetch and push,
// requires the store's current checkpoint to extend it, proven by a
// consistency proof against both signed roots: a store whose history was
// rewritten, rolled back or forked is refused, even by someone who holds
// the store's signing key (see package audit). The verifier key is pinned
// on first contact. Witnesses, when this client requires them, as
// remotehelper.CheckWitnessed says.
func checkAuditLog(s *objstore.Store, dir, gitDir string, stderr io.Writer) error {
	cw, err := audit.WitnessesFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	kept := "" // not run by git (tests of the protocol alone, ls-remote outside a repository)
	if gitDir != "" {
		kept = audit.CheckpointPath(gitDir, dir)
	} else if cw.List == "" {
		return nil
	}
	log, err := storeaudit.OpenLog(s.KV(), nil)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	cp, err := log.Checkpoint()
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if cp == nil {
		if _, err := os.Stat(kept); kept != "" && err == nil {
			return fmt.Errorf("the store at %s had an audit log when this repository last saw it, and has none now: refusing it", dir)
		}
		if cw.List != "" {
			return fmt.Errorf("witnesses are required ($HELIOS_WITNESSES), but the store at %s keeps no audit log", dir)
		}
		return nil // a store made with --no-audit, never audited
	}
	vkey, err := os.ReadFile(filepath.Join(dir, audit.VerifierKeyFile))
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	restore := func() error { return nil }
	if kept != "" {
		restore = audit.SnapshotKept(kept)
		if _, err := audit.CheckConsistency(kept, strings.TrimSpace(string(vkey)), cp, log); err != nil {
			return fmt.Errorf("the store's audit log does not extend the checkpoint this repository kept (%s): %w", kept, err)
		}
	}
	policy, err := storeaudit.LoadWitnessPolicy(s.KV())
	if err != nil {
		return err
	}
	cosigned, err := storeaudit.Cosigned(s.KV())
	if err != nil {
		return err
	}
	if err := remotehelper.CheckWitnessed(cw, kept, string(vkey), policy, cp, cosigned, log, stderr); err != nil {
		if rerr := restore(); rerr != nil {
			fmt.Fprintf(stderr, "helios: %v\n", rerr)
		}
		return err
	}
	return nil
}
