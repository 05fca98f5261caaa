// Package remotehelper is git-remote-helios: it turns the URL git gives
// into a store directory and serves gitremote-helpers(7) for it (package
// helper), through the store's resident server when one runs or can be
// started (served.go), else on the store opened in this process by the
// Direct opener (package direct, which links RocksDB). The executable
// git-remote-helios is this package's Run; its thin build (build tag thin,
// no cgo) has no Direct of its own and hands a store it cannot serve to
// `helios git-remote-helios`, which has.
package remotehelper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"

	"github.com/helios-vcs/helios/helper"
	"golang.org/x/sys/unix"
)

// Direct opens the store in dir in this process, as a Remote and what
// closes it. gitDir is the local repository (for its kept audit
// checkpoint).
type Direct func(dir, gitDir string, stderr io.Writer) (helper.Remote, io.Closer, error)

// Options configure Run.
type Options struct {
	// Direct opens a store that no server serves; nil: such a store is an
	// error.
	Direct Direct
	// Wrap, if set, wraps the Remote (tests inject delays that way).
	Wrap func(helper.Remote) helper.Remote
	// DirectExecs says Direct replaces this process (the thin build execs
	// helios): it can only be chosen before the helper reads from git.
	DirectExecs bool
}

// Run is git-remote-helios with its arguments, $GIT_DIR and standard
// streams; it returns the exit code.
func Run(ctx context.Context, args []string, gitDir string, stdin io.Reader, stdout, stderr io.Writer, o Options) int {
	// HELIOS_HELPER_CPUPROFILE=file writes a CPU profile of the helper (for
	// scripts/compare-clone.sh and anyone asking where the time goes).
	if path := os.Getenv("HELIOS_HELPER_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			defer f.Close() // after the profile's last write (defers run last first)
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	var closer io.Closer
	wrap := func(r helper.Remote) helper.Remote {
		if o.Wrap != nil {
			return o.Wrap(r)
		}
		return r
	}
	// local reaches the store in dir: through its server, else opened
	// here (Direct). closer is set before it returns.
	local := func(dir string, fallback bool) (helper.Remote, error) {
		srv, err := connectServed(dir, gitDir, stderr, fallback)
		if err != nil {
			return nil, err
		}
		if srv != nil {
			closer = srv.c
			return wrap(srv), nil
		}
		if o.Direct == nil {
			return nil, fmt.Errorf("no server for the store %s, and this build cannot open it itself", dir)
		}
		r, c, err := o.Direct(dir, gitDir, stderr)
		if err != nil {
			return nil, err
		}
		closer = c
		return wrap(r), nil
	}
	open := func(url string) (func() (helper.Remote, error), error) {
		if strings.HasPrefix(url, "tls://") {
			srv, err := connectTLS(url, gitDir, stderr)
			if err != nil {
				return nil, err
			}
			closer = srv.c
			return helper.Reached(wrap(srv)), nil
		}
		dir, err := StorePath(url)
		if err != nil {
			return nil, err
		}
		// Reaching the server may mean starting it (about 0.1 s): that
		// runs while git and the helper exchange their first commands,
		// and while a push starts its own git processes. A Direct that
		// takes this process over (DirectExecs) must come before the
		// helper reads from git, so where the server may not start (no
		// server wanted, or a store this user cannot write, which a
		// running server may still serve) the choice is made first.
		if os.Getenv("HELIOS_NO_SERVER") == "1" || o.DirectExecs && unix.Access(dir, unix.W_OK) != nil {
			r, err := local(dir, true)
			if err != nil {
				return nil, err
			}
			return helper.Reached(r), nil
		}
		return func() (helper.Remote, error) { return local(dir, !o.DirectExecs) }, nil
	}
	code := helper.MainConnecting(ctx, args, gitDir, stdin, stdout, stderr, open)
	if closer != nil {
		if err := closer.Close(); err != nil {
			fmt.Fprintf(stderr, "error: close store: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// StorePath turns the URL git passes into the store directory:
// "/abs/path" (from helios::/abs/path), "helios:///abs/path", or a path
// relative to the current directory. Remote hosts are not supported.
func StorePath(url string) (string, error) {
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
