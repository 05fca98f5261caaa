package audit

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Report is what Verify found. The log is sound when Problems is empty.
type Report struct {
	Records    int64      // records found
	Size       int64      // the size key
	Checkpoint Checkpoint // the latest checkpoint, if its signature verified
	Root       tlog.Hash  // the root recomputed from the records
	Problems   []string
}

// OK reports whether the log verified.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) problem(format string, a ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, a...))
}

// Verify checks the whole log in src against the verifier key v: records
// are numbered 0..n-1 without gaps and each is in canonical form; every
// stored hash equals its recomputation from the records (so an edited,
// dropped, inserted or reordered record is found); the size key is n; and
// the latest checkpoint is signed by v, names v's origin, has size n and the
// recomputed root. It returns an error only when src cannot be read.
//
// Verify keeps the recomputed hashes in memory: about 64 bytes per record.
func Verify(src Source, v note.Verifier) (*Report, error) {
	rep := &Report{}
	var hashes []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= int64(len(hashes)) {
				return nil, fmt.Errorf("audit: hash %d not computed", x)
			}
			out[i] = hashes[x]
		}
		return out, nil
	})
	var n int64
	err := src.Scan(leafPrefix, func(k, val []byte) error {
		if len(k) != len(leafPrefix)+8 {
			rep.problem("malformed record key %x", k)
			return nil
		}
		i := int64(binary.BigEndian.Uint64(k[len(leafPrefix):]))
		if i != n {
			rep.problem("record %d missing (next stored record is %d)", n, i)
			return errStopScan
		}
		if _, err := DecodeRecord(val); err != nil {
			rep.problem("record %d: %v", i, err)
		}
		hs, err := tlog.StoredHashes(n, val, reader)
		if err != nil {
			return err
		}
		hashes = append(hashes, hs...)
		n++
		return nil
	})
	if err != nil && err != errStopScan {
		return nil, fmt.Errorf("audit: scan records: %w", err)
	}
	rep.Records = n
	if n > 0 {
		if rep.Root, err = tlog.TreeHash(n, reader); err != nil {
			return nil, err
		}
	}
	// Stored hashes must be exactly the recomputed ones.
	var j int64
	err = src.Scan(hashPrefix, func(k, val []byte) error {
		if len(k) != len(hashPrefix)+8 {
			rep.problem("malformed hash key %x", k)
			return nil
		}
		idx := int64(binary.BigEndian.Uint64(k[len(hashPrefix):]))
		switch {
		case idx >= int64(len(hashes)):
			rep.problem("stored hash %d has no record behind it", idx)
			return errStopScan
		case idx != j:
			rep.problem("stored hash %d missing", j)
			return errStopScan
		case !bytes.Equal(val, hashes[idx][:]):
			lvl, at := tlog.SplitStoredHashIndex(idx)
			rep.problem("stored hash %d (level %d, node %d) does not match the records", idx, lvl, at)
		}
		j++
		return nil
	})
	if err != nil && err != errStopScan {
		return nil, fmt.Errorf("audit: scan hashes: %w", err)
	}
	if err == nil && j != int64(len(hashes)) {
		rep.problem("%d stored hashes, want %d", j, len(hashes))
	}
	l := &Log{src: src}
	if rep.Size, err = l.storedSize(); err != nil {
		rep.problem("%v", err)
	} else if rep.Size != n {
		rep.problem("size key says %d records, found %d", rep.Size, n)
	}
	msg, ok, err := src.Lookup(keyCheckpoint)
	switch {
	case err != nil:
		return nil, fmt.Errorf("audit: read checkpoint: %w", err)
	case !ok && n > 0:
		rep.problem("no checkpoint for %d records", n)
	case ok:
		cp, err := ParseCheckpoint(msg, v)
		if err != nil {
			rep.problem("checkpoint: %v", err)
			break
		}
		rep.Checkpoint = cp
		if cp.Size != n {
			rep.problem("checkpoint covers %d records, found %d", cp.Size, n)
		} else if cp.Root != rep.Root {
			rep.problem("checkpoint root %v does not match the records' root %v", cp.Root, rep.Root)
		}
	}
	return rep, nil
}

type stopScan struct{}

func (stopScan) Error() string { return "stop" }

var errStopScan error = stopScan{}
