package gitobj

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

func oidGen(f Format) *rapid.Generator[OID] {
	return rapid.Custom(func(t *rapid.T) OID {
		b := rapid.SliceOfN(rapid.Byte(), f.Size(), f.Size()).Draw(t, "oid")
		o, _ := OIDFromBytes(b)
		return o
	})
}

// validTree draws a tree that strict fsck accepts.
func validTree(f Format) *rapid.Generator[*TreeObject] {
	return rapid.Custom(func(t *rapid.T) *TreeObject {
		names := rapid.SliceOfDistinct(
			rapid.StringMatching(`[a-zA-Z0-9_\-][a-zA-Z0-9_.\- ]{0,12}`),
			func(s string) string { return s }).Draw(t, "names")
		modes := []Mode{ModeFile, ModeExecutable, ModeSymlink, ModeDir, ModeGitlink}
		tr := &TreeObject{}
		for _, n := range names {
			if IsDotgit(n) || isDotGeneric(n, "gitmodules", "gi7eba") || isDotGeneric(n, "gitattributes", "gi7d29") ||
				isDotGeneric(n, "gitignore", "gi250a") || isDotGeneric(n, "mailmap", "maba30") {
				continue
			}
			id := oidGen(f).Draw(t, "id")
			if id.IsZero() {
				continue
			}
			tr.Entries = append(tr.Entries, TreeEntry{Mode: rapid.SampledFrom(modes).Draw(t, "mode"), Name: n, OID: id})
		}
		sort.Slice(tr.Entries, func(i, j int) bool {
			a, b := tr.Entries[i], tr.Entries[j]
			return CompareEntries(a.Name, a.Mode, b.Name, b.Mode) < 0
		})
		return tr
	})
}

func TestTreeRoundTripProperty(t *testing.T) {
	for _, f := range []Format{SHA1, SHA256} {
		t.Run(f.String(), func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				tr := validTree(f).Draw(rt, "tree")
				enc := tr.Encode()
				got, err := DecodeTree(f, enc)
				if err != nil {
					rt.Fatalf("decode: %v", err)
				}
				if len(tr.Entries) == 0 {
					tr.Entries = nil
				}
				if diff := cmp.Diff(tr, got, cmp.AllowUnexported(OID{})); diff != "" {
					rt.Fatalf("round trip (-want +got):\n%s", diff)
				}
				if !bytes.Equal(got.Encode(), enc) {
					rt.Fatalf("re-encode differs")
				}
				if _, err := CheckTree(f, OID{}, enc); err != nil {
					rt.Fatalf("valid tree rejected: %v", err)
				}
			})
		})
	}
}

// Any bytes that decode must re-encode to themselves, whatever fsck says.
func TestTreeDecodeEncodeBytesProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var buf []byte
		n := rapid.IntRange(0, 6).Draw(rt, "n")
		for i := 0; i < n; i++ {
			mode := rapid.SampledFrom([]string{"100644", "40000", "040000", "100664", "0100644", "120000", "160000", "644"}).Draw(rt, "mode")
			name := rapid.StringMatching(`[^\x00/]{0,10}`).Draw(rt, "name")
			buf = append(buf, mode...)
			buf = append(buf, ' ')
			buf = append(buf, name...)
			buf = append(buf, 0)
			buf = append(buf, rapid.SliceOfN(rapid.Byte(), 20, 20).Draw(rt, "id")...)
		}
		tr, err := DecodeTree(SHA1, buf)
		if err != nil {
			rt.Fatalf("decode: %v", err)
		}
		if got := tr.Encode(); !bytes.Equal(got, buf) {
			rt.Fatalf("got %q, want %q", got, buf)
		}
	})
}

func TestDecodeTreeMalformed(t *testing.T) {
	for name, data := range map[string]string{
		"no mode":   " a\x00" + strings.Repeat("x", 20),
		"bad mode":  "10x644 a\x00" + strings.Repeat("x", 20),
		"no nul":    "100644 a",
		"short id":  "100644 a\x00abc",
		"huge mode": "777777777777777 a\x00" + strings.Repeat("x", 20),
		"no space":  "100644",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeTree(SHA1, []byte(name + data)[len(name):]); !errors.Is(err, ErrMalformedTree) {
				t.Fatalf("got %v, want ErrMalformedTree", err)
			}
			_, err := CheckTree(SHA1, OID{}, []byte(data))
			var fe *FsckError
			if !errors.As(err, &fe) || fe.ID != "badTree" {
				t.Fatalf("got %v, want badTree", err)
			}
		})
	}
}

func entry(mode, name string) string {
	return mode + " " + name + "\x00" + strings.Repeat("\x01", 20)
}

func TestCheckTree(t *testing.T) {
	tests := []struct {
		name string
		tree string
		want string // fsck message id, "" for accepted
	}{
		{"ok", entry("100644", "a") + entry("40000", "b") + entry("100755", "c") + entry("120000", "d") + entry("160000", "e"), ""},
		{"dir sorts with slash", entry("100644", "a.b") + entry("40000", "a") + entry("100644", "a0"), ""},
		{"dotgit", entry("40000", ".git"), "hasDotgit"},
		{"dotgit upper", entry("40000", ".GIT"), "hasDotgit"},
		{"dotgit mixed", entry("100644", ".gIt"), "hasDotgit"},
		{"dotgit hfs", entry("40000", ".g\u200cit"), "hasDotgit"},
		{"dotgit hfs bom", entry("40000", "\ufeff.git"), "hasDotgit"},
		{"dotgit ntfs short", entry("40000", "GIT~1"), "hasDotgit"},
		{"dotgit ntfs trailing dot", entry("40000", ".git."), "hasDotgit"},
		{"dotgit ntfs trailing space", entry("40000", ".git  "), "hasDotgit"},
		{"dotgit ntfs stream", entry("40000", ".git::$INDEX_ALLOCATION"), "hasDotgit"},
		{"dotgit behind backslash", entry("100644", "a\\.git"), "hasDotgit"},
		{"gitfoo fine", entry("100644", ".gitfoo") + entry("100644", ".github"), ""},
		{"dot", entry("40000", "."), "hasDot"},
		{"dotdot", entry("40000", ".."), "hasDotdot"},
		{"empty name", entry("100644", ""), "emptyName"},
		{"slash", entry("100644", "a/b"), "fullPathname"},
		{"null sha", "100644 a\x00" + strings.Repeat("\x00", 20), "nullSha1"},
		{"bad mode", entry("100600", "a"), "badFilemode"},
		{"group writable strict", entry("100664", "a"), "badFilemode"},
		{"zero padded", entry("040000", "a"), "zeroPaddedFilemode"},
		{"duplicate", entry("100644", "a") + entry("100644", "a"), "duplicateEntries"},
		{"duplicate file and dir", entry("100644", "a") + entry("100644", "a.b") + entry("40000", "a"), "duplicateEntries"},
		{"unsorted", entry("100644", "b") + entry("100644", "a"), "treeNotSorted"},
		{"dir unsorted", entry("40000", "a") + entry("100644", "a.b"), "treeNotSorted"},
		{"gitmodules symlink", entry("120000", ".gitmodules"), "gitmodulesSymlink"},
		{"gitmodules ntfs symlink", entry("120000", "GITMOD~1"), "gitmodulesSymlink"},
		{"gitmodules hashed short", entry("120000", "gi7eba~9"), "gitmodulesSymlink"},
		{"gitmodules dir", entry("40000", ".gitmodules"), "gitmodulesBlob"},
		{"gitattributes symlink", entry("120000", ".gitattributes"), "gitattributesSymlink"},
		{"gitignore symlink", entry("120000", ".gitignore"), "gitignoreSymlink"},
		{"mailmap symlink", entry("120000", ".mailmap"), "mailmapSymlink"},
		{"gitignore file ok", entry("100644", ".gitignore") + entry("100644", ".mailmap"), ""},
		{"gitmodules behind backslash", entry("100644", "x\\.gitmodules"), "gitmodulesPath"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckTree(SHA1, MustParseOID(strings.Repeat("ab", 20)), []byte(tt.tree))
			got := ""
			var fe *FsckError
			if errors.As(err, &fe) {
				got = fe.ID
				if !strings.Contains(err.Error(), fe.Reason()) || !strings.HasPrefix(err.Error(), "gitobj: object abab") {
					t.Errorf("error text %q lacks reason %q", err, fe.Reason())
				}
			} else if err != nil {
				t.Fatalf("got untyped error %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}

func TestCheckTreeFindings(t *testing.T) {
	tree := entry("100644", ".gitattributes") + entry("100644", ".gitmodules")
	found, err := CheckTree(SHA1, OID{}, []byte(tree))
	if err != nil {
		t.Fatal(err)
	}
	if len(found.Gitmodules) != 1 || len(found.Gitattributes) != 1 {
		t.Fatalf("got %+v, want one of each", found)
	}
	found, err = Check(SHA1, Object{Type: Tree, Data: []byte(tree)})
	if err != nil || len(found.Gitmodules) != 1 {
		t.Fatalf("Check: got %+v %v", found, err)
	}
}

func TestCheckGitmodules(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"ok", "[submodule \"lib\"]\n\tpath = lib\n\turl = https://example.com/lib.git\n", ""},
		{"ok relative", "[submodule \"lib\"]\n\tpath = lib\n\turl = ../lib.git\n\tupdate = rebase\n", ""},
		{"ok comments", "# c\n; c\n[submodule \"a b\"] # x\n\tpath = \"a b\" ; trailing\n", ""},
		{"name dotdot", "[submodule \"../../modules/evil\"]\n\tpath = x\n", "gitmodulesName"},
		{"name dotdot backslash", "[submodule \"a\\\\..\\\\b\"]\n\tpath = x\n", "gitmodulesName"},
		{"name backslash dotdot", "[submodule \"..\\\\evil\"]\n\tpath = x\n", "gitmodulesName"},
		{"name empty", "[submodule \"\"]\n\tpath = x\n", "gitmodulesName"},
		{"url dash", "[submodule \"a\"]\n\turl = --upload-pack=evil\n", "gitmodulesUrl"},
		{"url newline", "[submodule \"a\"]\n\turl = ./%0ahost=evil\n", "gitmodulesUrl"},
		{"url empty host", "[submodule \"a\"]\n\turl = https:///evil\n", "gitmodulesUrl"},
		{"url climbs into host", "[submodule \"a\"]\n\turl = ../../:evil\n", "gitmodulesUrl"},
		{"path dash", "[submodule \"a\"]\n\tpath = -x\n", "gitmodulesPath"},
		{"update command", "[submodule \"a\"]\n\tupdate = !rm -rf /\n", "gitmodulesUpdate"},
		{"update quoted command", "[submodule \"a\"]\n\tupdate = \"!touch x\"\n", "gitmodulesUpdate"},
		{"old style section", "[submodule.a]\n\tpath = -x\n", "gitmodulesPath"},
		{"unparsable accepted", "[submodule \"a\"\n\tupdate = !x\n", ""},
		{"escape continuation", "[submodule \"a\"]\n\tupdate = \\\n!x\n", "gitmodulesUpdate"},
		{"bool key", "[submodule \"a\"]\n\tshallow\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckGitmodules(OID{}, []byte(tt.data))
			got := ""
			var fe *FsckError
			if errors.As(err, &fe) {
				got = fe.ID
			}
			if got != tt.want {
				t.Fatalf("got %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}

func TestCheckGitattributes(t *testing.T) {
	if err := CheckGitattributes(OID{}, []byte("*.go diff=golang\n")); err != nil {
		t.Fatal(err)
	}
	var fe *FsckError
	if err := CheckGitattributes(OID{}, []byte(strings.Repeat("a", 3000))); !errors.As(err, &fe) || fe.ID != "gitattributesLineLength" {
		t.Fatalf("got %v, want gitattributesLineLength", err)
	}
}

const signedCommit = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n" +
	"parent 1111111111111111111111111111111111111111\n" +
	"parent 2222222222222222222222222222222222222222\n" +
	"author A U Thor <a@example.com> 1700000000 +0100\n" +
	"committer C O Mitter <c@example.com> 1700000001 -0500\n" +
	"encoding ISO-8859-1\n" +
	"gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEz\n -----END PGP SIGNATURE-----\n" +
	"\n" +
	"message\n\nbody\n"

func TestCommitRoundTripAndFields(t *testing.T) {
	c, err := DecodeCommit(SHA1, []byte(signedCommit))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(c.Encode()); got != signedCommit {
		t.Fatalf("got %q, want exact bytes", got)
	}
	if c.Tree.String() != "4b825dc642cb6eb9a060e54bf8d69288fbee4904" || len(c.Parents) != 2 {
		t.Fatalf("got tree %s parents %v", c.Tree, c.Parents)
	}
	if c.Author != "A U Thor <a@example.com> 1700000000 +0100" || !strings.HasPrefix(c.Committer, "C O Mitter") {
		t.Fatalf("got author %q committer %q", c.Author, c.Committer)
	}
	if string(c.Message) != "message\n\nbody\n" {
		t.Fatalf("got message %q", c.Message)
	}
	var sig string
	for _, h := range c.Headers {
		if h.Key == "gpgsig" {
			sig = h.Value
		}
	}
	if sig != "-----BEGIN PGP SIGNATURE-----\n\niQEz\n-----END PGP SIGNATURE-----" {
		t.Fatalf("got gpgsig %q", sig)
	}
	if err := CheckCommit(SHA1, OID{}, []byte(signedCommit)); err != nil {
		t.Fatal(err)
	}
	refs, err := References(SHA1, Commit, []byte(signedCommit))
	if err != nil || len(refs) != 3 {
		t.Fatalf("got %v %v, want tree + 2 parents", refs, err)
	}
}

func TestCheckCommit(t *testing.T) {
	const tree = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
	const ident = "A <a@b> 1 +0000\n"
	tests := []struct{ name, data, want string }{
		{"ok", tree + "author " + ident + "committer " + ident + "\nm", ""},
		{"missing tree", "author " + ident + "committer " + ident + "\n", "missingTree"},
		{"bad tree", "tree 123\nauthor " + ident + "committer " + ident + "\n", "badTreeSha1"},
		{"bad parent", tree + "parent xyz\nauthor " + ident + "committer " + ident + "\n", "badParentSha1"},
		{"missing author", tree + "committer " + ident + "\n", "missingAuthor"},
		{"two authors", tree + "author " + ident + "author " + ident + "committer " + ident + "\n", "multipleAuthors"},
		{"missing committer", tree + "author " + ident + "\n", "missingCommitter"},
		{"bad email", tree + "author A <a 1 +0000\ncommitter " + ident + "\n", "badEmail"},
		{"bad name", tree + "author A >a@b> 1 +0000\ncommitter " + ident + "\n", "badName"},
		{"no space before email", tree + "author A<a@b> 1 +0000\ncommitter " + ident + "\n", "missingSpaceBeforeEmail"},
		{"name missing", tree + "author <a@b> 1 +0000\ncommitter " + ident + "\n", "missingNameBeforeEmail"},
		{"missing email", tree + "author A 1 +0000\ncommitter " + ident + "\n", "missingEmail"},
		{"zero padded date", tree + "author A <a@b> 01 +0000\ncommitter " + ident + "\n", "zeroPaddedDate"},
		{"bad date", tree + "author A <a@b> x +0000\ncommitter " + ident + "\n", "badDate"},
		{"no space before date", tree + "author A <a@b>1 +0000\ncommitter " + ident + "\n", "missingSpaceBeforeDate"},
		{"overflow", tree + "author A <a@b> 99999999999999999999 +0000\ncommitter " + ident + "\n", "badDateOverflow"},
		{"bad tz", tree + "author A <a@b> 1 +00\ncommitter " + ident + "\n", "badTimezone"},
		{"nul in header", tree + "author A <a@b> 1 +0000\x00\ncommitter " + ident + "\n", "nulInHeader"},
		{"unterminated", tree + "author " + ident, "unterminatedHeader"},
		{"nul in body", tree + "author " + ident + "committer " + ident + "\nm\x00", "nulInCommit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCommit(SHA1, OID{}, []byte(tt.data))
			got := ""
			var fe *FsckError
			if errors.As(err, &fe) {
				got = fe.ID
			} else if err != nil {
				t.Fatalf("untyped %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %q (%v), want %q", got, err, tt.want)
			}
			if _, err := Check(SHA1, Object{Type: Commit, Data: []byte(tt.data)}); (err == nil) != (tt.want == "") {
				t.Fatalf("Check: got %v", err)
			}
		})
	}
}

func TestTag(t *testing.T) {
	const obj = "object 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
	tests := []struct{ name, data, want string }{
		{"ok", obj + "type tree\ntag v1\ntagger T <t@x> 1 +0000\n\nmsg\n", ""},
		{"ok no tagger no message", obj + "type tree\ntag v1\n", ""},
		{"missing object", "type tree\ntag v1\n\n", "missingObject"},
		{"bad object", "object 12\ntype tree\ntag v1\n\n", "badObjectSha1"},
		{"missing type", obj + "tag v1\n\n", "missingTypeEntry"},
		{"bad type", obj + "type tre\ntag v1\n\n", "badType"},
		{"missing tag", obj + "type tree\n\n", "missingTagEntry"},
		{"bad tagger", obj + "type tree\ntag v1\ntagger T <t@x> 1 +00\n\n", "badTimezone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckTag(SHA1, OID{}, []byte(tt.data))
			got := ""
			var fe *FsckError
			if errors.As(err, &fe) {
				got = fe.ID
			}
			if got != tt.want {
				t.Fatalf("got %q (%v), want %q", got, err, tt.want)
			}
		})
	}
	tg, err := DecodeTag(SHA1, []byte(obj+"type tree\ntag v1\ntagger T <t@x> 1 +0000\n\nmsg\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tg.Name != "v1" || tg.Type != Tree || tg.Tagger != "T <t@x> 1 +0000" || string(tg.Message) != "msg\n" || string(tg.Encode()) != string(tg.Raw) {
		t.Fatalf("got %+v", tg)
	}
	if _, err := DecodeTag(SHA1, []byte(obj+"type tree\ntag v1\n")); err != nil {
		t.Fatalf("tag without blank line: %v", err)
	}
	if _, err := DecodeTag(SHA1, []byte("type tree\n\n")); !errors.Is(err, ErrMalformedObject) {
		t.Fatalf("got %v, want ErrMalformedObject", err)
	}
	refs, err := References(SHA1, Tag, []byte(obj+"type tree\ntag v1\n\n"))
	if err != nil || len(refs) != 1 {
		t.Fatalf("got %v %v", refs, err)
	}
}

func TestOIDs(t *testing.T) {
	for _, bad := range []string{"", "abc", strings.Repeat("A", 40), strings.Repeat("g", 40), strings.Repeat("a", 41)} {
		if _, err := ParseOID(bad); !errors.Is(err, ErrBadOID) {
			t.Errorf("ParseOID(%q): got %v, want ErrBadOID", bad, err)
		}
	}
	o := MustParseOID(strings.Repeat("a", 64))
	if o.Format() != SHA256 || len(o.Bytes()) != 32 || o.String() != strings.Repeat("a", 64) {
		t.Fatalf("got %v %v", o.Format(), o)
	}
	if _, err := ParseOIDFormat(SHA1, o.String()); err == nil {
		t.Fatal("sha256 id accepted as sha1")
	}
	if !SHA1.ZeroOID().IsZero() || SHA1.ZeroOID().String() != strings.Repeat("0", 40) || (OID{}).Valid() {
		t.Fatal("zero oid")
	}
	a, b := MustParseOID(strings.Repeat("1", 40)), MustParseOID(strings.Repeat("2", 40))
	if a.Compare(b) >= 0 || b.Compare(a) <= 0 || a.Compare(a) != 0 {
		t.Fatal("compare")
	}
	for _, s := range []string{"sha1", "sha256"} {
		f, err := ParseFormat(s)
		if err != nil || f.String() != s {
			t.Fatalf("format %q: %v", s, err)
		}
	}
	if _, err := ParseFormat("md5"); err == nil {
		t.Fatal("md5 accepted")
	}
	for _, ty := range []Type{Commit, Tree, Blob, Tag} {
		got, err := ParseType(ty.String())
		if err != nil || got != ty {
			t.Fatalf("type %v: got %v %v", ty, got, err)
		}
	}
	if _, err := OIDFromBytes([]byte{1}); err == nil {
		t.Fatal("short raw id accepted")
	}
}

// Ids must match git's own hash-object, for both formats.
func TestHashObjectMatchesGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	data := []byte("hello\n")
	for _, f := range []Format{SHA1, SHA256} {
		dir := t.TempDir()
		if out, err := exec.Command("git", "init", "-q", "--object-format="+f.String(), dir).CombinedOutput(); err != nil {
			t.Fatalf("git init: %v %s", err, out)
		}
		cmd := exec.Command("git", "-C", dir, "hash-object", "--stdin")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		got, err := HashObject(f, Blob, data)
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSpace(string(out)); got.String() != want {
			t.Fatalf("%v: got %s, want %s", f, got, want)
		}
		if err := Verify(f, Object{Type: Blob, OID: got, Data: data}); err != nil {
			t.Fatal(err)
		}
		if err := Verify(f, Object{Type: Blob, OID: got, Data: []byte("x")}); err == nil {
			t.Fatal("mismatch not detected")
		}
	}
}

// TestCommitLateParentHeader: only the parent lines right after the tree
// are parents (git's parse_commit_buffer); a later "parent" header passes
// fsck as an unknown header and must neither fail the decoder nor add a
// parent. Found by FuzzCommit.
func TestCommitLateParentHeader(t *testing.T) {
	for _, late := range []string{"parent xyz\n", "parent 3333333333333333333333333333333333333333\n"} {
		raw := strings.Replace(signedCommit, "encoding", late+"encoding", 1)
		if err := CheckCommit(SHA1, OID{}, []byte(raw)); err != nil {
			t.Fatalf("fsck of %q: %v", late, err)
		}
		c, err := DecodeCommit(SHA1, []byte(raw))
		if err != nil {
			t.Fatalf("decode with %q: %v", late, err)
		}
		if len(c.Parents) != 2 {
			t.Errorf("with %q: got %d parents, want 2", late, len(c.Parents))
		}
	}
}

// TestCheckTreeOrderAgainstGit: on trees of names that sort around each
// other ("a", "a.b", "a/" for a directory a), CheckTree finds a duplicate
// or a wrong order exactly when git fsck --strict does, and names one of
// the problems git names.
func TestCheckTreeOrderAgainstGit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs git fsck per tree")
	}
	dir := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", dir).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	names := []string{"a", "a.b", "a-", "a!", "ab", "a0", "b"}
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 6).Draw(t, "n")
		type ent struct{ mode, name string }
		var ents []ent
		for i := range n {
			mode := rapid.SampledFrom([]string{"100644", "40000"}).Draw(t, "mode")
			ents = append(ents, ent{mode, rapid.SampledFrom(names).Draw(t, "name")})
			_ = i
		}
		if rapid.Bool().Draw(t, "sorted") {
			sort.SliceStable(ents, func(i, j int) bool {
				mi, mj := ModeFile, ModeFile
				if ents[i].mode == "40000" {
					mi = ModeDir
				}
				if ents[j].mode == "40000" {
					mj = ModeDir
				}
				return CompareEntries(ents[i].name, mi, ents[j].name, mj) < 0
			})
		}
		var tree strings.Builder
		for _, e := range ents {
			tree.WriteString(entry(e.mode, e.name))
		}
		cmd := exec.Command("git", "-C", dir, "hash-object", "-t", "tree", "--literally", "-w", "--stdin")
		cmd.Stdin = strings.NewReader(tree.String())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("hash-object: %v", err)
		}
		oid := strings.TrimSpace(string(out))
		fsck, _ := exec.Command("git", "-C", dir, "fsck", "--strict", "--no-dangling", "--no-progress").CombinedOutput()
		os.Remove(filepath.Join(dir, ".git", "objects", oid[:2], oid[2:]))
		gitSays := map[string]bool{}
		for _, id := range []string{"duplicateEntries", "treeNotSorted"} {
			if strings.Contains(string(fsck), id) {
				gitSays[id] = true
			}
		}
		_, err = CheckTree(SHA1, MustParseOID(oid), []byte(tree.String()))
		var fe *FsckError
		got := ""
		if errors.As(err, &fe) {
			got = fe.ID
		}
		switch {
		case len(gitSays) == 0 && got != "":
			t.Fatalf("%q: git fsck finds nothing, CheckTree: %v", ents, err)
		case len(gitSays) > 0 && !gitSays[got]:
			t.Fatalf("%q: git fsck says %v, CheckTree: %v\n%s", ents, gitSays, err, fsck)
		}
	})
}

// TestParseOIDMatchesHex checks ParseOID and ParseOIDFormatBytes against
// the rule written plainly: 40 or 64 lower-case hex digits, decoded as hex.
func TestParseOIDMatchesHex(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.SampledFrom([]int{0, 39, 40, 41, 64}).Draw(t, "n")
		s := string(rapid.SliceOfN(rapid.SampledFrom([]byte("0123456789abcdefABCDEFg /")), n, n).Draw(t, "digits"))
		raw, herr := hex.DecodeString(s)
		valid := (n == 40 || n == 64) && herr == nil && s == strings.ToLower(s)
		for _, parse := range []func(string) (OID, error){ParseOID, func(s string) (OID, error) {
			f := SHA1
			if len(s) == 64 {
				f = SHA256
			}
			return ParseOIDFormatBytes(f, []byte(s))
		}} {
			o, err := parse(s)
			if valid != (err == nil) {
				t.Fatalf("parse(%q) = %v, valid %v", s, err, valid)
			}
			if err != nil && !errors.Is(err, ErrBadOID) {
				t.Fatalf("parse(%q): %v, want ErrBadOID", s, err)
			}
			if valid && (!bytes.Equal(o.Bytes(), raw) || o.String() != s) {
				t.Fatalf("parse(%q) = %v (%x)", s, o, o.Bytes())
			}
		}
	})
}
