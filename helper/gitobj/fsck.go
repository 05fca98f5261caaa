package gitobj

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// FsckError is an object that git fsck in strict mode would reject. ID is
// git's message id (Documentation/fsck-msgids.txt), so users can look it
// up; Detail says what was found.
type FsckError struct {
	OID    OID
	ID     string
	Detail string
}

func (e *FsckError) Error() string {
	return fmt.Sprintf("gitobj: object %s: %s", e.OID, e.Reason())
}

// Reason is the short form for a push status line: "<msgid>: <detail>".
func (e *FsckError) Reason() string { return e.ID + ": " + e.Detail }

func fsckErr(id OID, msg, format string, args ...any) *FsckError {
	return &FsckError{OID: id, ID: msg, Detail: fmt.Sprintf(format, args...)}
}

// TreeFindings lists the blobs a tree names that need their own checks
// once their content is at hand (git's gitmodules_found and
// gitattributes_found sets).
type TreeFindings struct {
	Gitmodules    []OID
	Gitattributes []OID
}

// CheckTree runs git fsck's strict tree checks on a tree's bytes. It
// reads the entries in place (EachTreeEntry): a push checks every tree
// it receives, and a string per name and a set of them per tree were a
// sixth of what a full push allocated.
//
// Duplicate names are found the way git's verify_ordered finds them, in
// a sorted tree: an entry named as the one before it, or a directory
// named as a file a few entries back, with only names that extend the
// file's name by a byte below '/' between them ("a", "a.b", "a/"). A tree
// that repeats a name anywhere else is not sorted, and fails as such.
func CheckTree(f Format, id OID, data []byte) (TreeFindings, error) {
	var found TreeFindings
	var first error // the first finding; the whole tree is still parsed
	var prevName string
	var prevMode Mode
	var files []string // files a directory of the same name could still follow
	i := 0
	err := EachTreeEntry(f, data, func(e TreeEntryRef) error {
		name := unsafe.String(unsafe.SliceData(e.Name), len(e.Name))
		if first == nil {
			first = checkTreeEntry(id, e, name, i, prevName, prevMode, &files, &found)
		}
		prevName, prevMode = name, e.Mode
		i++
		return nil
	})
	if err != nil {
		return TreeFindings{}, fsckErr(id, "badTree", "%v", err)
	}
	if first != nil {
		return found, first
	}
	return found, nil
}

// checkTreeEntry is CheckTree's checks of entry i, named name (a view of
// the tree's bytes), after the entry prevName (for i > 0).
func checkTreeEntry(id OID, e TreeEntryRef, name string, i int, prevName string, prevMode Mode, files *[]string, found *TreeFindings) error {
	switch {
	case isZero(e.ID):
		return fsckErr(id, "nullSha1", "contains entries pointing to null sha1")
	case strings.IndexByte(name, '/') >= 0:
		return fsckErr(id, "fullPathname", "contains full pathnames %q", name)
	case strings.IndexByte(name, 0) >= 0:
		return fsckErr(id, "badTree", "nul in entry name %q", name)
	case name == "":
		return fsckErr(id, "emptyName", "contains empty pathname")
	case name == ".":
		return fsckErr(id, "hasDot", "contains '.'")
	case name == "..":
		return fsckErr(id, "hasDotdot", "contains '..'")
	case IsDotgit(name):
		return fsckErr(id, "hasDotgit", "contains '.git' (%q)", name)
	}
	// Windows path separators hide a .git component from the checks
	// above (fsck.c walks every backslash the same way).
	for rest := name; ; {
		k := strings.IndexByte(rest, '\\')
		if k < 0 {
			break
		}
		rest = rest[k+1:]
		if isNTFSDotgit(rest) {
			return fsckErr(id, "hasDotgit", "contains '.git' (%q)", name)
		}
		if isNTFSDotGeneric(rest, "gitmodules", "gi7eba") {
			return fsckErr(id, "gitmodulesPath", ".gitmodules behind a backslash in %q", name)
		}
	}
	if e.ModeText[0] == '0' && !e.Canonical() { // formats the mode only then
		return fsckErr(id, "zeroPaddedFilemode", "contains zero-padded file modes (%q %q)", e.ModeText, name)
	}
	switch e.Mode {
	case ModeFile, ModeExecutable, ModeSymlink, ModeDir, ModeGitlink:
	default:
		// 100664 is tolerated by plain fsck but not in strict mode.
		return fsckErr(id, "badFilemode", "contains bad file modes (%o %q)", uint32(e.Mode), name)
	}
	// The files a directory named name could repeat: those whose names
	// name extends by a byte below '/' (see CheckTree).
	fs := *files
	for len(fs) > 0 {
		top := fs[len(fs)-1]
		if name == top && e.Mode.IsDir() {
			return fsckErr(id, "duplicateEntries", "contains duplicate file entries (%q)", name)
		}
		if len(name) > len(top) && strings.HasPrefix(name, top) && name[len(top)] < '/' {
			break
		}
		fs = fs[:len(fs)-1]
	}
	if !e.Mode.IsDir() {
		fs = append(fs, name)
	}
	*files = fs
	if i > 0 {
		if name == prevName {
			return fsckErr(id, "duplicateEntries", "contains duplicate file entries (%q)", name)
		}
		if CompareEntries(prevName, prevMode, name, e.Mode) > 0 {
			return fsckErr(id, "treeNotSorted", "not properly sorted (%q before %q)", prevName, name)
		}
	}
	oid := func() OID {
		o := OID{n: uint8(len(e.ID))}
		copy(o.b[:], e.ID)
		return o
	}
	if isDotGeneric(name, "gitmodules", "gi7eba") {
		switch {
		case e.Mode.IsSymlink():
			return fsckErr(id, "gitmodulesSymlink", ".gitmodules is a symbolic link")
		case e.Mode.IsDir():
			return fsckErr(id, "gitmodulesBlob", "non-blob found at .gitmodules")
		case e.Mode == ModeGitlink:
		default:
			found.Gitmodules = append(found.Gitmodules, oid())
		}
	}
	if isDotGeneric(name, "gitattributes", "gi7d29") {
		if e.Mode.IsSymlink() {
			return fsckErr(id, "gitattributesSymlink", ".gitattributes is a symlink")
		}
		if !e.Mode.IsDir() && e.Mode != ModeGitlink {
			found.Gitattributes = append(found.Gitattributes, oid())
		}
	}
	if e.Mode.IsSymlink() {
		if isDotGeneric(name, "gitignore", "gi250a") {
			return fsckErr(id, "gitignoreSymlink", ".gitignore is a symlink")
		}
		if isDotGeneric(name, "mailmap", "maba30") {
			return fsckErr(id, "mailmapSymlink", ".mailmap is a symlink")
		}
	}
	return nil
}

// isZero reports whether an id's bytes are all zero.
func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// IsDotgit reports whether a tree entry name would be ".git" on some file
// system git supports: any letter case, HFS+ ignorable code points
// (".g\u200cit"), NTFS short names ("git~1") and trailing dots, spaces or
// alternate data streams (".git.", ".git::$INDEX_ALLOCATION").
func IsDotgit(name string) bool {
	return isHFSDotGeneric(name, "git") || isNTFSDotgit(name)
}

// isDotGeneric is git's is_hfs_dot<x> || is_ntfs_dot<x>.
func isDotGeneric(name, needle, shortPrefix string) bool {
	return isHFSDotGeneric(name, needle) || isNTFSDotGeneric(name, needle, shortPrefix)
}

// hfsIgnorable are the code points HFS+ drops when comparing names
// (utf8.c next_hfs_char).
func hfsIgnorable(r rune) bool {
	switch r {
	case 0x200c, 0x200d, 0x200e, 0x200f,
		0x202a, 0x202b, 0x202c, 0x202d, 0x202e,
		0x206a, 0x206b, 0x206c, 0x206d, 0x206e, 0x206f,
		0xfeff:
		return true
	}
	return false
}

// nextHFS returns the next significant rune of s and the rest (0 at end).
func nextHFS(s string) (rune, string) {
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && n == 1 {
			return rune(s[0]) | 0x100000, s[1:] // invalid byte: never matches
		}
		s = s[n:]
		if !hfsIgnorable(r) {
			return r, s
		}
	}
	return 0, ""
}

// isHFSDotGeneric is git's is_hfs_dot_generic: "." + needle compared
// case-insensitively, ignoring HFS+ ignorable code points.
func isHFSDotGeneric(name, needle string) bool {
	c, rest := nextHFS(name)
	if c != '.' {
		return false
	}
	for i := 0; i < len(needle); i++ {
		c, rest = nextHFS(rest)
		if c > 127 || toLower(byte(c)) != needle[i] {
			return false
		}
	}
	c, _ = nextHFS(rest)
	return c == 0 || c == '/'
}

func toLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// isNTFSDotgit is git's is_ntfs_dotgit (path.c).
func isNTFSDotgit(name string) bool {
	var i int
	switch {
	case len(name) >= 4 && name[0] == '.' && strings.EqualFold(name[1:4], "git"):
		i = 4
	case len(name) >= 5 && strings.EqualFold(name[:3], "git") && name[3] == '~' && name[4] == '1':
		i = 5
	default:
		return false
	}
	return onlySpacesAndPeriods(name, i, true)
}

// onlySpacesAndPeriods: the rest up to the end, a separator or ':' holds
// only ' ' and '.'.
func onlySpacesAndPeriods(name string, i int, dirSep bool) bool {
	for ; ; i++ {
		c := at(name, i)
		if c == 0 || c == ':' || dirSep && (c == '/' || c == '\\') {
			return true
		}
		if c != '.' && c != ' ' {
			return false
		}
	}
}

// isNTFSDotGeneric is git's is_ntfs_dot_generic: ".<needle>" with trailing
// spaces/dots, its 8.3 short name "<needle[:6]>~1".."~4", or the hashed
// fallback short name "<prefix>~N".
func isNTFSDotGeneric(name, needle, prefix string) bool {
	if len(name) >= 1+len(needle) && name[0] == '.' && strings.EqualFold(name[1:1+len(needle)], needle) {
		return onlySpacesAndPeriods(name, 1+len(needle), false)
	}
	if len(name) >= 8 && strings.EqualFold(name[:6], needle[:6]) && name[6] == '~' && name[7] >= '1' && name[7] <= '4' {
		return onlySpacesAndPeriods(name, 8, false)
	}
	sawTilde := false
	for i := 0; i < 8; i++ {
		c := at(name, i)
		switch {
		case c == 0:
			return false
		case sawTilde:
			if c < '0' || c > '9' {
				return false
			}
		case c == '~':
			i++
			if c := at(name, i); c < '1' || c > '9' {
				return false
			}
			sawTilde = true
		case i >= 6 || c&0x80 != 0:
			return false
		case toLower(c) != prefix[i]:
			return false
		}
	}
	return onlySpacesAndPeriods(name, 8, false)
}

// CheckCommit runs git fsck's strict commit checks (fsck_commit).
func CheckCommit(f Format, id OID, data []byte) error {
	hs, _, err := splitHeaders(data)
	if err != nil {
		if strings.Contains(err.Error(), "nul in header") {
			return fsckErr(id, "nulInHeader", "unterminated header: NUL at offset")
		}
		return fsckErr(id, "unterminatedHeader", "unterminated header")
	}
	i := 0
	if len(hs) == 0 || hs[0].Key != "tree" {
		return fsckErr(id, "missingTree", "invalid format - expected 'tree' line")
	}
	if _, err := ParseOIDFormat(f, hs[0].Value); err != nil {
		return fsckErr(id, "badTreeSha1", "invalid 'tree' line format - bad sha1")
	}
	for i = 1; i < len(hs) && hs[i].Key == "parent"; i++ {
		if _, err := ParseOIDFormat(f, hs[i].Value); err != nil {
			return fsckErr(id, "badParentSha1", "invalid 'parent' line format - bad sha1")
		}
	}
	authors := 0
	for ; i < len(hs) && hs[i].Key == "author"; i++ {
		authors++
		if err := checkIdent(id, hs[i].Value); err != nil {
			return err
		}
	}
	switch {
	case authors == 0:
		return fsckErr(id, "missingAuthor", "invalid format - expected 'author' line")
	case authors > 1:
		return fsckErr(id, "multipleAuthors", "invalid format - multiple 'author' lines")
	}
	if i >= len(hs) || hs[i].Key != "committer" {
		return fsckErr(id, "missingCommitter", "invalid format - expected 'committer' line")
	}
	if err := checkIdent(id, hs[i].Value); err != nil {
		return err
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return fsckErr(id, "nulInCommit", "NUL byte in the commit object body")
	}
	return nil
}

// CheckTag runs git fsck's strict tag checks (fsck_tag_standalone).
func CheckTag(f Format, id OID, data []byte) error {
	hs, _, err := splitHeaders(data)
	if err != nil && bytes.HasSuffix(data, []byte("\n")) {
		hs, _, err = splitHeaders(append(append([]byte(nil), data...), '\n'))
	}
	if err != nil {
		if strings.Contains(err.Error(), "nul in header") {
			return fsckErr(id, "nulInHeader", "unterminated header: NUL at offset")
		}
		return fsckErr(id, "unterminatedHeader", "unterminated header")
	}
	if len(hs) < 1 || hs[0].Key != "object" {
		return fsckErr(id, "missingObject", "invalid format - expected 'object' line")
	}
	if _, err := ParseOIDFormat(f, hs[0].Value); err != nil {
		return fsckErr(id, "badObjectSha1", "invalid 'object' line format - bad sha1")
	}
	if len(hs) < 2 || hs[1].Key != "type" {
		return fsckErr(id, "missingTypeEntry", "invalid format - expected 'type' line")
	}
	if _, err := ParseType(hs[1].Value); err != nil {
		return fsckErr(id, "badType", "invalid 'type' value")
	}
	if len(hs) < 3 || hs[2].Key != "tag" {
		return fsckErr(id, "missingTagEntry", "invalid format - expected 'tag' line")
	}
	if len(hs) >= 4 && hs[3].Key == "tagger" {
		if err := checkIdent(id, hs[3].Value); err != nil {
			return err
		}
	}
	return nil
}

// checkIdent is fsck_ident: "Name <email> <epoch> <+-hhmm>".
func checkIdent(id OID, s string) error {
	if strings.HasPrefix(s, "<") {
		return fsckErr(id, "missingNameBeforeEmail", "invalid author/committer line - missing space before email")
	}
	i := strings.IndexAny(s, "<>\n")
	if i < 0 {
		return fsckErr(id, "missingEmail", "invalid author/committer line - missing email")
	}
	if s[i] == '>' {
		return fsckErr(id, "badName", "invalid author/committer line - bad name")
	}
	if s[i] != '<' {
		return fsckErr(id, "missingEmail", "invalid author/committer line - missing email")
	}
	if i == 0 || s[i-1] != ' ' {
		return fsckErr(id, "missingSpaceBeforeEmail", "invalid author/committer line - missing space before email")
	}
	s = s[i+1:]
	j := strings.IndexAny(s, "<>\n")
	if j < 0 || s[j] != '>' {
		return fsckErr(id, "badEmail", "invalid author/committer line - bad email")
	}
	s = s[j+1:]
	if !strings.HasPrefix(s, " ") {
		return fsckErr(id, "missingSpaceBeforeDate", "invalid author/committer line - missing space before date")
	}
	s = s[1:]
	if len(s) > 1 && s[0] == '0' && s[1] != ' ' {
		return fsckErr(id, "zeroPaddedDate", "invalid author/committer line - zero-padded date")
	}
	k := 0
	for k < len(s) && s[k] >= '0' && s[k] <= '9' {
		k++
	}
	if k == 0 || k >= len(s) || s[k] != ' ' {
		return fsckErr(id, "badDate", "invalid author/committer line - bad date")
	}
	if k > 19 || (k == 19 && s[:k] > "9223372036854775807") {
		return fsckErr(id, "badDateOverflow", "invalid author/committer line - date causes integer overflow")
	}
	tz := s[k+1:]
	if len(tz) != 5 || (tz[0] != '+' && tz[0] != '-') || !allDigits(tz[1:]) {
		return fsckErr(id, "badTimezone", "invalid author/committer line - bad time zone")
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Check runs the strict checks that apply to obj's type (blobs have none
// on their own; see TreeFindings) and returns what a tree asks to check
// later.
func Check(f Format, obj Object) (TreeFindings, error) {
	switch obj.Type {
	case Tree:
		return CheckTree(f, obj.OID, obj.Data)
	case Commit:
		return TreeFindings{}, CheckCommit(f, obj.OID, obj.Data)
	case Tag:
		return TreeFindings{}, CheckTag(f, obj.OID, obj.Data)
	}
	return TreeFindings{}, nil
}
