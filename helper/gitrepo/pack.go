package gitrepo

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/zlib"

	"github.com/helios-vcs/helios/helper/gitobj"
)

// PackOptions tune a PackWriter.
type PackOptions struct {
	// Level is the zlib level of the entries; 0 means zlib.BestSpeed, since
	// a fetch is waiting on it (git's default is level 6).
	Level int
	// NoSync skips fsync of the pack and index. git 2.36+ fsyncs packs by
	// default (core.fsync), so the default here does too.
	NoSync bool
	// KeepMessage is the content of the .keep file.
	KeepMessage string
	// NoKeep writes no .keep file (a pack outside a repository, or one
	// that no gc can race with).
	NoKeep bool
	// Workers compress and hash entries in parallel (0: GOMAXPROCS).
	Workers int
	// TrustedSource says the objects come from a store that already
	// verified them (the helios store checks every value against its BLAKE3
	// ID, and every git id against sha1cd when it was pushed): ids are then
	// checked with the plain, hardware-accelerated SHA-1 instead of the
	// collision-detecting one. A mismatch still fails the pack.
	TrustedSource bool
	// KeepData makes WriteObject keep obj.Data until the pack is finished
	// instead of copying it: the caller hands the buffer over and does not
	// modify it afterwards. It saves a copy of every byte of a clone.
	KeepData bool
}

// PackFiles names the files a finished pack consists of.
type PackFiles struct {
	Pack, Index, Keep string
	Checksum          string // the pack's trailing checksum, hex; names the files
	Objects           int
}

// PackWriter writes one pack of undeltified objects plus its version 2
// index and a .keep file into a pack directory, for objects that come from
// somewhere other than git (the store). It recomputes every object's id
// with the collision-detecting hash and refuses objects whose id does not
// match. Duplicate objects are written once. Not safe for concurrent use.
//
// Files appear in git's order: tmp_pack_* and tmp_idx_* while writing;
// on Finish the .keep first, then the .pack, the .idx last, so git never
// sees a pack without its index and a concurrent gc never deletes it.
type PackWriter struct {
	format gitobj.Format
	dir    string
	opts   PackOptions

	tmp     *os.File
	bw      *bufio.Writer
	cw      countingWriter
	entries []IndexEntry
	seen    map[gitobj.OID]struct{}
	done    bool

	// The pipeline: WriteObject hands entries to workers that hash and
	// compress them; the writer goroutine puts them in the file in the
	// order they were handed in. err is the first failure of any stage.
	jobs    chan *packJob
	ordered chan *packJob
	wg      sync.WaitGroup
	written chan struct{}
	errMu   sync.Mutex
	err     error
	zpool   sync.Pool // *zlib.Writer at opts.Level
}

// packJob is one entry on its way through the pipeline.
type packJob struct {
	obj   gitobj.Object
	id    gitobj.OID
	entry []byte // header + zlib stream
	err   error
	ready chan struct{}
}

// countingWriter tracks the offset and CRC-32 of what passes through it.
type countingWriter struct {
	w   io.Writer
	n   uint64
	crc uint32
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += uint64(n)
	c.crc = crc32.Update(c.crc, crc32.IEEETable, p[:n])
	return n, err
}

// NewPackWriter starts a pack in the repository's objects/pack directory.
func (r *Repo) NewPackWriter(opts PackOptions) (*PackWriter, error) {
	return NewPackWriter(filepath.Join(r.gitDir, "objects", "pack"), r.format, opts)
}

// NewPackWriter starts a pack in dir.
func NewPackWriter(dir string, f gitobj.Format, opts PackOptions) (*PackWriter, error) {
	if opts.Level == 0 {
		opts.Level = zlib.BestSpeed
	}
	if opts.KeepMessage == "" {
		opts.KeepMessage = fmt.Sprintf("helios fetch %d", os.Getpid())
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("gitrepo: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "tmp_pack_")
	if err != nil {
		return nil, fmt.Errorf("gitrepo: %w", err)
	}
	w := &PackWriter{format: f, dir: dir, opts: opts, tmp: tmp, seen: make(map[gitobj.OID]struct{})}
	w.bw = bufio.NewWriterSize(tmp, 1<<20)
	w.cw.w = w.bw
	// The object count is patched in by Finish.
	if _, err := w.cw.Write([]byte{'P', 'A', 'C', 'K', 0, 0, 0, 2, 0, 0, 0, 0}); err != nil {
		w.Abort()
		return nil, fmt.Errorf("gitrepo: %w", err)
	}
	if _, err := zlib.NewWriterLevel(nil, opts.Level); err != nil {
		w.Abort()
		return nil, fmt.Errorf("gitrepo: %w", err)
	}
	w.zpool.New = func() any { z, _ := zlib.NewWriterLevel(nil, opts.Level); return z }
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	w.jobs = make(chan *packJob, 4*workers)
	w.ordered = make(chan *packJob, 64*workers)
	w.written = make(chan struct{})
	for i := 0; i < workers; i++ {
		w.wg.Add(1)
		go w.work()
	}
	go w.write()
	return w, nil
}

func (w *PackWriter) fail(err error) {
	w.errMu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.errMu.Unlock()
}

func (w *PackWriter) failed() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

// work hashes and compresses entries.
func (w *PackWriter) work() {
	defer w.wg.Done()
	for j := range w.jobs {
		j.err = w.encode(j)
		j.obj.Data = nil
		close(j.ready)
	}
}

func (w *PackWriter) encode(j *packJob) error {
	data := j.obj.Data
	if !j.id.Valid() {
		var err error
		if j.id, err = w.hashObject(j.obj); err != nil {
			return err
		}
	} else if got, err := w.hashObject(j.obj); err != nil {
		return err
	} else if got != j.id {
		return fmt.Errorf("gitrepo: object %s hashes to %s", j.id, got)
	}
	// Entry header: type and size, 4 bits then 7 bits per byte.
	size := uint64(len(data))
	buf := bytes.NewBuffer(make([]byte, 0, len(data)/2+64))
	hdr := []byte{byte(j.obj.Type)<<4 | byte(size&0x0f)}
	size >>= 4
	for size > 0 {
		hdr[len(hdr)-1] |= 0x80
		hdr = append(hdr, byte(size&0x7f))
		size >>= 7
	}
	buf.Write(hdr)
	zw := w.zpool.Get().(*zlib.Writer)
	zw.Reset(buf)
	_, err := zw.Write(data)
	if err == nil {
		err = zw.Close()
	}
	w.zpool.Put(zw)
	if err != nil {
		return fmt.Errorf("gitrepo: compress: %w", err)
	}
	j.entry = buf.Bytes()
	return nil
}

func (w *PackWriter) hashObject(obj gitobj.Object) (gitobj.OID, error) {
	if w.opts.TrustedSource && w.format == gitobj.SHA1 {
		h := sha1.New()
		h.Write(gitobj.AppendHeader(nil, obj.Type, len(obj.Data)))
		h.Write(obj.Data)
		return gitobj.OIDFromBytes(h.Sum(nil))
	}
	id, err := gitobj.HashObject(w.format, obj.Type, obj.Data)
	if err != nil {
		return gitobj.OID{}, fmt.Errorf("gitrepo: %w", err)
	}
	return id, nil
}

// write puts finished entries into the pack in order.
func (w *PackWriter) write() {
	defer close(w.written)
	for j := range w.ordered {
		<-j.ready
		if j.err != nil {
			w.fail(j.err)
			continue
		}
		if w.failed() != nil {
			continue
		}
		e := IndexEntry{OID: j.id, Offset: w.cw.n}
		w.cw.crc = 0
		if _, err := w.cw.Write(j.entry); err != nil {
			w.fail(fmt.Errorf("gitrepo: write pack: %w", err))
			continue
		}
		e.CRC32 = w.cw.crc
		w.entries = append(w.entries, e)
	}
}

// drain stops the pipeline and waits for it.
func (w *PackWriter) drain() error {
	if w.jobs != nil {
		close(w.jobs)
		close(w.ordered)
		w.wg.Wait()
		<-w.written
		w.jobs = nil
	}
	return w.failed()
}

// Len is the number of distinct objects written so far.
func (w *PackWriter) Len() int { return len(w.seen) }

// WriteObject appends one object. obj.OID may be left unset, in which case
// the computed id is used. obj.Data is copied, not retained, unless
// PackOptions.KeepData says the caller hands it over. Objects are
// hashed and compressed in the background: a wrong id or a write error is
// returned by a later WriteObject or, at the latest, by Finish.
func (w *PackWriter) WriteObject(obj gitobj.Object) error {
	if w.done || w.jobs == nil {
		return errors.New("gitrepo: pack writer is finished")
	}
	if err := w.failed(); err != nil {
		return err
	}
	id := obj.OID
	if !id.Valid() {
		// Without an id there is nothing to deduplicate by: hash now.
		var err error
		if id, err = w.hashObject(obj); err != nil {
			return err
		}
	}
	if _, dup := w.seen[id]; dup {
		return nil
	}
	w.seen[id] = struct{}{}
	if !w.opts.KeepData {
		// The caller may reuse obj.Data once we return; the workers need it.
		obj.Data = bytes.Clone(obj.Data)
	}
	j := &packJob{obj: obj, id: obj.OID, ready: make(chan struct{})}
	w.ordered <- j
	w.jobs <- j
	return nil
}

// Abort removes the temporary files. Safe to call after Finish.
func (w *PackWriter) Abort() {
	if w.done {
		return
	}
	w.drain()
	w.done = true
	_ = w.tmp.Close()
	_ = os.Remove(w.tmp.Name())
}

func (w *PackWriter) newHash() hash.Hash {
	if w.format == gitobj.SHA256 {
		return sha256.New()
	}
	// The trailer is an integrity checksum over bytes we just wrote, not
	// an object id, so the fast hash is enough here.
	return sha1.New()
}

// Finish completes the pack, writes the index and the .keep, and moves
// them into place. With no objects written it removes the temporary file
// and returns zero PackFiles.
func (w *PackWriter) Finish() (PackFiles, error) {
	if w.done {
		return PackFiles{}, errors.New("gitrepo: pack writer is finished")
	}
	if err := w.drain(); err != nil {
		w.Abort()
		return PackFiles{}, err
	}
	if len(w.entries) == 0 {
		w.Abort()
		return PackFiles{}, nil
	}
	pf, err := w.finish()
	if err != nil {
		w.Abort()
		return PackFiles{}, err
	}
	w.done = true
	return pf, nil
}

func (w *PackWriter) finish() (PackFiles, error) {
	if err := w.bw.Flush(); err != nil {
		return PackFiles{}, fmt.Errorf("gitrepo: write pack: %w", err)
	}
	var count [4]byte
	binary.BigEndian.PutUint32(count[:], uint32(len(w.entries)))
	if _, err := w.tmp.WriteAt(count[:], 8); err != nil {
		return PackFiles{}, fmt.Errorf("gitrepo: write pack: %w", err)
	}
	// The header changed, so hash the file once more from the start.
	h := w.newHash()
	if _, err := w.tmp.Seek(0, io.SeekStart); err != nil {
		return PackFiles{}, fmt.Errorf("gitrepo: write pack: %w", err)
	}
	if _, err := io.Copy(h, bufio.NewReaderSize(w.tmp, 1<<20)); err != nil {
		return PackFiles{}, fmt.Errorf("gitrepo: hash pack: %w", err)
	}
	sum := h.Sum(nil)
	if _, err := w.tmp.Write(sum); err != nil {
		return PackFiles{}, fmt.Errorf("gitrepo: write pack: %w", err)
	}
	if !w.opts.NoSync {
		if err := w.tmp.Sync(); err != nil {
			return PackFiles{}, fmt.Errorf("gitrepo: sync pack: %w", err)
		}
	}
	if err := w.tmp.Close(); err != nil {
		return PackFiles{}, fmt.Errorf("gitrepo: write pack: %w", err)
	}

	idx, err := os.CreateTemp(w.dir, "tmp_idx_")
	if err != nil {
		return PackFiles{}, fmt.Errorf("gitrepo: %w", err)
	}
	idxName := idx.Name()
	defer os.Remove(idxName) // no-op after the rename
	if err := WriteIndex(idx, w.format, w.entries, sum); err != nil {
		idx.Close()
		return PackFiles{}, err
	}
	if !w.opts.NoSync {
		if err := idx.Sync(); err != nil {
			idx.Close()
			return PackFiles{}, fmt.Errorf("gitrepo: sync index: %w", err)
		}
	}
	if err := idx.Close(); err != nil {
		return PackFiles{}, fmt.Errorf("gitrepo: write index: %w", err)
	}

	name := hex.EncodeToString(sum)
	base := filepath.Join(w.dir, "pack-"+name)
	pf := PackFiles{Pack: base + ".pack", Index: base + ".idx", Checksum: name, Objects: len(w.entries)}
	if !w.opts.NoKeep {
		pf.Keep = base + ".keep"
		if err := os.WriteFile(pf.Keep, []byte(w.opts.KeepMessage+"\n"), 0o644); err != nil {
			return PackFiles{}, fmt.Errorf("gitrepo: write keep: %w", err)
		}
	}
	// git's packs and indexes are read-only.
	for _, f := range []string{w.tmp.Name(), idxName} {
		if err := os.Chmod(f, 0o444); err != nil {
			removeKeep(pf)
			return PackFiles{}, fmt.Errorf("gitrepo: %w", err)
		}
	}
	if err := os.Rename(w.tmp.Name(), pf.Pack); err != nil {
		removeKeep(pf)
		return PackFiles{}, fmt.Errorf("gitrepo: %w", err)
	}
	if err := os.Rename(idxName, pf.Index); err != nil {
		removeKeep(pf)
		return PackFiles{}, fmt.Errorf("gitrepo: %w", err)
	}
	return pf, nil
}

func removeKeep(pf PackFiles) {
	if pf.Keep != "" {
		os.Remove(pf.Keep)
	}
}

// IndexEntry is one object of a pack index.
type IndexEntry struct {
	OID    gitobj.OID
	Offset uint64
	CRC32  uint32
}

// WriteIndex writes a version 2 pack index (gitformat-pack(5)) for entries
// (in any order; they are sorted in place) of the pack whose trailing
// checksum is packSum. Offsets of 2 GiB and more go to the 64-bit table.
func WriteIndex(w io.Writer, f gitobj.Format, entries []IndexEntry, packSum []byte) error {
	slices.SortFunc(entries, func(a, b IndexEntry) int { return a.OID.Compare(b.OID) })
	var h hash.Hash = sha1.New()
	if f == gitobj.SHA256 {
		h = sha256.New()
	}
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 1<<20)
	var b4 [4]byte
	put32 := func(v uint32) {
		binary.BigEndian.PutUint32(b4[:], v)
		bw.Write(b4[:])
	}
	bw.Write([]byte{0xff, 't', 'O', 'c'})
	put32(2)
	var fanout [256]uint32
	for i, e := range entries {
		if i > 0 && entries[i-1].OID == e.OID {
			return fmt.Errorf("gitrepo: duplicate object %s in index", e.OID)
		}
		fanout[e.OID.Bytes()[0]]++
	}
	var total uint32
	for i := range fanout {
		total += fanout[i]
		put32(total)
	}
	for _, e := range entries {
		bw.Write(e.OID.Bytes())
	}
	for _, e := range entries {
		put32(e.CRC32)
	}
	var large []uint64
	for _, e := range entries {
		if e.Offset < 1<<31 {
			put32(uint32(e.Offset))
			continue
		}
		put32(0x80000000 | uint32(len(large)))
		large = append(large, e.Offset)
	}
	var b8 [8]byte
	for _, off := range large {
		binary.BigEndian.PutUint64(b8[:], off)
		bw.Write(b8[:])
	}
	bw.Write(packSum)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("gitrepo: write index: %w", err)
	}
	if _, err := w.Write(h.Sum(nil)); err != nil {
		return fmt.Errorf("gitrepo: write index: %w", err)
	}
	return nil
}
