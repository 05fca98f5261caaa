// Package fakeremote is a real, small implementation of helper.Remote for
// tests: a map of git objects and refs, in memory (New) or in a directory
// (Open) so that separate git-remote-helios processes share it.
//
// The directory layout is deliberately plain: objects/<hex> holds an
// object as "<type> <size>\0<data>" (git's loose form, uncompressed),
// refs.json the refs and HEAD's target. Pushes take an exclusive flock on
// the "lock" file, reload refs.json, compare-and-swap, write objects and
// then refs.json (via rename), so concurrent pushes from separate
// processes serialize and the loser gets "fetch first".
//
// It is a fake of the store, not the store: no chunking, no dedup beyond
// object ids, no fsync. It checks what the store must check: every object
// id on the way in, and that each new ref value's closure is complete.
package fakeremote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/gitobj"
)

var _ helper.Remote = (*Remote)(nil)

// Remote is an in-memory or directory-backed helper.Remote.
type Remote struct {
	format gitobj.Format
	dir    string // "" for memory only

	mu      sync.Mutex
	objects map[gitobj.OID]gitobj.Object
	refs    map[string]gitobj.OID
	head    string // HEAD's target; "" until the first branch is pushed
}

// New returns an empty in-memory remote.
func New(f gitobj.Format) *Remote {
	return &Remote{format: f, objects: make(map[gitobj.OID]gitobj.Object), refs: make(map[string]gitobj.OID)}
}

// Open opens (creating if needed) a directory-backed SHA-1 remote.
func Open(dir string) (*Remote, error) {
	if dir == "" || strings.HasPrefix(dir, "-") || strings.ContainsAny(dir, "\n\r") {
		return nil, fmt.Errorf("fakeremote: bad store path %q", dir)
	}
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(filepath.Join(dir, "objects"), 0o755); err != nil {
			return nil, fmt.Errorf("fakeremote: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("fakeremote: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("fakeremote: %q is not a directory", dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, "objects"), 0o755); err != nil {
		return nil, fmt.Errorf("fakeremote: %w", err)
	}
	r := New(gitobj.SHA1)
	r.dir = dir
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

type refsFile struct {
	Head string            `json:"head,omitempty"`
	Refs map[string]string `json:"refs"`
}

// load reads refs.json (directory mode).
func (r *Remote) load() error {
	data, err := os.ReadFile(filepath.Join(r.dir, "refs.json"))
	if errors.Is(err, os.ErrNotExist) {
		r.refs, r.head = map[string]gitobj.OID{}, ""
		return nil
	}
	if err != nil {
		return fmt.Errorf("fakeremote: %w", err)
	}
	var rf refsFile
	if err := json.Unmarshal(data, &rf); err != nil {
		return fmt.Errorf("fakeremote: refs.json: %w", err)
	}
	r.refs, r.head = make(map[string]gitobj.OID, len(rf.Refs)), rf.Head
	for name, hex := range rf.Refs {
		id, err := gitobj.ParseOIDFormat(r.format, hex)
		if err != nil {
			return fmt.Errorf("fakeremote: refs.json: %w", err)
		}
		r.refs[name] = id
	}
	return nil
}

func (r *Remote) saveRefs() error {
	rf := refsFile{Head: r.head, Refs: make(map[string]string, len(r.refs))}
	for n, id := range r.refs {
		rf.Refs[n] = id.String()
	}
	data, err := json.MarshalIndent(rf, "", "  ")
	if err != nil {
		return fmt.Errorf("fakeremote: %w", err)
	}
	return writeAtomic(filepath.Join(r.dir, "refs.json"), data)
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "tmp_")
	if err != nil {
		return fmt.Errorf("fakeremote: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("fakeremote: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("fakeremote: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("fakeremote: %w", err)
	}
	return nil
}

// get returns an object; ok is false when absent.
func (r *Remote) get(id gitobj.OID) (gitobj.Object, bool, error) {
	if o, ok := r.objects[id]; ok {
		return o, true, nil
	}
	if r.dir == "" {
		return gitobj.Object{}, false, nil
	}
	data, err := os.ReadFile(filepath.Join(r.dir, "objects", id.String()))
	if errors.Is(err, os.ErrNotExist) {
		return gitobj.Object{}, false, nil
	}
	if err != nil {
		return gitobj.Object{}, false, fmt.Errorf("fakeremote: %w", err)
	}
	nul := bytes.IndexByte(data, 0)
	sp := bytes.IndexByte(data, ' ')
	if nul < 0 || sp < 0 || sp > nul {
		return gitobj.Object{}, false, fmt.Errorf("fakeremote: object %s: bad header", id)
	}
	t, err := gitobj.ParseType(string(data[:sp]))
	if err != nil {
		return gitobj.Object{}, false, fmt.Errorf("fakeremote: object %s: %w", id, err)
	}
	if n, err := strconv.Atoi(string(data[sp+1 : nul])); err != nil || n != len(data)-nul-1 {
		return gitobj.Object{}, false, fmt.Errorf("fakeremote: object %s: bad size", id)
	}
	o := gitobj.Object{Type: t, OID: id, Data: data[nul+1:]}
	if err := gitobj.Verify(r.format, o); err != nil {
		return gitobj.Object{}, false, fmt.Errorf("fakeremote: %w", err)
	}
	return o, true, nil
}

func (r *Remote) has(id gitobj.OID) bool {
	if _, ok := r.objects[id]; ok {
		return true
	}
	if r.dir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(r.dir, "objects", id.String()))
	return err == nil
}

// put stores a verified object.
func (r *Remote) put(o gitobj.Object) error {
	if r.dir == "" {
		r.objects[o.OID] = o
		return nil
	}
	path := filepath.Join(r.dir, "objects", o.OID.String())
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return writeAtomic(path, append(gitobj.AppendHeader(nil, o.Type, len(o.Data)), o.Data...))
}

// AddObject stores an object and returns its id (for test fixtures).
func (r *Remote) AddObject(t gitobj.Type, data []byte) (gitobj.OID, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, err := gitobj.HashObject(r.format, t, data)
	if err != nil {
		return id, err
	}
	return id, r.put(gitobj.Object{Type: t, OID: id, Data: data})
}

// SetRef sets a ref without checks; SetHead sets HEAD's target (for
// fixtures).
func (r *Remote) SetRef(name string, id gitobj.OID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refs[name] = id
	if r.dir != "" {
		return r.saveRefs()
	}
	return nil
}

// SetHead points HEAD at target.
func (r *Remote) SetHead(target string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.head = target
	if r.dir != "" {
		return r.saveRefs()
	}
	return nil
}

// Refs returns a copy of the refs (for assertions).
func (r *Remote) Refs() (map[string]gitobj.OID, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dir != "" {
		if err := r.load(); err != nil {
			return nil, err
		}
	}
	out := make(map[string]gitobj.OID, len(r.refs))
	for k, v := range r.refs {
		out[k] = v
	}
	return out, nil
}

// List implements helper.Remote.
func (r *Remote) List(ctx context.Context, forPush bool) ([]helper.Ref, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dir != "" {
		if err := r.load(); err != nil {
			return nil, err
		}
	}
	var out []helper.Ref
	if _, ok := r.refs[r.head]; ok {
		out = append(out, helper.Ref{Name: "HEAD", Symref: r.head})
	}
	names := make([]string, 0, len(r.refs))
	for n := range r.refs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		ref := helper.Ref{Name: n, OID: r.refs[n]}
		if !forPush {
			peeled, err := r.peel(ref.OID)
			if err != nil {
				return nil, err
			}
			if peeled != ref.OID {
				ref.Peeled = peeled
			}
		}
		out = append(out, ref)
	}
	return out, nil
}

// peel follows annotated tags to the object they finally name.
func (r *Remote) peel(id gitobj.OID) (gitobj.OID, error) {
	for range 64 {
		o, ok, err := r.get(id)
		if err != nil || !ok || o.Type != gitobj.Tag {
			return id, err
		}
		tag, err := gitobj.DecodeTag(r.format, o.Data)
		if err != nil {
			return id, fmt.Errorf("fakeremote: %w", err)
		}
		id = tag.Object
	}
	return id, errors.New("fakeremote: tag chain too long")
}

// walk calls fn on every object reachable from tips, skipping ids in
// stop, and reports the first missing object as an error (fn == nil:
// missing objects are skipped, for marking what the other side has).
func (r *Remote) walk(tips []gitobj.OID, stop map[gitobj.OID]bool, fn func(gitobj.Object) error) error {
	return r.walkObjects(tips, stop, fn, fn != nil)
}

func (r *Remote) walkObjects(tips []gitobj.OID, stop map[gitobj.OID]bool, fn func(gitobj.Object) error, strict bool) error {
	stack := slices.Clone(tips)
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if stop[id] {
			continue
		}
		stop[id] = true
		o, ok, err := r.get(id)
		if err != nil {
			return err
		}
		if !ok {
			if !strict {
				continue
			}
			return fmt.Errorf("fakeremote: missing object %s", id)
		}
		refs, err := gitobj.References(r.format, o.Type, o.Data)
		if err != nil {
			return fmt.Errorf("fakeremote: object %s: %w", id, err)
		}
		if fn != nil {
			if err := fn(o); err != nil {
				return err
			}
		}
		stack = append(stack, refs...)
	}
	return nil
}

// Fetch implements helper.Remote.
func (r *Remote) Fetch(ctx context.Context, wants, haves []gitobj.OID, sink helper.ObjectSink) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	stop := make(map[gitobj.OID]bool)
	var known []gitobj.OID
	for _, h := range haves {
		if r.has(h) {
			known = append(known, h)
		}
	}
	// The local side has the closure of each of its refs.
	if err := r.walk(known, stop, nil); err != nil {
		return err
	}
	return r.walk(wants, stop, sink.WriteObject)
}

// Push implements helper.Remote.
func (r *Remote) Push(ctx context.Context, updates []helper.RefUpdate, opts helper.PushOptions, objects helper.PushObjects) ([]error, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dir != "" {
		f, err := os.OpenFile(filepath.Join(r.dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, fmt.Errorf("fakeremote: %w", err)
		}
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			return nil, fmt.Errorf("fakeremote: lock: %w", err)
		}
		defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		if err := r.load(); err != nil {
			return nil, err
		}
	}
	results := make([]error, len(updates))
	failed := false
	for i, u := range updates {
		cur := r.refs[u.Name]
		if cur != u.Old && !(cur.IsZero() && u.Old.IsZero()) {
			if u.Lease {
				results[i] = helper.StaleInfo
			} else {
				results[i] = helper.FetchFirst
			}
			failed = true
		}
	}
	if opts.Atomic && failed {
		for i := range results {
			if results[i] == nil {
				results[i] = helper.AtomicFailed
			}
		}
		return results, nil
	}
	if opts.DryRun {
		return results, nil
	}
	// Store what is missing, then check each new value's closure.
	ids, err := objects.IDs(ctx)
	if err != nil {
		return nil, err
	}
	var missing []gitobj.OID
	for _, id := range ids {
		if !r.has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		err := objects.Read(ctx, missing, func(o gitobj.Object) error {
			if err := gitobj.Verify(r.format, o); err != nil {
				return err
			}
			return r.put(o)
		})
		if err != nil {
			return nil, err
		}
	}
	for i, u := range updates {
		if results[i] != nil || u.New.IsZero() {
			continue
		}
		if err := r.walkObjects([]gitobj.OID{u.New}, map[gitobj.OID]bool{}, nil, true); err != nil {
			results[i] = fmt.Errorf("missing objects: %w", err)
			failed = true
		}
	}
	if opts.Atomic && failed {
		for i := range results {
			if results[i] == nil {
				results[i] = helper.AtomicFailed
			}
		}
		return results, nil
	}
	for i, u := range updates {
		if results[i] != nil {
			continue
		}
		if u.New.IsZero() {
			delete(r.refs, u.Name)
			continue
		}
		r.refs[u.Name] = u.New
		if r.head == "" && strings.HasPrefix(u.Name, "refs/heads/") {
			r.head = u.Name
		}
	}
	if r.dir != "" {
		if err := r.saveRefs(); err != nil {
			return nil, err
		}
	}
	return results, nil
}
