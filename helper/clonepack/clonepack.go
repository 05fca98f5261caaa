// Package clonepack keeps clone packs: finished git packs, with their
// indexes, of everything reachable from a set of tips, so that a clone of a
// store copies (or hard-links) a pack instead of reading, compressing and
// hashing every object again. It is the idea behind git hosts' cached packs
// (JGit's, GitLab's pack-objects cache): objects never change, so a pack of
// the closure of some commits stays right forever; a clone whose wants
// reach all of a pack's tips takes the pack and fetches only what the tips
// lack, as an ordinary fetch whose haves are the tips.
//
// A cache is a directory:
//
//	pack-<sum>.pack   the pack (undeltified, zlib level 1: gitrepo.PackWriter)
//	pack-<sum>.idx    its version 2 index
//	pack-<sum>.tips   the tips, one hex id per line; written last, it makes
//	                  the pack visible to Find
//	tmp_*             packs being built (removed by Clear and by a build
//	                  that fails)
//
// The files hold objects in the clear: an encrypted store keeps no clone
// packs (its opener passes no cache). Whoever may read the store directory
// may read them, as they may read the database. Packs are served only to a
// clone whose wants reach every tip, so a pack never hands out an object
// its reader could not fetch; gc clears the cache, since it holds objects
// of refs that were deleted since.
package clonepack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/helper/gitrepo"
)

// DirName is the cache's directory in a store directory.
const DirName = "clonepacks"

// DefaultKeep is how many packs a cache keeps: a store's tips move with
// every push, and a few packs let clones of recent tips (an agent fleet
// cloning a base, then the next base) all hit.
const DefaultKeep = 3

// Cache is a directory of clone packs. Safe for concurrent use by the
// goroutines of one process; several processes may share a directory
// (every file appears by rename, the tips file last).
type Cache struct {
	dir  string
	keep int

	mu     sync.Mutex
	builds map[string]*build // in progress, by tips key
}

type build struct {
	done chan struct{}
	pack *Pack
	err  error
}

// Open returns the cache in dir (made on first build), keeping at most keep
// packs (0: DefaultKeep).
func Open(dir string, keep int) *Cache {
	if keep <= 0 {
		keep = DefaultKeep
	}
	return &Cache{dir: dir, keep: keep, builds: map[string]*build{}}
}

// Dir is the cache's directory.
func (c *Cache) Dir() string { return c.dir }

// Pack is one clone pack of a cache.
type Pack struct {
	// Name is the pack's checksum, hex: its files are pack-<Name>.*.
	Name string
	// Tips are the ids whose closure the pack holds.
	Tips []gitobj.OID
	// Objects is the number of objects in the pack.
	Objects int
	dir     string
}

// PackPath and IndexPath are the pack's files.
func (p *Pack) PackPath() string  { return filepath.Join(p.dir, "pack-"+p.Name+".pack") }
func (p *Pack) IndexPath() string { return filepath.Join(p.dir, "pack-"+p.Name+".idx") }
func (p *Pack) tipsPath() string  { return filepath.Join(p.dir, "pack-"+p.Name+".tips") }

// Find returns the most recently used pack for which covered(tips) says
// yes, or nil, and marks it used (eviction takes the least recently used).
// A pack whose files are unreadable is skipped.
func (c *Cache) Find(covered func(tips []gitobj.OID) (bool, error)) (*Pack, error) {
	packs, err := c.list()
	if err != nil {
		return nil, err
	}
	for _, p := range packs {
		ok, err := covered(p.Tips)
		if err != nil {
			return nil, err
		}
		if ok {
			now := time.Now()
			os.Chtimes(p.tipsPath(), now, now) // best effort: only the order of eviction
			return p, nil
		}
	}
	return nil, nil
}

// list reads the cache's packs, most recently used (or made) first.
func (c *Cache) list() ([]*Pack, error) {
	names, err := filepath.Glob(filepath.Join(c.dir, "pack-*.tips"))
	if err != nil {
		return nil, err
	}
	type aged struct {
		p    *Pack
		mod  int64
		name string
	}
	var all []aged
	for _, tp := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(tp), "pack-"), ".tips")
		p := &Pack{Name: name, dir: c.dir}
		fi, err := os.Stat(tp)
		if err != nil {
			continue // removed by a concurrent eviction
		}
		if p.Tips, err = readTips(tp); err != nil {
			continue
		}
		if _, err := os.Stat(p.IndexPath()); err != nil {
			continue
		}
		all = append(all, aged{p, fi.ModTime().UnixNano(), name})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].mod != all[j].mod {
			return all[i].mod > all[j].mod
		}
		return all[i].name < all[j].name
	})
	out := make([]*Pack, len(all))
	for i, a := range all {
		out[i] = a.p
	}
	return out, nil
}

func readTips(path string) ([]gitobj.OID, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseTips(path, string(b))
}

// parseTips reads a tips file's text (one hex id per line).
func parseTips(path, text string) ([]gitobj.OID, error) {
	var tips []gitobj.OID
	for _, line := range strings.Fields(text) {
		id, err := gitobj.ParseOID(line)
		if err != nil {
			return nil, fmt.Errorf("clonepack: %s: %w", path, err)
		}
		tips = append(tips, id)
	}
	if len(tips) == 0 {
		return nil, fmt.Errorf("clonepack: %s: no tips", path)
	}
	return tips, nil
}

// tipsKey names a set of tips, whatever their order.
func tipsKey(tips []gitobj.OID) string {
	s := make([]string, len(tips))
	for i, t := range tips {
		s[i] = t.String()
	}
	slices.Sort(s)
	return strings.Join(slices.Compact(s), "\n") + "\n"
}

// Build makes the pack of the closure of tips: write must hand every object
// reachable from tips to the sink, once each (helper.Remote.Fetch with no
// haves). Concurrent builds of the same tips share one. The new pack
// becomes the newest; the oldest beyond the cache's limit are removed.
func (c *Cache) Build(ctx context.Context, tips []gitobj.OID, write func(helper.ObjectSink) error) (*Pack, error) {
	key := tipsKey(tips)
	c.mu.Lock()
	if b := c.builds[key]; b != nil {
		c.mu.Unlock()
		select {
		case <-b.done:
			return b.pack, b.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	b := &build{done: make(chan struct{})}
	c.builds[key] = b
	c.mu.Unlock()
	b.pack, b.err = c.build(key, write)
	c.mu.Lock()
	delete(c.builds, key)
	c.mu.Unlock()
	close(b.done)
	return b.pack, b.err
}

func (c *Cache) build(key string, write func(helper.ObjectSink) error) (*Pack, error) {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, fmt.Errorf("clonepack: %w", err)
	}
	// The writer checks every id with the plain SHA-1 (the store verified
	// the objects) and, like git for a cache it can rebuild, does not sync.
	pw, err := gitrepo.NewPackWriter(c.dir, gitobj.SHA1, gitrepo.PackOptions{TrustedSource: true, KeepData: true, NoSync: true, NoKeep: true})
	if err != nil {
		return nil, fmt.Errorf("clonepack: %w", err)
	}
	if err := write(pw); err != nil {
		pw.Abort()
		return nil, err
	}
	pf, err := pw.Finish()
	if err != nil {
		return nil, fmt.Errorf("clonepack: %w", err)
	}
	if pf.Pack == "" {
		return nil, errors.New("clonepack: no objects to pack")
	}
	p := &Pack{Name: pf.Checksum, Objects: pf.Objects, dir: c.dir}
	tmp, err := os.CreateTemp(c.dir, "tmp_tips_")
	if err != nil {
		return nil, fmt.Errorf("clonepack: %w", err)
	}
	_, err = tmp.WriteString(key)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p.tipsPath())
	}
	if err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("clonepack: %w", err)
	}
	if p.Tips, err = parseTips(p.tipsPath(), key); err != nil {
		return nil, err
	}
	c.evict()
	return p, nil
}

// evict removes the oldest packs beyond the limit.
func (c *Cache) evict() {
	packs, err := c.list()
	if err != nil {
		return
	}
	for _, p := range packs[min(c.keep, len(packs)):] {
		p.remove()
	}
}

// remove deletes the tips file first, so that Find stops offering the pack
// before its files go. A clone already installing it keeps its open files.
func (p *Pack) remove() {
	os.Remove(p.tipsPath())
	os.Remove(p.IndexPath())
	os.Remove(p.PackPath())
}

// Clear removes every pack and leftover (gc: the packs may hold objects of
// deleted refs).
func (c *Cache) Clear() error {
	entries, err := os.ReadDir(c.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clonepack: %w", err)
	}
	// Tips files first, as in remove.
	slices.SortStableFunc(entries, func(a, b os.DirEntry) int {
		at, bt := strings.HasSuffix(a.Name(), ".tips"), strings.HasSuffix(b.Name(), ".tips")
		switch {
		case at && !bt:
			return -1
		case bt && !at:
			return 1
		}
		return 0
	})
	for _, e := range entries {
		if err := os.Remove(filepath.Join(c.dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("clonepack: %w", err)
		}
	}
	return nil
}

// Open opens the pack's two files for reading (to stream them); the caller
// closes both.
func (p *Pack) Open() (pack, idx *os.File, err error) {
	if pack, err = os.Open(p.PackPath()); err != nil {
		return nil, nil, fmt.Errorf("clonepack: %w", err)
	}
	if idx, err = os.Open(p.IndexPath()); err != nil {
		pack.Close()
		return nil, nil, fmt.Errorf("clonepack: %w", err)
	}
	return pack, idx, nil
}

// Install puts the pack into a repository's pack directory (objects/pack)
// as pack-<Name>.pack and .idx: hard links where the directory is on the
// same file system, else copies, the index last so that git never sees the
// pack without it, each synced to disk as git syncs the packs it receives.
// A pack already there is left as it is.
func (p *Pack) Install(packDir string) error {
	pack, idx, err := p.Open()
	if err != nil {
		return err
	}
	defer pack.Close()
	defer idx.Close()
	return InstallFrom(packDir, p.Name, pack, idx, func(src, dst string) error {
		return os.Link(filepath.Join(p.dir, filepath.Base(src)), dst)
	})
}

// Install installs the cache's pack named name (as Pack.Install) if its
// files have the sizes the server that named it gave (pack, index): a
// client that reaches the cache directory links the files instead of
// having them streamed.
func (c *Cache) Install(name string, sizes [2]uint64, packDir string) error {
	if !validName(name) {
		return fmt.Errorf("clonepack: bad pack name %q", name)
	}
	p := &Pack{Name: name, dir: c.dir}
	for i, path := range []string{p.PackPath(), p.IndexPath()} {
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("clonepack: %w", err)
		}
		if uint64(fi.Size()) != sizes[i] {
			return fmt.Errorf("clonepack: %s has %d bytes, not %d", path, fi.Size(), sizes[i])
		}
	}
	return p.Install(packDir)
}

// InstallFrom writes pack-<name>.pack and .idx into packDir from two
// readers (a stream from a server, or open files). link, if set, is tried
// first for each file (src is the file's name in the cache, dst its final
// path); where it fails the reader is copied.
func InstallFrom(packDir, name string, pack, idx io.Reader, link func(src, dst string) error) error {
	if !validName(name) {
		return fmt.Errorf("clonepack: bad pack name %q", name)
	}
	if err := os.MkdirAll(packDir, 0o755); err != nil {
		return fmt.Errorf("clonepack: %w", err)
	}
	for _, f := range []struct {
		ext string
		r   io.Reader
	}{{".pack", pack}, {".idx", idx}} {
		base := "pack-" + name + f.ext
		dst := filepath.Join(packDir, base)
		if _, err := os.Stat(dst); err == nil {
			if _, err := io.Copy(io.Discard, f.r); err != nil {
				return fmt.Errorf("clonepack: %w", err)
			}
			continue
		}
		if link != nil && link(base, dst) == nil {
			// The cache writes without syncing; the clone's refs will
			// name these objects, so they are made durable now (cheap
			// when an earlier install did it).
			if err := syncFile(dst); err != nil {
				return err
			}
			continue
		}
		if err := copyInto(packDir, dst, f.r); err != nil {
			if f.ext == ".idx" {
				// A pack without its index is garbage to git.
				os.Remove(filepath.Join(packDir, "pack-"+name+".pack"))
			}
			return err
		}
	}
	return nil
}

// copyInto writes r to a temporary file in dir and renames it to dst.
func copyInto(dir, dst string, r io.Reader) error {
	tmp, err := os.CreateTemp(dir, "tmp_pack_")
	if err != nil {
		return fmt.Errorf("clonepack: %w", err)
	}
	bw := bufio.NewWriterSize(tmp, 1<<20)
	_, err = io.Copy(bw, r)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Chmod(0o444)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("clonepack: %w", err)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("clonepack: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("clonepack: sync %s: %w", path, err)
	}
	return nil
}

// validName: a pack name is a hex checksum (SHA-1 or SHA-256), nothing a
// server could use to reach outside the pack directory.
func validName(name string) bool {
	if len(name) != 40 && len(name) != 64 {
		return false
	}
	for _, c := range name {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
