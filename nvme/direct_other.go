//go:build !linux

package nvme

import (
	"fmt"
	"os"
)

// oDirect is 0 where O_DIRECT does not exist: I/O is always buffered.
const oDirect = 0

func sectorSize(*os.File) int { return 0 }

func (b *fileBase) sync() error {
	if err := b.f.Sync(); err != nil {
		return fmt.Errorf("nvme: sync device: %w", err)
	}
	return nil
}
