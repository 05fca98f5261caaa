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
// says so in its query, sends a framePipe frame and one byte that carries
// the pipe's read end (SCM_RIGHTS), and then the ids git rev-list lists.
// The server sends back each id it lacks as soon as it has looked it up;
// the client hands them to git cat-file --batch-command, which writes the
// objects into the pipe (gitrepo.BatchPipe) while rev-list still lists
// (streamedObjects.streamPiped). The objects then go from git straight
// into the server. The server checks them as it checks streamed ones, and
// each must be the next one it asked for; what it reads from the pipe is
// as untrusted as what it reads from the socket.

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

// takePipe returns the descriptor that came with the request as a
// pollable file (its reads end when it is closed), provided it is one
// pipe. Descriptors a request does not take are closed when it ends.
func (f *fdConn) takePipe() (*os.File, error) {
	if f == nil || len(f.fds) == 0 {
		return nil, fmt.Errorf("%w: a pipe was announced, but none came with it", ErrProtocol)
	}
	if len(f.fds) > 1 {
		f.close()
		return nil, fmt.Errorf("%w: more than one descriptor came with a pipe", ErrProtocol)
	}
	fd := f.fds[0]
	f.fds = nil
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
// client is still there.
const pipeCheck = time.Second

// errClientGone ends the read of a pipe whose client closed its connection.
var errClientGone = errors.New("server: the client went away")

// pipeReader reads a pipe a client passed until the client's connection
// closes (a hostile client could keep the pipe open and go): then within
// pipeCheck. A server that stops waits for it, as for a stream.
type pipeReader struct {
	f *os.File
	c *net.UnixConn
}

func (p *pipeReader) Read(b []byte) (int, error) {
	for {
		p.f.SetReadDeadline(time.Now().Add(pipeCheck))
		n, err := p.f.Read(b)
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		if peerGone(p.c) {
			return 0, errClientGone
		}
	}
}

// peerGone says whether the other end of c has closed it, without reading
// (bytes it left unread do not hide that it is gone).
func peerGone(c *net.UnixConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return true
	}
	gone := false
	raw.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		n, err := unix.Poll(fds, 0)
		gone = err == nil && n > 0 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0
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
