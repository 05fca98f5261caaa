//go:build !thin

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"syscall"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/cmd/internal/storedir"
	"github.com/helios-vcs/helios/objstore/server"
	"github.com/urfave/cli/v2"
)

type serveOptions struct {
	store        string
	status, stop bool
	idle         time.Duration
	durable      bool
	json         bool
	watch        bool
	// TLS and sharing (serve_access.go)
	listen, tlsCert, tlsKey, clientCA, clientCRL string
	tlsReloadEvery                               time.Duration
	shared                                       bool
	failLimit                                    int
	failRefill                                   time.Duration
}

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "hold the store open and serve commands over DIR/serve.sock (started on demand by other commands)",
		UsageText: "helios serve [--idle-timeout D] [--durable] [--shared] [--fail-limit N] [--fail-refill D]\n" +
			"             [--listen ADDR --tls-cert F --tls-key F [--client-ca F [--client-crl F]] [--tls-reload-every D]]\n" +
			"             (with --listen, SIGHUP reloads the TLS files)\n" +
			"helios serve --status | --stop",
		Flags: append([]cli.Flag{storeFlag, jsonFlag,
			&cli.BoolFlag{Name: "status", Usage: "say whether a server runs, and what it has done (exit 1 if none)"},
			&cli.BoolFlag{Name: "stop", Usage: "stop the running server, after its requests in flight"},
			&cli.DurationFlag{Name: "idle-timeout", Value: 10 * time.Minute, EnvVars: []string{"HELIOS_SERVE_IDLE_TIMEOUT"},
				Usage: "exit after this long without a connection (0: never)"},
			&cli.BoolFlag{Name: "durable", Usage: "fsync every write (group commit), not only those asked for with --durable"},
			&cli.BoolFlag{Name: "watch", Value: true, EnvVars: []string{"HELIOS_SERVE_WATCH"},
				Usage: "watch snapshotted worktrees (inotify) so that a snapshot reads only what changed; --watch=false: stat every file"},
		}, serveAccessFlags...),
		Action: func(c *cli.Context) error {
			o := serveOptions{
				store: c.String("store"), status: c.Bool("status"), stop: c.Bool("stop"),
				idle: c.Duration("idle-timeout"), durable: c.Bool("durable"), json: c.Bool("json"),
				watch:  c.Bool("watch"),
				listen: c.String("listen"), tlsCert: c.String("tls-cert"), tlsKey: c.String("tls-key"),
				clientCA: c.String("client-ca"), shared: c.Bool("shared"),
				clientCRL: c.String("client-crl"), tlsReloadEvery: c.Duration("tls-reload-every"),
				failLimit: c.Int("fail-limit"), failRefill: c.Duration("fail-refill"),
			}
			if o.listen != "" && !c.IsSet("idle-timeout") {
				o.idle = 0 // a network server stays up until stopped
			}
			return runServe(o, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// hugeHeapBytes is the heap the server reserves in huge pages: more than a
// 32k-object push's peak (about 120 MB); address space, not memory.
const hugeHeapBytes = 256 << 20

func runServe(o serveOptions, stdout, stderr io.Writer) error {
	switch {
	case o.status:
		return serveStatus(o, stdout)
	case o.stop:
		return serveStop(o, stdout)
	}
	if _, err := os.Stat(dbDir(o.store)); err != nil {
		return fmt.Errorf("no helios store at %q: %w", o.store, err)
	}
	// HELIOS_SERVE_CPUPROFILE=file profiles the server until it exits (where
	// a served push or clone spends its time: scripts/compare-clone.sh).
	if path := os.Getenv("HELIOS_SERVE_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer f.Close()
				defer pprof.StopCPUProfile()
			}
		}
	}
	// HELIOS_SERVE_TRACE=file writes an execution trace (go tool trace):
	// which of the server's goroutines waits on what during a push.
	if path := os.Getenv("HELIOS_SERVE_TRACE"); path != "" {
		if f, err := os.Create(path); err == nil {
			defer f.Close()
			if trace.Start(f) == nil {
				defer trace.Stop()
			}
		}
	}
	// The heap a push or a clone grows into comes in huge pages: a page
	// fault is the dearest thing a big push does on a virtual machine
	// (server.ReserveHugeHeap). It takes 15–20 ms (a collection among
	// them), so it runs while the store opens. HELIOS_SERVE_HUGEPAGES=0
	// leaves the heap to the kernel's defaults.
	if os.Getenv("HELIOS_SERVE_HUGEPAGES") != "0" {
		go server.ReserveHugeHeap(hugeHeapBytes)
	}
	if c, err := server.Dial(o.store, ""); err == nil {
		pid := c.ServerPID
		if o.listen == "" && !o.shared {
			c.Close()
			return fmt.Errorf("a server already runs for %s (pid %d)", o.store, pid)
		}
		// A server for the network or for other users replaces the one
		// a command started on demand (or an earlier one).
		err := c.Stop()
		c.Close()
		if err != nil {
			return fmt.Errorf("a server already runs for %s (pid %d) and does not stop: %w", o.store, pid, err)
		}
		fmt.Fprintf(stderr, "helios serve: replacing the server pid %d\n", pid)
	}
	// A server that is shutting down still holds the lock for a moment.
	lock, err := server.LockServer(o.store, 10*time.Second)
	if err != nil {
		return err
	}
	defer lock.Release()
	s, err := openStore(o.store, forWrite, o.durable, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	access, err := storeAccess(o.store, s, stderr)
	if err != nil {
		return err
	}
	tln, creds, err := listenTLS(o)
	if err != nil {
		return err
	}
	ln, err := server.Listen(o.store)
	if err != nil {
		if tln != nil {
			tln.Close()
		}
		return err
	}
	if o.shared {
		if err := shareSocket(o.store); err != nil {
			ln.Close()
			return err
		}
	}
	srv := server.New(withAccess(server.Options{
		Store: s, Build: server.BuildID(), IdleTimeout: o.idle,
		VerifierKey:  verifierKey(o.store),
		ClonePacks:   storedir.ClonePacks(o.store),
		FailureLimit: server.FailureLimit{Burst: o.failLimit, Refill: o.failRefill},
		Logf:         func(f string, a ...any) { fmt.Fprintf(stderr, "helios serve: "+f+"\n", a...) },
		// The watcher's flush markers live in the store directory, which
		// the server owns while it holds the lock.
		Watch: server.WatchOptions{Disabled: !o.watch, SentinelDir: filepath.Join(o.store, server.WatchDirName)},
	}, access))
	sigc := make(chan os.Signal, 1)
	if creds != nil {
		// With --listen, SIGHUP reloads the TLS credentials; without, it
		// stops the server as SIGTERM does.
		signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT)
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		reloadDone := make(chan struct{})
		defer close(reloadDone)
		logf := func(f string, a ...any) { fmt.Fprintf(stderr, "helios serve: "+f+"\n", a...) }
		go reloadTLS(creds, o.tlsReloadEvery, hup, reloadDone, logf)
	} else {
		signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	}
	defer signal.Stop(sigc)
	gone := make(chan struct{})
	watchDone := make(chan struct{})
	defer close(watchDone)
	go watchStoreDir(o.store, 2*time.Second, gone, watchDone)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		reason := ""
		select {
		case sig := <-sigc:
			reason = "signal " + sig.String()
		case <-srv.Done():
			reason = srv.Reason()
		case <-gone:
			reason = "the store directory was removed or replaced"
		}
		srv.Shutdown()
		fmt.Fprintf(stderr, "helios serve: pid %d stopped (%s)\n", os.Getpid(), reason)
	}()
	fmt.Fprintf(stderr, "helios serve: pid %d serving %s (idle timeout %v)\n", os.Getpid(), o.store, o.idle)
	if tln != nil {
		fmt.Fprintf(stderr, "helios serve: TLS on %s\n", tln.Addr())
		go func() {
			if err := srv.Serve(tln); err != nil {
				fmt.Fprintf(stderr, "helios serve: TLS: %v\n", err)
				select { // stop as on a signal
				case sigc <- syscall.SIGTERM:
				default:
				}
			}
		}()
	}
	err = srv.Serve(ln)
	if err != nil {
		srv.Shutdown()
	}
	<-stopped
	// Deferred: the store closes, then the lock goes, so that the next
	// server finds the database free.
	return err
}

// verifierKey is the store's audit verifier key ("" without an audit log).
func verifierKey(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, audit.VerifierKeyFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func serveStatus(o serveOptions, stdout io.Writer) error {
	c, err := server.Dial(o.store, "")
	if err != nil {
		state := "no server"
		if server.Running(o.store) {
			state = "a server is starting or stopping"
		}
		if o.json {
			json.NewEncoder(stdout).Encode(map[string]any{"running": false})
		} else {
			fmt.Fprintf(stdout, "%s for %s\n", state, o.store)
		}
		return &exitError{1, fmt.Errorf("%s for %s: %w", state, o.store, err)}
	}
	defer c.Close()
	st, err := c.Status()
	if err != nil {
		return err
	}
	if o.json {
		return json.NewEncoder(stdout).Encode(struct {
			Running bool `json:"running"`
			server.Status
		}{true, st})
	}
	cur := "current build"
	if st.Build != server.BuildID() {
		cur = "another build (the next command replaces it)"
	}
	fmt.Fprintf(stdout, "server pid %d for %s, %s, up %v, idle timeout %v\n%d connections (%d open), %d requests\n",
		st.PID, o.store, cur, time.Since(st.Started).Round(time.Millisecond), st.IdleTimeout, st.Connections, st.Open, st.Requests)
	return nil
}

func serveStop(o serveOptions, stdout io.Writer) error {
	c, err := server.Dial(o.store, "")
	if err != nil {
		if !server.Running(o.store) {
			fmt.Fprintf(stdout, "no server for %s\n", o.store)
			return nil
		}
		return fmt.Errorf("server for %s does not answer: %w", o.store, err)
	}
	pid := c.ServerPID
	err = c.Stop()
	c.Close()
	if err != nil {
		return err
	}
	if err := server.WaitStopped(o.store, 30*time.Second); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Fprintf(stdout, "stopped server pid %d\n", pid)
	return nil
}

// watchStoreDir closes gone when dir no longer is the directory it was
// when the server started (removed, or removed and made again): a server
// left on a removed store only holds its deleted files, and clients of a
// new store at the same path start their own. (The database writes
// through its own handle on the directory and cannot touch a new store:
// rocksdb.Open.)
func watchStoreDir(dir string, every time.Duration, gone, done chan struct{}) {
	first, err := os.Stat(dir)
	if err != nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if now, err := os.Stat(dir); err != nil || !os.SameFile(first, now) {
			close(gone)
			return
		}
	}
}
