package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// A push to a server on the same machine can hand the server a pipe
// instead of streaming the objects through the connection: the client
// sends a framePipe frame, then one byte that carries the pipe's read end
// (SCM_RIGHTS), and git cat-file --batch writes the objects the server
// asked for into the pipe (gitrepo.BatchPipe). The objects then go from
// git straight into the server. The server checks them as it checks
// streamed ones; what it reads from the pipe is as untrusted as what it
// reads from the socket.

// maxPassedFDs bounds the descriptors a connection may have received and
// not used; any beyond are closed at once.
const maxPassedFDs = 4

// fdConn reads a Unix socket with recvmsg, keeping the descriptors that
// come with its bytes until a request takes them.
type fdConn struct {
	c   *net.UnixConn
	oob []byte
	fds []int
}

func newFDConn(c *net.UnixConn) *fdConn {
	return &fdConn{c: c, oob: make([]byte, unix.CmsgSpace(4*maxPassedFDs))}
}

func (f *fdConn) Read(p []byte) (int, error) {
	n, oobn, _, _, err := f.c.ReadMsgUnix(p, f.oob)
	if oobn > 0 {
		f.keep(f.oob[:oobn])
	}
	return max(n, 0), err // n is -1 on some errors
}

func (f *fdConn) keep(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for i := range msgs {
		fds, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if len(f.fds) >= maxPassedFDs {
				unix.Close(fd)
				continue
			}
			f.fds = append(f.fds, fd)
		}
	}
}

// takePipe returns the oldest descriptor received and not taken yet as a
// pollable file (its reads end when it is closed), provided it is a pipe.
func (f *fdConn) takePipe() (*os.File, error) {
	if f == nil || len(f.fds) == 0 {
		return nil, fmt.Errorf("%w: a pipe was announced, but none came with it", ErrProtocol)
	}
	fd := f.fds[0]
	f.fds = f.fds[1:]
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: the descriptor passed is not a pipe", ErrProtocol)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("server: pipe: %w", err)
	}
	return os.NewFile(uintptr(fd), "push pipe"), nil
}

// pipeCheck is how often a read that waits on a pipe looks at whether the
// client is still there and the server still running.
const pipeCheck = time.Second

// pipeReader reads a pipe a client passed, until the client's connection
// closes (a hostile client could keep the pipe open and go) or the server
// stops: then within pipeCheck.
type pipeReader struct {
	f    *os.File
	c    *net.UnixConn
	done <-chan struct{}
}

func (p *pipeReader) Read(b []byte) (int, error) {
	for {
		p.f.SetReadDeadline(time.Now().Add(pipeCheck))
		n, err := p.f.Read(b)
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		select {
		case <-p.done:
			return 0, errors.New("server: the server is stopping")
		default:
		}
		if peerGone(p.c) {
			return 0, errors.New("server: the client went away")
		}
	}
}

// peerGone says whether the other end of c has closed it, without taking
// any of its bytes.
func peerGone(c *net.UnixConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return true
	}
	gone := false
	raw.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case err == nil:
			gone = n == 0 // the end of the stream
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		default:
			gone = true
		}
	})
	return gone
}

// close closes the descriptors never taken.
func (f *fdConn) close() {
	if f == nil {
		return
	}
	for _, fd := range f.fds {
		unix.Close(fd)
	}
	f.fds = nil
}

// sendPipe sends the framePipe byte with p's descriptor on c, which must
// be a Unix socket with nothing buffered for it.
func sendPipe(c net.Conn, p *os.File) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return errors.New("server: a pipe can only be passed over a Unix socket")
	}
	raw, err := p.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	err = raw.Control(func(fd uintptr) {
		_, _, werr = uc.WriteMsgUnix([]byte{0}, unix.UnixRights(int(fd)), nil)
	})
	if err == nil {
		err = werr
	}
	return err
}
