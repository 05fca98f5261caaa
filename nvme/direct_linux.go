package nvme

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

const oDirect = unix.O_DIRECT

// sectorSize is the logical sector size of a block device, 0 if unknown.
func sectorSize(f *os.File) int {
	n, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET)
	if err != nil {
		return 0
	}
	return n
}

// sync makes written data durable. fdatasync suffices: Open made the file's
// size durable when it grew the file.
func (b *fileBase) sync() error {
	for {
		err := unix.Fdatasync(int(b.f.Fd()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("nvme: sync device: %w", err)
		}
		return nil
	}
}
