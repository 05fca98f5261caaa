package gitobj

import (
	"bytes"
	"errors"
	"fmt"
)

// Header is one header line of a commit or tag. Continuation lines of a
// multi-line value (gpgsig, mergetag) are joined with "\n" and their
// leading space removed.
type Header struct {
	Key, Value string
}

// CommitObject is a decoded commit. Raw holds the exact bytes; the other
// fields are views of it. Encode returns Raw, so every commit round-trips.
type CommitObject struct {
	Raw       []byte
	Tree      OID
	Parents   []OID
	Author    string // "Name <email> 1700000000 +0000"
	Committer string
	Headers   []Header // every header, in order, including the above
	Message   []byte
}

// TagObject is a decoded annotated tag; Raw holds the exact bytes.
type TagObject struct {
	Raw     []byte
	Object  OID
	Type    Type
	Name    string
	Tagger  string // may be empty: very old tags have none
	Headers []Header
	Message []byte
}

// Encode returns the commit's exact bytes.
func (c *CommitObject) Encode() []byte { return c.Raw }

// Encode returns the tag's exact bytes.
func (t *TagObject) Encode() []byte { return t.Raw }

// ErrMalformedObject reports commit or tag bytes whose header block cannot
// be parsed at all (git fsck's nulInHeader / unterminatedHeader, which are
// fatal in git too).
var ErrMalformedObject = errors.New("gitobj: malformed object")

// splitHeaders parses the header block up to the first blank line.
func splitHeaders(data []byte) ([]Header, []byte, error) {
	var hs []Header
	rest := data
	for {
		if len(rest) == 0 {
			return nil, nil, fmt.Errorf("%w: unterminated header", ErrMalformedObject)
		}
		if rest[0] == '\n' {
			return hs, rest[1:], nil
		}
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return nil, nil, fmt.Errorf("%w: unterminated header", ErrMalformedObject)
		}
		line := rest[:nl]
		rest = rest[nl+1:]
		if bytes.IndexByte(line, 0) >= 0 {
			return nil, nil, fmt.Errorf("%w: nul in header", ErrMalformedObject)
		}
		if line[0] == ' ' {
			if len(hs) == 0 {
				return nil, nil, fmt.Errorf("%w: continuation line before any header", ErrMalformedObject)
			}
			hs[len(hs)-1].Value += "\n" + string(line[1:])
			continue
		}
		k, v, _ := bytes.Cut(line, []byte{' '})
		hs = append(hs, Header{Key: string(k), Value: string(v)})
	}
}

// DecodeCommit parses commit bytes. It fails only when the header block is
// unparsable or the tree/parent ids are malformed; CheckCommit does the
// rest of fsck's checks.
func DecodeCommit(f Format, data []byte) (*CommitObject, error) {
	hs, msg, err := splitHeaders(data)
	if err != nil {
		return nil, err
	}
	c := &CommitObject{Raw: data, Headers: hs, Message: msg}
	// The parents are the parent lines right after the first line, the
	// tree, as in git (commit.c parse_commit_buffer); a later "parent"
	// header is an unknown header, which fsck allows and git ignores.
	parentsEnd := 0
	if len(hs) > 0 && hs[0].Key == "tree" {
		parentsEnd = 1
		for parentsEnd < len(hs) && hs[parentsEnd].Key == "parent" {
			parentsEnd++
		}
	}
	for i, h := range hs {
		switch h.Key {
		case "tree":
			if c.Tree.Valid() {
				continue
			}
			if c.Tree, err = ParseOIDFormat(f, h.Value); err != nil {
				return nil, fmt.Errorf("%w: tree: %w", ErrMalformedObject, err)
			}
		case "parent":
			if i >= parentsEnd {
				continue
			}
			p, err := ParseOIDFormat(f, h.Value)
			if err != nil {
				return nil, fmt.Errorf("%w: parent: %w", ErrMalformedObject, err)
			}
			c.Parents = append(c.Parents, p)
		case "author":
			if c.Author == "" {
				c.Author = h.Value
			}
		case "committer":
			if c.Committer == "" {
				c.Committer = h.Value
			}
		}
	}
	if !c.Tree.Valid() {
		return nil, fmt.Errorf("%w: missing tree", ErrMalformedObject)
	}
	return c, nil
}

// DecodeTag parses annotated tag bytes.
func DecodeTag(f Format, data []byte) (*TagObject, error) {
	hs, msg, err := splitHeaders(data)
	if err != nil {
		// Tags without a message and without the blank line are valid.
		if !bytes.HasSuffix(data, []byte("\n")) {
			return nil, err
		}
		hs, _, err = splitHeaders(append(append([]byte(nil), data...), '\n'))
		if err != nil {
			return nil, err
		}
		msg = nil
	}
	t := &TagObject{Raw: data, Headers: hs, Message: msg}
	for _, h := range hs {
		switch h.Key {
		case "object":
			if !t.Object.Valid() {
				if t.Object, err = ParseOIDFormat(f, h.Value); err != nil {
					return nil, fmt.Errorf("%w: object: %w", ErrMalformedObject, err)
				}
			}
		case "type":
			if t.Type == 0 {
				if t.Type, err = ParseType(h.Value); err != nil {
					return nil, fmt.Errorf("%w: %w", ErrMalformedObject, err)
				}
			}
		case "tag":
			if t.Name == "" {
				t.Name = h.Value
			}
		case "tagger":
			if t.Tagger == "" {
				t.Tagger = h.Value
			}
		}
	}
	if !t.Object.Valid() || t.Type == 0 {
		return nil, fmt.Errorf("%w: tag without object or type", ErrMalformedObject)
	}
	return t, nil
}

// References returns the ids an object points at: a commit's tree and
// parents, a tree's entries other than gitlinks, a tag's object. Blobs
// point at nothing.
func References(f Format, t Type, data []byte) ([]OID, error) {
	switch t {
	case Commit:
		c, err := DecodeCommit(f, data)
		if err != nil {
			return nil, err
		}
		return append([]OID{c.Tree}, c.Parents...), nil
	case Tree:
		tr, err := DecodeTree(f, data)
		if err != nil {
			return nil, err
		}
		out := make([]OID, 0, len(tr.Entries))
		for _, e := range tr.Entries {
			if e.Mode&0o170000 != ModeGitlink {
				out = append(out, e.OID)
			}
		}
		return out, nil
	case Tag:
		tg, err := DecodeTag(f, data)
		if err != nil {
			return nil, err
		}
		return []OID{tg.Object}, nil
	}
	return nil, nil
}
