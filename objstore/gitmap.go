package objstore

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
)

// The git object mapping: how the remote helper (helper/storeremote) keeps
// every git object that entered through it, so that a clone gives back the
// very same object ids, and how states made inside helios get git ids when
// they are exported. This file deals in raw bytes and object ids only;
// parsing git objects is the helper's business.
//
// Key layout under the 'g' prefix:
//
//	'g' 'o' oid            git object: 0x01, git type (1 commit, 2 tree,
//	                       3 blob, 4 tag), 32-byte store ID (the state, tree
//	                       or blob it maps to; zero for a tag), then for
//	                       commits, trees and tags the object's exact git
//	                       bytes (without the "<type> <size>\0" header)
//	'g' 'i' kind ID        reverse map: the git oid of a store object, the
//	                       first one recorded for it (a store tree or state
//	                       can stand for several git objects, e.g. a commit
//	                       with and without a signature)
//	'g' 'r' name           git value of a ref: 0x01, oid, 32-byte state ID.
//	                       Valid only while the store ref still holds that
//	                       state; a ref moved inside helios falls back to
//	                       the reverse map (or an export) of its state.
//
// In an encrypted store the 'o' and 'r' keys, which hold git ids and ref
// names, are stored as keyed MACs (see SealKV); 'i' keys hold keyed store
// IDs and stay as they are.
//
// oid is the raw object id: 20 bytes for SHA-1. SHA-256 ids (32 bytes) can
// live beside them later; the key length tells them apart.
//
// Why the raw bytes of commits and trees are kept even when the store's own
// encoding could reproduce them: a clone then reads one value per commit or
// tree and writes it out as is, instead of one reverse lookup per tree
// entry and per parent (millions of random reads on a large history), and
// signatures, encodings, mergetags and historic tree modes round-trip
// without special cases. Blobs, which are most of the bytes, are not
// duplicated: their content is the store blob (chunked and deduplicated).
//
// Entries are written in the same atomic batch as the objects and refs they
// describe (Writer.CommitGit), or, for object entries, with or after their
// objects ahead of the commit (Writer.PutGitObject, how a big push bulk
// loads its mapping), so a crash leaves no mapping without its objects. GC deletes the 'o' and 'i' entries of the objects it deletes
// (gc.go); tag entries, which name no store object, stay, and ref entries
// go with their refs. An entry can still outlive its object between a
// crash and the next gc, which GitLookup checks.

// GitOID is a SHA-1 git object id.
type GitOID [20]byte

// String is the lower-case hex form.
func (o GitOID) String() string { return hex.EncodeToString(o[:]) }

// IsZero reports whether o is the null id.
func (o GitOID) IsZero() bool { return o == GitOID{} }

// GitType is a git object type, numbered as in pack files.
type GitType uint8

// Git object types.
const (
	GitCommit GitType = 1
	GitTree   GitType = 2
	GitBlob   GitType = 3
	GitTag    GitType = 4
)

func (t GitType) String() string {
	switch t {
	case GitCommit:
		return "commit"
	case GitTree:
		return "tree"
	case GitBlob:
		return "blob"
	case GitTag:
		return "tag"
	}
	return fmt.Sprintf("gittype(%d)", uint8(t))
}

// StoreKind is the kind of store object a git type maps to (0 for tags).
func (t GitType) StoreKind() Kind {
	switch t {
	case GitCommit:
		return KindState
	case GitTree:
		return KindTree
	case GitBlob:
		return KindBlob
	}
	return 0
}

// GitObject is one mapped git object.
type GitObject struct {
	Type GitType
	// ID is the store object the git object maps to: a state for a commit,
	// a tree, a blob (whose content is the git blob's); zero for a tag.
	ID ID
	// Raw is the exact git content of a commit, tree or tag; nil for a
	// blob.
	Raw []byte
}

// GitRef is the git value of a ref as the helper last set it.
type GitRef struct {
	Name  string
	OID   GitOID
	State ID // the store state the ref held when OID was set
}

const gitFormat = 1

// Second key bytes under prefixGit.
const (
	gitObjectKey  = 'o'
	gitReverseKey = 'i'
	gitRefKey     = 'r'
)

// ErrBadGitMap is wrapped by malformed git mapping entries.
var ErrBadGitMap = errors.New("objstore: invalid git mapping")

func gitObjKey(oid GitOID) []byte {
	k := make([]byte, 2+len(oid))
	k[0], k[1] = prefixGit, gitObjectKey
	copy(k[2:], oid[:])
	return k
}

func gitRevKey(k Kind, id ID) []byte {
	key := make([]byte, 3+len(id))
	key[0], key[1], key[2] = prefixGit, gitReverseKey, byte(k)
	copy(key[3:], id[:])
	return key
}

func gitRefKeyOf(name string) []byte {
	return append([]byte{prefixGit, gitRefKey}, name...)
}

func encodeGitObject(o GitObject) []byte {
	v := make([]byte, 2+32+len(o.Raw))
	v[0], v[1] = gitFormat, byte(o.Type)
	copy(v[2:], o.ID[:])
	copy(v[34:], o.Raw)
	return v
}

func decodeGitObject(oid GitOID, v []byte) (GitObject, error) {
	if len(v) < 34 || v[0] != gitFormat || v[1] < byte(GitCommit) || v[1] > byte(GitTag) {
		return GitObject{}, fmt.Errorf("%w: object %v", ErrBadGitMap, oid)
	}
	o := GitObject{Type: GitType(v[1])}
	copy(o.ID[:], v[2:34])
	if o.Type != GitBlob {
		o.Raw = v[34:]
	} else if len(v) != 34 {
		return GitObject{}, fmt.Errorf("%w: blob %v has raw bytes", ErrBadGitMap, oid)
	}
	return o, nil
}

// GitObject returns the mapping of a git object, or an error wrapping
// ErrNotFound. The store object it names may have been collected since
// (see GitLookup).
func (s *Store) GitObject(oid GitOID) (GitObject, error) {
	o, err := s.gitObject(oid)
	if errors.Is(err, ErrNotFound) {
		return GitObject{}, fmt.Errorf("%w: git object %v", ErrNotFound, oid)
	}
	return o, err
}

// gitObject is GitObject with the KV's own not-found error, unadorned: a
// push looks up every id it offers, most of them missing.
func (s *Store) gitObject(oid GitOID) (GitObject, error) {
	v, err := s.kv.Get(gitObjKey(oid))
	if err != nil {
		return GitObject{}, err
	}
	return decodeGitObject(oid, v)
}

// GitObjects is GitObject for many ids at once (one read where the KV is a
// MultiGetter): found[i] says whether oids[i] is mapped.
func (s *Store) GitObjects(oids []GitOID) (objs []GitObject, found []bool, err error) {
	objs, found = make([]GitObject, len(oids)), make([]bool, len(oids))
	mg, ok := s.kv.(MultiGetter)
	if !ok || len(oids) < 2 {
		for i, oid := range oids {
			objs[i], err = s.gitObject(oid)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			found[i] = true
		}
		return objs, found, nil
	}
	keys := make([][]byte, len(oids))
	for i, oid := range oids {
		keys[i] = gitObjKey(oid)
	}
	vals, err := mg.MultiGet(keys)
	if err != nil {
		return nil, nil, err
	}
	for i, v := range vals {
		if v == nil {
			continue
		}
		if objs[i], err = decodeGitObject(oids[i], v); err != nil {
			return nil, nil, err
		}
		found[i] = true
	}
	return objs, found, nil
}

// GitLookup is GitObject that also checks the store object is still there
// (gc may have collected it after the ref that reached it moved). ok is
// false when either is missing: the object then has to be stored again.
func (s *Store) GitLookup(oid GitOID) (o GitObject, ok bool, err error) {
	o, err = s.gitObject(oid)
	if errors.Is(err, ErrNotFound) {
		return GitObject{}, false, nil
	}
	if err != nil {
		return GitObject{}, false, err
	}
	k := o.Type.StoreKind()
	if k == 0 {
		return o, true, nil
	}
	ok, err = s.Has(k, o.ID)
	return o, ok, err
}

// HasGitObjects reports whether the store maps any git object. A push
// into a store that maps none (its first, a mirror of a whole repository)
// has nothing to look up: every id it lists is new.
// A sealed KV's Scan of the git object entries (an unordered hidden
// space) passes them on as it reads them: it too stops at the first.
func (s *Store) HasGitObjects() (bool, error) {
	found := false
	err := s.kv.Scan([]byte{prefixGit, gitObjectKey}, func(key, v []byte) error {
		found = true
		return errStopScan
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return false, err
	}
	return found, nil
}

// errStopScan ends a Scan that has seen what it needed.
var errStopScan = errors.New("objstore: scan stopped")

// GitLookups is GitLookup for many ids at once: the mapping in one read
// where the KV is a MultiGetter (most ids of a push are not mapped, and a
// miss costs a probe of every table file level 0 holds), then the store
// objects of the few that are. ok[i] says whether oids[i] is mapped to an
// object still there.
func (s *Store) GitLookups(oids []GitOID) (objs []GitObject, ok []bool, err error) {
	objs, ok, err = s.GitObjects(oids)
	if err != nil {
		return nil, nil, err
	}
	for i := range oids {
		if !ok[i] {
			continue
		}
		if k := objs[i].Type.StoreKind(); k != 0 {
			if ok[i], err = s.Has(k, objs[i].ID); err != nil {
				return nil, nil, err
			}
		}
	}
	return objs, ok, nil
}

// GitOID returns the git id recorded for a store object (a state, tree or
// blob), or an error wrapping ErrNotFound for one that never went through
// git and was not exported yet.
func (s *Store) GitOID(k Kind, id ID) (GitOID, error) {
	v, err := s.kv.Get(gitRevKey(k, id))
	if errors.Is(err, ErrNotFound) {
		return GitOID{}, fmt.Errorf("%w: git id of %v %v", ErrNotFound, k, id.Short())
	}
	if err != nil {
		return GitOID{}, err
	}
	var o GitOID
	if len(v) != len(o) {
		return GitOID{}, fmt.Errorf("%w: reverse entry of %v %v", ErrBadGitMap, k, id.Short())
	}
	copy(o[:], v)
	return o, nil
}

func decodeGitRef(name string, v []byte) (GitRef, error) {
	r := GitRef{Name: name}
	if len(v) != 1+len(r.OID)+len(r.State) || v[0] != gitFormat {
		return GitRef{}, fmt.Errorf("%w: ref %q", ErrBadGitMap, name)
	}
	copy(r.OID[:], v[1:21])
	copy(r.State[:], v[21:])
	return r, nil
}

// GitRef returns the git value recorded for a ref, or an error wrapping
// ErrNotFound. It is the ref's git value only while the ref still holds
// r.State.
func (s *Store) GitRef(name string) (GitRef, error) {
	v, err := s.kv.Get(gitRefKeyOf(name))
	if errors.Is(err, ErrNotFound) {
		return GitRef{}, fmt.Errorf("%w: git value of ref %q", ErrNotFound, name)
	}
	if err != nil {
		return GitRef{}, err
	}
	return decodeGitRef(name, v)
}

// GitRefs returns the recorded git values of the refs whose names start
// with prefix, in name order.
func (s *Store) GitRefs(prefix string) ([]GitRef, error) {
	var out []GitRef
	err := s.kv.Scan(gitRefKeyOf(prefix), func(k, v []byte) error {
		r, err := decodeGitRef(string(k[2:]), v)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// GitBatch collects git mapping entries for Writer.CommitGit, which writes
// them in the same atomic batch as the objects and ref updates they go
// with. Not safe for concurrent use.
type GitBatch struct {
	b       Batch
	reverse map[string][]byte // reverse key → oid, written only where absent
}

// Len is the number of entries collected.
func (g *GitBatch) Len() int { return g.b.Len() + len(g.reverse) }

// PutObject records that git object oid maps to o. The reverse entry
// (store ID → oid) is written too unless one already exists.
func (g *GitBatch) PutObject(oid GitOID, o GitObject) {
	g.b.Put(gitObjKey(oid), encodeGitObject(o))
	if k := o.Type.StoreKind(); k != 0 {
		if g.reverse == nil {
			g.reverse = make(map[string][]byte)
		}
		rk := string(gitRevKey(k, o.ID))
		if _, ok := g.reverse[rk]; !ok {
			g.reverse[rk] = bytes.Clone(oid[:])
		}
	}
}

// SetRef records oid as the git value of ref name while it holds state.
func (g *GitBatch) SetRef(name string, oid GitOID, state ID) {
	v := make([]byte, 1, 1+len(oid)+len(state))
	v[0] = gitFormat
	v = append(v, oid[:]...)
	v = append(v, state[:]...)
	g.b.Put(gitRefKeyOf(name), v)
}

// DeleteRef forgets the git value of ref name.
func (g *GitBatch) DeleteRef(name string) { g.b.Delete(gitRefKeyOf(name)) }

// CommitGit is Commit with the git mapping entries of g in the same atomic
// batch: the objects put through w, the entries and the ref updates all
// land, or none of the entries and no ref do. g may be reused after a
// failed commit (a lost compare-and-swap, say) with other updates.
func (w *Writer) CommitGit(g *GitBatch, updates ...RefUpdate) error {
	w.extra.Reset()
	if g != nil {
		w.extra.ops = append(w.extra.ops, g.b.ops...)
		w.extra.size += g.b.size
		if len(g.reverse) > 0 {
			if err := w.addReverse(g.reverse); err != nil {
				return err
			}
		}
	}
	err := w.Commit(updates...)
	if err != nil {
		w.extra.Reset()
	}
	return err
}

// PutGitObject queues the mapping entry of git object oid, whose store
// object was put through w before (or is stored), and its reverse entry
// unless one is stored (a blob's is written again: it can only hold the
// same id, see Writer.lookUp). The entries go out with the next flush, in the
// same batch as that object or after it: like a flushed object they are
// stored but unreferenced until a commit moves a ref to what they map; a
// later push that finds them (GitLookup) does not store those objects
// again, and gc deletes them with their objects. This is how a big push
// writes its mapping in bulk, along with its objects (Ingester), instead
// of in the commit's log write.
func (w *Writer) PutGitObject(oid GitOID, o GitObject) {
	v := encodeGitObject(o)
	w.pending = append(w.pending, pendingObj{key: gitObjKey(oid), value: v, git: gitObjEntry})
	w.size += 22 + len(v)
	if k := o.Type.StoreKind(); k != 0 {
		w.pending = append(w.pending, pendingObj{key: gitRevKey(k, o.ID), value: bytes.Clone(oid[:]), kind: k, git: gitRevEntry})
		w.size += 35 + len(oid)
	}
}

// addReverse queues the reverse entries that are not stored yet, asking
// the KV about all of them at once.
func (w *Writer) addReverse(rev map[string][]byte) error {
	keys := make([][]byte, 0, len(rev))
	for k := range rev {
		keys = append(keys, []byte(k))
	}
	var present []bool
	if mh, ok := w.s.kv.(MultiHaser); ok {
		// In slices, so that a push of a whole history does not make one
		// giant MultiGet.
		for i := 0; i < len(keys); i += 4096 {
			p, err := mh.MultiHas(keys[i:min(i+4096, len(keys))])
			if err != nil {
				return err
			}
			present = append(present, p...)
		}
	} else {
		present = make([]bool, len(keys))
		for i, k := range keys {
			var err error
			if present[i], err = w.s.kv.Has(k); err != nil {
				return err
			}
		}
	}
	for i, k := range keys {
		if !present[i] {
			w.extra.Put(k, rev[string(k)])
		}
	}
	return nil
}
