package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/helios-vcs/helios/helper/gitrepo"
	"golang.org/x/sys/unix"
)

// Files a server keeps in the store directory.
const (
	SocketName    = "serve.sock"  // the Unix socket
	LockName      = "serve.lock"  // flock'ed by the running server for its lifetime
	StartLockName = "serve.start" // flock'ed by a client while it starts a server
	LogName       = "serve.log"   // stderr of servers started on demand
	WatchDirName  = "serve.watch" // the watcher's flush markers (see WatchOptions.SentinelDir)
)

// ErrRunning is returned by LockServer when another server holds the
// store's server lock.
var ErrRunning = errors.New("server: another server is running for this store")

// maxSocketPath is what sockaddr_un can hold, less the terminating NUL.
const maxSocketPath = 107

// withSocketPath calls fn with a path that names the socket of the store in
// dir. A path too long for sockaddr_un is reached through the directory's
// descriptor (/proc/self/fd/N/serve.sock), which Linux resolves like any
// path.
func withSocketPath(dir string, fn func(path string) error) error {
	p := filepath.Join(dir, SocketName)
	if len(p) <= maxSocketPath {
		return fn(p)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	return fn("/proc/self/fd/" + strconv.Itoa(fd) + "/" + SocketName)
}

func dialSocket(dir string) (net.Conn, error) {
	var c net.Conn
	err := withSocketPath(dir, func(p string) error {
		var err error
		c, err = net.DialUnix("unix", nil, &net.UnixAddr{Name: p, Net: "unix"})
		return err
	})
	return c, err
}

// Lock is a store's server lock, held by its one running server from before
// it listens until after it has closed the store. The kernel releases it
// when the process dies, however it dies, so a lock nobody holds means that
// a socket file left behind is stale.
type Lock struct{ f *os.File }

// LockServer takes the server lock of the store in dir, waiting up to wait
// for a server that is shutting down; ErrRunning if it is still held.
func LockServer(dir string, wait time.Duration) (*Lock, error) {
	f, err := lockFile(dir, LockName, wait)
	if err != nil {
		return nil, err
	}
	return &Lock{f: f}, nil
}

// Release lets the next server start.
func (l *Lock) Release() error { return l.f.Close() }

// lockFile flocks dir/name exclusively, polling until wait has passed.
func lockFile(dir, name string, wait time.Duration) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	pause := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("server: lock %s: %w", name, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			if name == LockName {
				return nil, ErrRunning
			}
			return nil, fmt.Errorf("server: %s still locked after %v", name, wait)
		}
		time.Sleep(pause)
		pause = min(2*pause, 20*time.Millisecond)
	}
}

// Running reports whether a server holds the store's server lock (it may
// be starting or shutting down, not yet or no longer answering).
func Running(dir string) bool {
	f, err := os.Open(filepath.Join(dir, LockName))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	return false
}

// WaitStopped waits until no server holds the store's lock.
func WaitStopped(dir string, wait time.Duration) error {
	f, err := lockFile(dir, LockName, wait)
	if err != nil {
		if errors.Is(err, ErrRunning) {
			return fmt.Errorf("server: still running after %v: %w", wait, err)
		}
		return err
	}
	return f.Close()
}

// Listen makes the store's socket, replacing a stale one. Call it holding
// the server lock: no live server owns the socket then. The socket is
// readable and writable by its owner only.
func Listen(dir string) (*Listener, error) {
	path := filepath.Join(dir, SocketName)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("server: remove stale socket: %w", err)
	}
	var ln *net.UnixListener
	err := withSocketPath(dir, func(p string) error {
		var err error
		ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("server: listen: %w", err)
	}
	ln.SetUnlinkOnClose(false) // the name it was bound by may be a /proc path
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, err
	}
	made, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("server: listen: %w", err)
	}
	return &Listener{UnixListener: ln, path: path, made: made}, nil
}

// Listener is the store's socket. Close removes the socket file.
type Listener struct {
	*net.UnixListener
	path string
	made os.FileInfo // the socket file as bound
}

// Close closes the socket and removes its file, if the file at its path
// still is the one it bound: not a later server's, when the store was
// removed and made again at the same path while this one ran.
func (l *Listener) Close() error {
	err := l.UnixListener.Close()
	if !stillSame(l.path, l.made) {
		return err
	}
	if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

// ConnectOptions configure Connect.
type ConnectOptions struct {
	// Build is the client's build identity (see BuildID).
	Build string
	// Command returns the command that runs a server for the store in dir
	// in the foreground ("helios serve --store DIR"). Nil: never start one.
	Command func(dir string) *exec.Cmd
	// Wait bounds the wait for a server to start or to stop (default 10s).
	Wait time.Duration
}

// Connect returns a client of the store's server, starting one if none
// answers. Racing callers start one server between them: they take turns
// on the start lock, and each first looks again whether a server now
// answers. A server of another build is asked to go and replaced.
func Connect(dir string, o ConnectOptions) (*Client, error) {
	if o.Wait <= 0 {
		o.Wait = 10 * time.Second
	}
	c, err := Dial(dir, o.Build)
	if err == nil {
		return c, nil
	}
	if errors.Is(err, ErrVersion) {
		if err := WaitStopped(dir, o.Wait); err != nil {
			return nil, err
		}
	}
	if o.Command == nil {
		return nil, err
	}
	start, err := lockFile(dir, StartLockName, o.Wait)
	if err != nil {
		return nil, err
	}
	defer start.Close()
	if c, err := Dial(dir, o.Build); err == nil {
		return c, nil // another client started it meanwhile
	}
	exited, err := spawn(dir, o.Command(dir))
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(o.Wait)
	// A server takes 50-70 ms to listen; a Dial that fails costs a few
	// microseconds, so it is tried every 2 ms at most (with pauses growing
	// to 10 ms the client noticed the server 5 ms late on average).
	pause := 500 * time.Microsecond
	for {
		c, err := Dial(dir, o.Build)
		if err == nil {
			return c, nil
		}
		select {
		case werr := <-exited:
			// It may have lost a race with a server started by hand, which
			// answers now.
			if c, err := Dial(dir, o.Build); err == nil {
				return c, nil
			}
			return nil, fmt.Errorf("server: exited at start (see %s): %v", filepath.Join(dir, LogName), werr)
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("server: no answer %v after start: %w", o.Wait, err)
		}
		time.Sleep(pause)
		pause = min(2*pause, 2*time.Millisecond)
	}
}

// spawn starts cmd in its own session with its output going to the store's
// serve.log, and returns a channel that receives its exit.
func spawn(dir string, cmd *exec.Cmd) (<-chan error, error) {
	log, err := os.OpenFile(filepath.Join(dir, LogName), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// RocksDB's memory comes in transparent huge pages too: a cold full
	// push measured 2.7% faster (9 rotated rounds, BENCHMARKS.md).
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = gitrepo.HugeMalloc(cmd.Env)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("server: start: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return exited, nil
}

// Executable returns the first of names found beside the running
// executable, else the first found on $PATH, else "": how a front end
// finds the program it hands work to (the thin helios its helios-store,
// the helper the full helios).
func Executable(names ...string) string {
	if self, err := os.Executable(); err == nil {
		for _, name := range names {
			p := filepath.Join(filepath.Dir(self), name)
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p
			}
		}
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// BuildID identifies the running executable by its file's device, inode,
// size and modification time: a rebuilt or reinstalled binary gets another
// identity, at the cost of a stat (hashing a 10 MB executable would cost
// more than the requests it serves).
func BuildID() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	return BuildIDOf(exe)
}

// BuildIDOf is the BuildID of the executable at exe ("" if it cannot be
// read): what a front end that starts another executable's server hands
// to Connect.
func BuildIDOf(exe string) string {
	var st unix.Stat_t
	if err := unix.Stat(exe, &st); err != nil {
		return ""
	}
	return fmt.Sprintf("exe:%x:%x:%x:%x.%09d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec)
}
