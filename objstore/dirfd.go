package objstore

import (
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Bulk worktree work (materialize, the snapshot scan) walks directories by
// file descriptor: each directory is opened relative to its parent with
// O_NOFOLLOW|O_DIRECTORY, and each file is created, stat'ed or read
// relative to its directory's descriptor, with O_NOFOLLOW. A symlink is
// never followed, and a directory swapped for a symlink mid-walk fails the
// open instead of leading outside, at one system call per file instead of
// one per path component.

const (
	dirFlags  = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	readFlags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK
)

func openDirAt(parent int, name string) (int, error) {
	fd, err := unix.Openat(parent, name, dirFlags, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "openat", Path: name, Err: err}
	}
	return fd, nil
}

// statFromUnix converts a stat to a stat cache entry; ok is false for
// anything but regular files and symlinks.
func statFromUnix(st *unix.Stat_t) (statEntry, Mode, bool) {
	var m Mode
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		m = ModeFile
		if st.Mode&0o111 != 0 {
			m = ModeExec
		}
	case unix.S_IFLNK:
		m = ModeSymlink
	default:
		return statEntry{}, 0, false
	}
	return statEntry{
		size:  st.Size,
		mtime: st.Mtim.Sec*1e9 + st.Mtim.Nsec,
		ctime: st.Ctim.Sec*1e9 + st.Ctim.Nsec,
		ino:   st.Ino,
		mode:  m,
	}, m, true
}

// readAt reads the file or symlink name in directory dirfd.
func readAt(dirfd int, name string, mode Mode, size int64) ([]byte, error) {
	if mode == ModeSymlink {
		buf := make([]byte, max(size, 64)+1)
		for {
			n, err := unix.Readlinkat(dirfd, name, buf)
			if err != nil {
				return nil, &fs.PathError{Op: "readlinkat", Path: name, Err: err}
			}
			if n < len(buf) {
				return buf[:n], nil
			}
			buf = make([]byte, 2*len(buf))
		}
	}
	fd, err := unix.Openat(dirfd, name, readFlags, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "openat", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("objstore: %q changed type while read", name)
	}
	buf := make([]byte, st.Size)
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		if m == 0 || err != nil {
			break
		}
		n += m
	}
	return buf[:n], nil
}

// writeAt creates the file or symlink e (content given) in dirfd and
// returns its stat cache entry.
func writeAt(dirfd int, name string, e Entry, content []byte) (statEntry, error) {
	var st unix.Stat_t
	if e.Mode == ModeSymlink {
		if err := unix.Symlinkat(string(content), dirfd, name); err != nil {
			return statEntry{}, &fs.PathError{Op: "symlinkat", Path: name, Err: err}
		}
		if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return statEntry{}, err
		}
	} else {
		perm := uint32(0o666)
		if e.Mode == ModeExec {
			perm = 0o777
		}
		fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
		if err != nil {
			return statEntry{}, &fs.PathError{Op: "openat", Path: name, Err: err}
		}
		for n := 0; n < len(content); {
			m, err := unix.Write(fd, content[n:])
			if err != nil {
				unix.Close(fd)
				return statEntry{}, &fs.PathError{Op: "write", Path: name, Err: err}
			}
			n += m
		}
		if e.Mode == ModeExec {
			// The umask may have cleared bits; exec must survive it.
			if err := unix.Fchmod(fd, 0o755); err != nil {
				unix.Close(fd)
				return statEntry{}, err
			}
		}
		err = unix.Fstat(fd, &st)
		if cerr := unix.Close(fd); err == nil {
			err = cerr
		}
		if err != nil {
			return statEntry{}, err
		}
	}
	se, _, _ := statFromUnix(&st)
	se.id = e.ID
	return se, nil
}

// materializeDir writes tree id into the directory open as dirfd.
func (s *Store) materializeDir(dirfd int, id ID, prefix string, b *Batch, k wkey, scan time.Time, ms *MaterializeStats) error {
	t, err := s.Tree(id)
	if err != nil {
		return err
	}
	for _, e := range t.Entries {
		p := join(prefix, e.Name)
		switch {
		case e.Mode.IsDir():
			ms.Dirs++
			if err := unix.Mkdirat(dirfd, e.Name, 0o777); err != nil {
				return &fs.PathError{Op: "mkdirat", Path: p, Err: err}
			}
			fd, err := openDirAt(dirfd, e.Name)
			if err != nil {
				return err
			}
			err = s.materializeDir(fd, e.ID, p, b, k, scan, ms)
			unix.Close(fd)
			if err != nil {
				return err
			}
		case e.Mode == ModeGitlink:
			ms.Dirs++ // git checks submodules out as empty directories
			if err := unix.Mkdirat(dirfd, e.Name, 0o777); err != nil {
				return &fs.PathError{Op: "mkdirat", Path: p, Err: err}
			}
		default:
			content, err := s.Blob(e.ID)
			if err != nil {
				return err
			}
			se, err := writeAt(dirfd, e.Name, e, content)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			se.racy = se.mtime > scan.Add(-racyWindow).UnixNano()
			b.Put(statKey(k, p), se.encode())
			ms.Files++
			ms.Bytes += int64(len(content))
		}
	}
	return nil
}

// scanFunc is called for each regular file and symlink found by scanDir,
// with its directory's descriptor (valid only during the call).
type scanFunc func(dirfd int, path, name string, st *unix.Stat_t) error

// scanDir walks the directory open as dirfd, skipping ".git" directories
// and what ignore rejects.
func scanDir(dirfd int, prefix string, ignore func(string, bool) bool, fn scanFunc) error {
	// os.File.ReadDir reads names and types with getdents; the stat comes
	// from fstatat on the directory's descriptor.
	dup, err := unix.Dup(dirfd)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(dup), prefix)
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, de := range ents {
		name := de.Name()
		p := join(prefix, name)
		if de.IsDir() {
			if name == ".git" || (ignore != nil && ignore(p, true)) {
				continue
			}
			fd, err := openDirAt(dirfd, name)
			if err != nil {
				return err
			}
			err = scanDir(fd, p, ignore, fn)
			unix.Close(fd)
			if err != nil {
				return err
			}
			continue
		}
		if ignore != nil && ignore(p, false) {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if err == unix.ENOENT {
				continue // deleted since the listing
			}
			return &fs.PathError{Op: "fstatat", Path: p, Err: err}
		}
		if err := fn(dirfd, p, name, &st); err != nil {
			return err
		}
	}
	return nil
}
