package gitobj

import (
	"strings"
	"testing"
)

// FuzzTree: git tree bytes from a push never panic the parser or the
// strict checks, and a tree that decodes re-encodes to the same bytes.
func FuzzTree(f *testing.F) {
	f.Add([]byte("100644 a\x00" + string(make([]byte, 20))))
	f.Add([]byte("40000 .git\x00" + string(make([]byte, 20))))
	f.Fuzz(func(t *testing.T, b []byte) {
		CheckTree(SHA1, OID{}, b)
		tr, err := DecodeTree(SHA1, b)
		if err != nil {
			return
		}
		if got := string(tr.Encode()); got != string(b) {
			t.Fatalf("tree round trip differs")
		}
	})
}

const fuzzCommit = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n" +
	"parent 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n" +
	"author A U Thor <author@example.com> 1700000000 +0000\n" +
	"committer C O Mitter <committer@example.com> 1700000000 +0000\n" +
	"gpgsig -----BEGIN PGP SIGNATURE-----\n \n -----END PGP SIGNATURE-----\n" +
	"\nmessage\n"

const fuzzTag = "object 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n" +
	"type commit\n" +
	"tag v1\n" +
	"tagger A U Thor <author@example.com> 1700000000 +0000\n" +
	"\nv1\n"

// FuzzCommit: commit bytes from a push never panic the decoder or the
// strict checks; a decoded commit keeps its exact bytes, and a commit that
// passes fsck decodes.
func FuzzCommit(f *testing.F) {
	f.Add([]byte(fuzzCommit))
	f.Add([]byte("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\n"))
	f.Add([]byte("tree x\nauthor \x00\n\n"))
	f.Add([]byte(strings.Replace(fuzzCommit, "gpgsig", "parent xyz\ngpgsig", 1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		fsckErr := CheckCommit(SHA1, OID{}, b)
		c, err := DecodeCommit(SHA1, b)
		if err != nil {
			if fsckErr == nil {
				t.Fatalf("commit passes fsck but does not decode: %v", err)
			}
			return
		}
		if string(c.Encode()) != string(b) {
			t.Fatalf("commit round trip differs")
		}
		if !c.Tree.Valid() {
			t.Fatalf("decoded commit without a tree")
		}
		if _, err := References(SHA1, Commit, b); err != nil {
			t.Fatalf("References of a decoded commit: %v", err)
		}
	})
}

// FuzzTag: the same for annotated tags.
func FuzzTag(f *testing.F) {
	f.Add([]byte(fuzzTag))
	f.Add([]byte("object 4b825dc642cb6eb9a060e54bf8d69288fbee4904\ntype blob\ntag t\n"))
	f.Add([]byte("object 4b825dc642cb6eb9a060e54bf8d69288fbee4904\ntype bogus\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fsckErr := CheckTag(SHA1, OID{}, b)
		tag, err := DecodeTag(SHA1, b)
		if err != nil {
			if fsckErr == nil {
				t.Fatalf("tag passes fsck but does not decode: %v", err)
			}
			return
		}
		if string(tag.Encode()) != string(b) {
			t.Fatalf("tag round trip differs")
		}
		if !tag.Object.Valid() || tag.Type == 0 {
			t.Fatalf("decoded tag without object or type")
		}
		if _, err := References(SHA1, Tag, b); err != nil {
			t.Fatalf("References of a decoded tag: %v", err)
		}
	})
}
