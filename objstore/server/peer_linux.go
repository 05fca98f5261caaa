package server

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerOf asks the kernel who is at the other end of a Unix socket.
func peerOf(c net.Conn) Peer {
	p := Peer{UID: -1, GID: -1, PID: -1}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return p
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return p
	}
	raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			p = Peer{UID: int(cred.Uid), GID: int(cred.Gid), PID: int(cred.Pid)}
		}
	})
	return p
}
