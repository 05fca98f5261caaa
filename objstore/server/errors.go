package server

import (
	"errors"
	"io/fs"

	"github.com/helios-vcs/helios/objstore"
)

// ErrDenied is wrapped by requests the Authorizer refused.
var ErrDenied = errors.New("server: permission denied")

// ErrVersion is returned when the server runs another build than the
// client; the server then shuts down so that a current one can start.
var ErrVersion = errors.New("server: server runs another build")

// ErrTooLarge is returned, without sending anything, for a request bigger
// than a frame (16 MiB): a make-state or import-state of that much content
// has to be made without the server.
var ErrTooLarge = errors.New("server: request too large")

// errorCodes carry the sentinels callers test with errors.Is across the
// wire. Code 0 is any other error: its text survives, its type does not.
var errorCodes = []error{
	1:  objstore.ErrNotFound,
	2:  objstore.ErrRefConflict, // with the *RefConflictError's fields
	3:  objstore.ErrLocalChanges,
	4:  objstore.ErrNothingToCommit,
	5:  objstore.ErrBadPath,
	6:  objstore.ErrBadRefName,
	7:  objstore.ErrBadID,
	8:  objstore.ErrCorrupt,
	9:  objstore.ErrClosed,
	10: ErrDenied,
	11: objstore.ErrBadState,
	12: objstore.ErrBadTree,
	13: objstore.ErrBadBlob,
	14: objstore.ErrNotAStore,
	15: ErrVersion,
	16: fs.ErrNotExist,
	17: ErrProtocol,
}

const codeRefConflict = 2

// RemoteError is an error the server returned: its text as the server
// formatted it, unwrapping to the sentinel (or *objstore.RefConflictError)
// the server's error wrapped.
type RemoteError struct {
	Msg string
	Err error // nil when the server's error wrapped no known sentinel
}

func (e *RemoteError) Error() string { return e.Msg }
func (e *RemoteError) Unwrap() error { return e.Err }

func encodeError(e *enc, err error) {
	var conflict *objstore.RefConflictError
	code := 0
	if errors.As(err, &conflict) {
		code = codeRefConflict
	} else {
		for c, s := range errorCodes {
			if s != nil && errors.Is(err, s) {
				code = c
				break
			}
		}
	}
	e.byte1(byte(code))
	e.str(err.Error())
	if code == codeRefConflict {
		e.str(conflict.Name)
		e.id(conflict.Want)
		e.id(conflict.Got)
	}
}

func decodeError(d *dec) error {
	code := int(d.byte1())
	re := &RemoteError{Msg: d.str()}
	switch {
	case code == codeRefConflict:
		re.Err = &objstore.RefConflictError{Name: d.str(), Want: d.id(), Got: d.id()}
	case code > 0 && code < len(errorCodes):
		re.Err = errorCodes[code]
	}
	if err := d.done(); err != nil {
		return err
	}
	return re
}

// ErrNoHugePages says the system gives no transparent huge pages
// (ReserveHugeHeap).
var ErrNoHugePages = errors.New("server: no transparent huge pages on this system")
