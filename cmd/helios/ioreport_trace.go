//go:build !thin

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Syscall counts come from strace: /proc/<pid>/io counts write syscalls
// (syscw) but neither fsyncs nor file creations. Tracing slows every
// syscall down, so io-report replays the whole workload a second time under
// strace and takes only counts from that pass; bytes and times come from
// the untraced pass.

// traceSyscalls are the syscalls the trace records.
const traceSyscalls = "open,openat,creat,fsync,fdatasync,sync_file_range,syncfs,sync,write,pwrite64,writev,pwritev,pwritev2"

// syscallCounts is what a trace log shows.
type syscallCounts struct {
	Writes int64 `json:"write_syscalls"`
	Fsyncs int64 `json:"fsync_syscalls"` // fsync, fdatasync, sync_file_range, syncfs, sync
	// Creates counts successful opens with O_CREAT but not O_APPEND, and
	// creat(2): the files a process made or truncated to rewrite (appends
	// to logs and reflogs are left out).
	Creates int64 `json:"files_created"`
}

func (a syscallCounts) add(b syscallCounts) syscallCounts {
	return syscallCounts{a.Writes + b.Writes, a.Fsyncs + b.Fsyncs, a.Creates + b.Creates}
}

// straceArgs wraps argv to run under strace, logging to log.
func straceArgs(strace, log string, argv []string) []string {
	return append([]string{strace, "-f", "-I", "2", "-qq", "-s", "0", "-e", "signal=none", "-e", "trace=" + traceSyscalls, "-o", log, "--"}, argv...)
}

// parseStrace counts the syscalls in an strace -f log. A call interrupted by
// another thread's ("<unfinished ...>") is counted when it starts; whether an
// open succeeded is read from its result, on the same line or on the
// "<... resumed>" line.
func parseStrace(r io.Reader) (syscallCounts, error) {
	var c syscallCounts
	pendingCreate := map[string]bool{} // pid → an O_CREAT open is unfinished
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		pid, rest, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		if strings.HasPrefix(rest, "<...") {
			if pendingCreate[pid] {
				delete(pendingCreate, pid)
				if succeeded(rest) {
					c.Creates++
				}
			}
			continue
		}
		name, args, ok := strings.Cut(rest, "(")
		if !ok {
			continue
		}
		switch name {
		case "write", "pwrite64", "writev", "pwritev", "pwritev2":
			c.Writes++
		case "fsync", "fdatasync", "sync_file_range", "syncfs", "sync":
			c.Fsyncs++
		case "open", "openat", "creat":
			if name != "creat" && (!strings.Contains(args, "O_CREAT") || strings.Contains(args, "O_APPEND")) {
				continue
			}
			if strings.HasSuffix(rest, "<unfinished ...>") {
				pendingCreate[pid] = true
			} else if succeeded(rest) {
				c.Creates++
			}
		}
	}
	return c, sc.Err()
}

// succeeded reads a syscall line's result: "= 3" is success, "= -1 E..." not.
func succeeded(line string) bool {
	i := strings.LastIndex(line, ") = ")
	if i < 0 {
		return false
	}
	return !strings.HasPrefix(line[i+4:], "-")
}

func parseStraceFile(path string) (syscallCounts, error) {
	f, err := os.Open(path)
	if err != nil {
		return syscallCounts{}, err
	}
	defer f.Close()
	return parseStrace(f)
}

// pidTrace traces a running process (every thread) with strace -p: this
// process, for the in-process side of the trace pass, or a resident store
// server.
type pidTrace struct {
	cmd *exec.Cmd
	log string
}

// startPIDTrace attaches strace to process pid and returns once it is
// attached.
func startPIDTrace(strace, log string, pid int) (*pidTrace, error) {
	cmd := exec.Command(strace, "-f", "-s", "0", "-e", "signal=none", "-e", "trace="+traceSyscalls, "-o", log, "-p", fmt.Sprint(pid))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	attached := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		said := false
		var msgs []string
		for sc.Scan() {
			if strings.Contains(sc.Text(), "attached") {
				if !said {
					attached <- nil
					said = true
				}
				continue
			}
			msgs = append(msgs, sc.Text())
		}
		if !said {
			attached <- fmt.Errorf("strace did not attach: %s", strings.Join(msgs, "; "))
		}
	}()
	select {
	case err := <-attached:
		if err != nil {
			cmd.Wait()
			return nil, err
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("strace did not attach within 10s")
	}
	// strace reports each thread as it attaches; let it finish.
	time.Sleep(200 * time.Millisecond)
	return &pidTrace{cmd: cmd, log: log}, nil
}

// stop detaches strace and returns the counts it logged.
func (t *pidTrace) stop() (syscallCounts, error) {
	t.cmd.Process.Signal(syscall.SIGINT)
	t.cmd.Wait() // strace exits non-zero when interrupted
	defer os.Remove(t.log)
	return parseStraceFile(t.log)
}
