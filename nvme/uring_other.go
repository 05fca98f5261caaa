//go:build !linux || !cgo

package nvme

import "errors"

// uringDevice does not exist without Linux and cgo; Open falls back.
type uringDevice struct{ fallbacks []string }

func (*uringDevice) ReadAt([]byte, int64) (int, error)  { return 0, ErrClosed }
func (*uringDevice) WriteAt([]byte, int64) (int, error) { return 0, ErrClosed }
func (*uringDevice) BlockSize() int                     { return 0 }
func (*uringDevice) Size() int64                        { return 0 }
func (*uringDevice) Sync() error                        { return ErrClosed }
func (*uringDevice) Close() error                       { return ErrClosed }

func newUring(fileBase, int, int) (*uringDevice, error) {
	return nil, errors.New("nvme: io_uring needs linux and cgo")
}
