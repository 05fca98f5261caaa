//go:build !thin

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// ioCounters are the fields of /proc/<pid>/io (see proc(5)). For a process
// they include its exited threads and the children it has reaped, so a
// command's counters read just before it is reaped cover everything it ran
// (git's sub-processes, RocksDB's background threads).
type ioCounters struct {
	Rchar               int64 `json:"rchar"`
	Wchar               int64 `json:"wchar"`
	Syscr               int64 `json:"syscr"`
	Syscw               int64 `json:"syscw"`
	ReadBytes           int64 `json:"read_bytes"`
	WriteBytes          int64 `json:"write_bytes"`
	CancelledWriteBytes int64 `json:"cancelled_write_bytes"`
}

func (a ioCounters) sub(b ioCounters) ioCounters {
	return ioCounters{a.Rchar - b.Rchar, a.Wchar - b.Wchar, a.Syscr - b.Syscr, a.Syscw - b.Syscw,
		a.ReadBytes - b.ReadBytes, a.WriteBytes - b.WriteBytes, a.CancelledWriteBytes - b.CancelledWriteBytes}
}

func (a ioCounters) add(b ioCounters) ioCounters {
	return ioCounters{a.Rchar + b.Rchar, a.Wchar + b.Wchar, a.Syscr + b.Syscr, a.Syscw + b.Syscw,
		a.ReadBytes + b.ReadBytes, a.WriteBytes + b.WriteBytes, a.CancelledWriteBytes + b.CancelledWriteBytes}
}

// readProcIO reads /proc/<pid>/io (pid 0: this process).
func readProcIO(pid int) (ioCounters, error) {
	path := "/proc/self/io"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/io"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ioCounters{}, fmt.Errorf("read io counters: %w", err)
	}
	return parseProcIO(b)
}

func parseProcIO(b []byte) (ioCounters, error) {
	var c ioCounters
	fields := map[string]*int64{
		"rchar": &c.Rchar, "wchar": &c.Wchar, "syscr": &c.Syscr, "syscw": &c.Syscw,
		"read_bytes": &c.ReadBytes, "write_bytes": &c.WriteBytes, "cancelled_write_bytes": &c.CancelledWriteBytes,
	}
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(": "))
		if !ok {
			continue
		}
		if p := fields[string(k)]; p != nil {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return c, fmt.Errorf("io counters: field %q: %w", k, err)
			}
			*p = n
			seen++
		}
	}
	if seen != len(fields) {
		return c, fmt.Errorf("io counters: %d of %d fields present", seen, len(fields))
	}
	return c, nil
}

// measured is what one command cost.
type measured struct {
	wall time.Duration
	io   ioCounters
}

// runMeasured runs cmd and returns its wall time and its /proc io counters,
// read after it exited and before it is reaped: waitid with WNOWAIT leaves
// the zombie in place, its counters (its own and those of the children it
// reaped) are read, and only then does cmd.Wait reap it.
func runMeasured(cmd *exec.Cmd) (measured, error) {
	return runMeasuredWatch(cmd, nil)
}

// runMeasuredWatch is runMeasured with a watcher that runs beside the
// command from its start until it exits (the trace pass's watchdog).
func runMeasuredWatch(cmd *exec.Cmd, watch func(pid int, done <-chan struct{})) (measured, error) {
	var m measured
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return m, err
	}
	pid := cmd.Process.Pid
	if watch != nil {
		done := make(chan struct{})
		stopped := make(chan struct{})
		go func() { watch(pid, done); close(stopped) }()
		defer func() { close(done); <-stopped }()
	}
	var info unix.Siginfo
	var werr error
	for {
		werr = unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(werr, unix.EINTR) {
			break
		}
	}
	m.wall = time.Since(start)
	var ioErr error
	if werr == nil {
		m.io, ioErr = readProcIO(pid)
	} else {
		ioErr = fmt.Errorf("waitid: %w", werr)
	}
	if err := cmd.Wait(); err != nil {
		return m, err
	}
	return m, ioErr
}

// findServer looks for a resident store process (`helios serve`) for the
// store in dir: a Unix socket in the store directory (or one level down,
// not in the database) whose listening end's peer credentials name a
// process. It returns 0 when there is none.
func findServer(dir string) int {
	var socks []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.Type()&fs.ModeSocket != 0:
			socks = append(socks, p)
		case e.IsDir() && e.Name() != "db":
			sub, _ := os.ReadDir(p)
			for _, f := range sub {
				if f.Type()&fs.ModeSocket != 0 {
					socks = append(socks, filepath.Join(p, f.Name()))
				}
			}
		}
	}
	for _, p := range socks {
		if pid := socketPeerPID(p); pid != 0 {
			return pid
		}
	}
	return 0
}

// socketPeerPID connects to the Unix socket at path and returns the pid of
// the process at the other end (SO_PEERCRED), or 0.
func socketPeerPID(path string) int {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return 0
	}
	defer c.Close()
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0
	}
	var pid int
	raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			pid = int(cred.Pid)
		}
	})
	return pid
}

// childPIDs lists the children of process pid (its main thread's).
func childPIDs(pid int) []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range bytes.Fields(b) {
		if n, err := strconv.Atoi(string(f)); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// straceWatchdog interrupts an strace -f whose command has exited while it
// still follows a process the command left running (a resident server
// started on demand): strace would otherwise wait for that process to exit.
// What the left process does afterwards is not traced. It reports whether
// it interrupted strace.
func straceWatchdog(stracePID int, done <-chan struct{}) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	child, gone, start := 0, time.Time{}, time.Now()
	for {
		select {
		case <-done:
			return false
		case <-tick.C:
		}
		kids := childPIDs(stracePID)
		if child == 0 {
			switch {
			case len(kids) > 0:
				child = kids[0]
			case time.Since(start) > time.Second:
				// The command came and went between two ticks: it is gone.
				child, gone = -1, time.Now()
			}
			continue
		}
		if gone.IsZero() {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", child)); err != nil {
				gone = time.Now()
			}
			continue
		}
		// Only while the command itself is gone (strace has no child of its
		// own) but strace still follows something it left behind.
		if time.Since(gone) > 3*time.Second && len(kids) == 0 && tracing(stracePID) {
			unix.Kill(stracePID, unix.SIGINT)
			return true
		}
	}
}

// tracing reports whether any process is still traced by tracer.
func tracing(tracer int) bool {
	ents, _ := os.ReadDir("/proc")
	want := []byte("TracerPid:\t" + strconv.Itoa(tracer) + "\n")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/status"); err == nil && bytes.Contains(b, want) {
			return true
		}
	}
	return false
}
