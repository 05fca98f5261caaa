//go:build !linux

package server

// ReserveHugeHeap is a Linux ability (hugeheap_linux.go).
func ReserveHugeHeap(n int) (lo, hi uintptr, err error) { return 0, 0, ErrNoHugePages }
