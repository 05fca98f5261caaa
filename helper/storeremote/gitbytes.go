package storeremote

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/objstore"
)

// Small, allocation-light readers and writers of git object bytes for the
// hot paths (walking every tree of a clone). The objects were checked
// (gitobj.Check) when they entered the store, so these readers only guard
// against running off the end.

func toGit(o objstore.GitOID) gitobj.OID {
	id, _ := gitobj.OIDFromBytes(o[:])
	return id
}

// fromGit converts a SHA-1 id; other formats are rejected before here
// (the protocol layer refuses SHA-256 repositories for now).
func fromGit(o gitobj.OID) objstore.GitOID {
	var g objstore.GitOID
	copy(g[:], o.Bytes())
	return g
}

// treeEntry is one entry of a raw git tree.
type treeEntry struct {
	mode uint32
	name []byte
	oid  objstore.GitOID
}

// eachTreeEntry calls fn for every entry of raw git tree bytes
// (gitobj.EachTreeEntry, with the id as the store keeps git ids).
func eachTreeEntry(raw []byte, fn func(e treeEntry) error) error {
	return gitobj.EachTreeEntry(gitobj.SHA1, raw, func(r gitobj.TreeEntryRef) error {
		e := treeEntry{mode: uint32(r.Mode), name: r.Name}
		copy(e.oid[:], r.ID)
		return fn(e)
	})
}

// entryKind says what a tree entry mode points at.
func entryKind(mode uint32) objstore.GitType {
	switch mode & 0o170000 {
	case 0o040000:
		return objstore.GitTree
	case 0o160000:
		return 0 // gitlink: a commit of another repository
	}
	return objstore.GitBlob
}

// storeMode maps a git tree mode to the store's; strict fsck let only
// these five through.
func storeMode(mode uint32) (objstore.Mode, bool) {
	m := objstore.Mode(mode)
	return m, m.Valid()
}

// commitLinks returns the tree and parents named by raw commit bytes
// (gitobj.DecodeCommit, in the store's id type).
func commitLinks(raw []byte) (tree objstore.GitOID, parents []objstore.GitOID, err error) {
	c, err := gitobj.DecodeCommit(gitobj.SHA1, raw)
	if err != nil {
		return tree, nil, fmt.Errorf("storeremote: %w", err)
	}
	for _, p := range c.Parents {
		parents = append(parents, fromGit(p))
	}
	return fromGit(c.Tree), parents, nil
}

// tagTarget returns the object an annotated tag points at and its type
// (gitobj.DecodeTag, in the store's types).
func tagTarget(raw []byte) (objstore.GitOID, objstore.GitType, error) {
	t, err := gitobj.DecodeTag(gitobj.SHA1, raw)
	if err != nil {
		return objstore.GitOID{}, 0, fmt.Errorf("storeremote: %w", err)
	}
	return fromGit(t.Object), objstore.GitType(t.Type), nil
}

// parseIdent turns "Name <email> 1700000000 +0100" into a Signature. What
// cannot be parsed becomes a zero time: the commit's raw bytes are kept,
// so the state's copy of the fields is for helios's own tools only.
func parseIdent(s string) objstore.Signature {
	lt, gt := strings.IndexByte(s, '<'), strings.LastIndexByte(s, '>')
	if lt < 0 || gt < lt {
		return objstore.Signature{Name: s, When: time.Unix(0, 0).UTC()}
	}
	sig := objstore.Signature{Name: strings.TrimSuffix(s[:lt], " "), Email: s[lt+1 : gt], When: time.Unix(0, 0).UTC()}
	f := strings.Fields(s[gt+1:])
	if len(f) != 2 {
		return sig
	}
	sec, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return sig
	}
	off := 0
	if tz := f[1]; len(tz) == 5 && (tz[0] == '+' || tz[0] == '-') {
		hh, err1 := strconv.Atoi(tz[1:3])
		mm, err2 := strconv.Atoi(tz[3:5])
		if err1 == nil && err2 == nil {
			off = hh*3600 + mm*60
			if tz[0] == '-' {
				off = -off
			}
		}
	}
	// The state encoding bounds zones to about ±27 h.
	if off < -100000 || off > 100000 {
		off = 0
	}
	zone := time.UTC
	if off != 0 {
		zone = time.FixedZone("", off)
	}
	sig.When = time.Unix(sec, 0).In(zone)
	return sig
}

// appendIdent writes a Signature the way git writes an identity, dropping
// the characters git itself strips from names and emails.
func appendIdent(b []byte, sig objstore.Signature) []byte {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '<' || r == '>' || r == '\n' || r == 0 {
				return -1
			}
			return r
		}, strings.TrimSpace(s))
	}
	b = append(b, clean(sig.Name)...)
	b = append(b, " <"...)
	b = append(b, clean(sig.Email)...)
	b = append(b, "> "...)
	when := sig.When
	if when.IsZero() {
		when = time.Unix(0, 0).UTC()
	}
	b = strconv.AppendInt(b, when.Unix(), 10)
	_, off := when.Zone()
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	off /= 60
	return fmt.Appendf(append(b, ' ', sign), "%02d%02d", off/60, off%60)
}

// gitMode is the mode text git writes for a store mode.
func gitMode(m objstore.Mode) string {
	if m == objstore.ModeDir {
		return "40000"
	}
	return strconv.FormatUint(uint64(m), 8)
}
