package remotehelper

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/clonepack"
	"github.com/helios-vcs/helios/objstore/server"
)

// A store with a running server (helios serve, see package
// objstore/server) is reached through it: the helper then costs a
// connection instead of a database open, the server's caches stay warm,
// and the server enforces the store's policy for the peer it sees. When no
// server answers, the helper starts one with the helios executable beside
// it (or on $PATH); without one, or with HELIOS_NO_SERVER=1, it opens the
// store itself. The behaviour is the same either way.

// served is a Remote through the store's server, with its connection.
type served struct {
	*server.GitRemote
	c *server.Client
}

// connectServed returns the store's server as a Remote, or nil when the
// store is to be opened directly. With fallback false (the store cannot
// be opened here any more), a server that does not answer is an error.
func connectServed(dir, gitDir string, stderr io.Writer, fallback bool) (*served, error) {
	if os.Getenv("HELIOS_NO_SERVER") == "1" {
		return nil, nil
	}
	cmd := serveCommand()
	c, err := server.Connect(dir, server.ConnectOptions{Command: cmd})
	if err != nil {
		if !fallback {
			return nil, fmt.Errorf("no server for the store %s (%w); HELIOS_NO_SERVER=1 opens it without one", dir, err)
		}
		if cmd != nil {
			fmt.Fprintf(stderr, "helios: no server for %s (%v); opening the store directly\n", dir, err)
		}
		return nil, nil
	}
	g := c.Git(true)
	// A clone links the server's clone packs from the store directory
	// when this user may (else they are streamed).
	g.ClonePacks = filepath.Join(dir, clonepack.DirName)
	if err := checkServedAuditLog(g, dir, gitDir, stderr); err != nil {
		c.Close()
		return nil, err
	}
	return &served{GitRemote: g, c: c}, nil
}

// connectTLS reaches a store served on another host: helios::tls://HOST:PORT
// (helios serve --listen). The server's certificate is checked against
// $HELIOS_CA_FILE (else the system's roots); the helper presents
// $HELIOS_CLIENT_CERT and $HELIOS_CLIENT_KEY, or the bearer token in
// $HELIOS_TOKEN. Objects it serves are re-hashed here (it is not this
// machine's store), and its audit log is checked against the checkpoint
// this repository keeps for that URL, the verifier key pinned on first
// contact.
func connectTLS(url, gitDir string, stderr io.Writer) (*served, error) {
	addr, err := server.ParseTLSURL(url)
	if err != nil {
		return nil, err
	}
	c, err := server.DialTLS(addr, server.TLSClientOptionsFromEnv())
	if err != nil {
		return nil, err
	}
	g := c.Git(false)
	if err := checkServedAuditLog(g, url, gitDir, stderr); err != nil {
		c.Close()
		return nil, err
	}
	return &served{GitRemote: g, c: c}, nil
}

// serveCommand is how the helper starts a server for a store: helios
// serve; nil when there is no helios executable (the helper then opens the
// store itself).
func serveCommand() func(dir string) *exec.Cmd {
	exe := HeliosExecutable()
	if exe == "" {
		return nil
	}
	return func(dir string) *exec.Cmd { return exec.Command(exe, "serve", "--store", dir) }
}

// HeliosExecutable is the full helios build beside this executable, else
// on $PATH, else "": helios-store where make build installed helios as the
// thin front end (which would only exec helios-store for serve, about
// 10 ms more on every server start), else helios.
func HeliosExecutable() string { return server.Executable("helios-store", "helios") }

// checkServedAuditLog is checkAuditLog through the server: the checkpoint
// and the consistency proof come from the server, and are checked here
// against the checkpoint this repository kept and the pinned key, so a
// server is trusted no more than a store's files. Then, when this client
// requires witnesses (audit.ClientWitnesses: $HELIOS_WITNESSES, or the
// store's witness list pinned when first seen), the log must extend a
// checkpoint a quorum of them cosigned recently.
func checkServedAuditLog(g *server.GitRemote, dir, gitDir string, stderr io.Writer) error {
	cw, err := audit.WitnessesFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	kept := "" // nowhere to keep checkpoints: only a witness list of our own applies
	if gitDir != "" {
		kept = audit.CheckpointPath(gitDir, dir)
	} else if cw.List == "" {
		return nil
	}
	cp, vkey, err := g.AuditCheckpoint()
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
		return nil
	}
	if !strings.HasPrefix(dir, "tls://") {
		if b, err := os.ReadFile(filepath.Join(dir, audit.VerifierKeyFile)); err == nil {
			vkey = string(b)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("audit log: %w", err)
		}
	}
	restore := func() error { return nil }
	if kept != "" {
		restore = audit.SnapshotKept(kept)
		if _, err := audit.CheckConsistency(kept, strings.TrimSpace(vkey), cp, g); err != nil {
			return fmt.Errorf("the store's audit log does not extend the checkpoint this repository kept (%s): %w", kept, err)
		}
	}
	policy, cosigned, err := g.AuditWitnessed()
	if err != nil {
		if !cw.Required(kept) {
			return nil // a server that predates witnesses, and none required
		}
		restore()
		return fmt.Errorf("audit log: witnesses: %w", err)
	}
	if err := CheckWitnessed(cw, kept, vkey, policy, cp, cosigned, g, stderr); err != nil {
		if rerr := restore(); rerr != nil {
			fmt.Fprintf(stderr, "helios: %v\n", rerr)
		}
		return err
	}
	return nil
}

// CheckWitnessed applies the client's witness requirement (see
// audit.ClientWitnesses) to a store whose latest checkpoint cp was just
// accepted and kept at kept ("": nowhere to keep it; vkey is then the key
// the store names); warnings go to stderr.
func CheckWitnessed(cw audit.ClientWitnesses, kept, vkey, policy string, cp []byte, cosigned [][]byte, p audit.TreeProver, stderr io.Writer) error {
	warn, err := cw.CheckStoreWitnessed(kept, vkey, policy, cp, cosigned, p, time.Now())
	if warn != "" {
		fmt.Fprintf(stderr, "helios: warning: %s\n", warn)
	}
	if err != nil {
		return fmt.Errorf("the store's audit log is not witnessed as this repository requires: %w", err)
	}
	return nil
}

var _ helper.Remote = (*served)(nil)
