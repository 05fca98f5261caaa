// Command git-remote-helios is the git remote helper for Helios stores:
// git runs it for URLs of the form helios::/path/to/store (or
// helios:///path/to/store) as
//
//	git-remote-helios <remote> <url>
//
// with $GIT_DIR set, and speaks gitremote-helpers(7) with it on stdin and
// stdout (see package helper). The store directory holds the RocksDB
// database in "db" (made by `helios init --store DIR`). Clones, fetches
// and ls-remote open it read-only, so they run beside a push; a push opens
// it for writing and waits for another writer's lock, saying so on stderr.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/audit/storeaudit"
	"github.com/helios-vcs/helios/cmd/internal/storedir"
	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/storeremote"
	"github.com/helios-vcs/helios/objstore"
)

func main() {
	// HELIOS_HELPER_CPUPROFILE=file writes a CPU profile of the helper (for
	// scripts/compare-clone.sh and anyone asking where the time goes).
	if path := os.Getenv("HELIOS_HELPER_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				code := run(context.Background(), os.Args[1:], os.Getenv("GIT_DIR"), os.Stdin, os.Stdout, os.Stderr)
				pprof.StopCPUProfile()
				f.Close()
				os.Exit(code)
			}
		}
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv("GIT_DIR"), os.Stdin, os.Stdout, os.Stderr))
}

// lockWait is how long a push waits for another writer.
const lockWait = 10 * time.Minute

func run(ctx context.Context, args []string, gitDir string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runWith(ctx, args, gitDir, stdin, stdout, stderr, nil)
}

// runWith is run with a hook that may wrap the Remote (tests inject delays
// that way).
func runWith(ctx context.Context, args []string, gitDir string, stdin io.Reader, stdout, stderr io.Writer, wrap func(helper.Remote) helper.Remote) int {
	var remote *storeremote.Remote
	open := func(url string) (helper.Remote, error) {
		dir, err := storePath(url)
		if err != nil {
			return nil, err
		}
		remote = storeremote.New(func(write bool) (*objstore.Store, error) {
			s, err := openStore(dir, write, stderr)
			if err != nil {
				return nil, err
			}
			if err := checkAuditLog(s, dir, gitDir); err != nil {
				s.Close()
				return nil, err
			}
			return s, nil
		})
		var r helper.Remote = &policyRemote{Remote: remote, dir: dir, user: storedir.LocalActor(), store: remote.Store, gitDir: gitDir}
		if wrap != nil {
			return wrap(r), nil
		}
		return r, nil
	}
	code := helper.Main(ctx, args, gitDir, stdin, stdout, stderr, open)
	if remote != nil {
		if err := remote.Close(); err != nil {
			fmt.Fprintf(stderr, "error: close store: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// storePath turns the URL git passes into the store directory:
// "/abs/path" (from helios::/abs/path), "helios:///abs/path", or a path
// relative to the current directory. Remote hosts are not supported.
func storePath(url string) (string, error) {
	p := url
	if rest, ok := strings.CutPrefix(url, "helios://"); ok {
		if !strings.HasPrefix(rest, "/") {
			return "", fmt.Errorf("%q: remote hosts are not supported, use helios::/path or helios:///path", url)
		}
		p = rest
	}
	if p == "" || strings.HasPrefix(p, "-") || strings.ContainsAny(p, "\x00\n\r") {
		return "", fmt.Errorf("bad store path %q", url)
	}
	for _, c := range strings.Split(filepath.ToSlash(p), "/") {
		if c == ".." {
			return "", fmt.Errorf("store path %q must not contain \"..\"", url)
		}
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(abs, "db")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("no helios store at %s; run helios init --store %s", abs, abs)
		}
		return "", err
	}
	return abs, nil
}

// openStore opens the store directory (cmd/internal/storedir: keyring,
// tier, audit journal): read-only for reading (a frozen view that runs
// beside a writer), else for writing, after asking a running helios serve
// to hand the database over, waiting for another writer's lock with one
// message on stderr.
func openStore(dir string, write bool, stderr io.Writer) (*objstore.Store, error) {
	return storedir.Open(dir, storedir.Options{Write: write, LockWait: lockWait, Stderr: stderr, StopServer: true})
}

// checkAuditLog keeps the last audit checkpoint this repository saw of the
// store (under $GIT_DIR/helios/checkpoints) and, on every fetch and push,
// requires the store's current checkpoint to extend it, proven by a
// consistency proof against both signed roots: a store whose history was
// rewritten, rolled back or forked is refused, even by someone who holds
// the store's signing key (see package audit). The verifier key is pinned
// on first contact.
func checkAuditLog(s *objstore.Store, dir, gitDir string) error {
	if gitDir == "" {
		return nil // not run by git (tests of the protocol alone)
	}
	kept := audit.CheckpointPath(gitDir, dir)
	log, err := storeaudit.OpenLog(s.KV(), nil)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	cp, err := log.Checkpoint()
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if cp == nil {
		if _, err := os.Stat(kept); err == nil {
			return fmt.Errorf("the store at %s had an audit log when this repository last saw it, and has none now: refusing it", dir)
		}
		return nil // a store made with --no-audit, never audited
	}
	vkey, err := os.ReadFile(filepath.Join(dir, audit.VerifierKeyFile))
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if _, err := audit.CheckConsistency(kept, strings.TrimSpace(string(vkey)), cp, log); err != nil {
		return fmt.Errorf("the store's audit log does not extend the checkpoint this repository kept (%s): %w", kept, err)
	}
	return nil
}
