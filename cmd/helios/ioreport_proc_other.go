//go:build !linux && !thin

package main

import (
	"errors"
	"os/exec"
	"time"
)

// io-report reads /proc/<pid>/io, which only Linux has.

type ioCounters struct {
	Rchar               int64 `json:"rchar"`
	Wchar               int64 `json:"wchar"`
	Syscr               int64 `json:"syscr"`
	Syscw               int64 `json:"syscw"`
	ReadBytes           int64 `json:"read_bytes"`
	WriteBytes          int64 `json:"write_bytes"`
	CancelledWriteBytes int64 `json:"cancelled_write_bytes"`
}

func (a ioCounters) sub(b ioCounters) ioCounters { return a }
func (a ioCounters) add(b ioCounters) ioCounters { return a }

var errNoProcIO = errors.New("io-report needs Linux's /proc/<pid>/io")

type measured struct {
	wall time.Duration
	io   ioCounters
}

func readProcIO(pid int) (ioCounters, error)      { return ioCounters{}, errNoProcIO }
func runMeasured(cmd *exec.Cmd) (measured, error) { return measured{}, errNoProcIO }
func findServer(dir string) int                   { return 0 }

func runMeasuredWatch(cmd *exec.Cmd, watch func(int, <-chan struct{})) (measured, error) {
	return measured{}, errNoProcIO
}

func straceWatchdog(stracePID int, done <-chan struct{}) bool { return false }
