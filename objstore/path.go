package objstore

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadPath is wrapped by every path or name validation failure.
var ErrBadPath = errors.New("objstore: invalid path")

// ValidName checks one path component: not empty, not "." or "..", no '/',
// no NUL, and not ".git" in any letter case (nor the forms that filesystems
// fold to ".git": trailing dots or spaces on Windows, "git~1" 8.3 names, and
// HFS+'s ignored Unicode code points).
func ValidName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrBadPath)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q component", ErrBadPath, name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%w: %q contains '/' or NUL", ErrBadPath, name)
	case isDotGit(name):
		return fmt.Errorf("%w: %q names a .git directory", ErrBadPath, name)
	}
	return nil
}

// isDotGit reports names that some filesystem would treat as ".git".
// Nearly every name is plain ASCII and not 4 or 5 bytes long once its
// trailing dots and spaces are gone: those are answered without the
// Unicode pass (a push checks every name of every tree it stores).
func isDotGit(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			return isDotGitUnicode(name)
		}
	}
	if n := len(strings.TrimRight(name, ". ")); n != 4 && n != 5 {
		return false
	}
	return foldsToDotGit(name)
}

// isDotGitUnicode is isDotGit for a name with non-ASCII bytes: HFS+
// ignores some zero-width code points when comparing names.
func isDotGitUnicode(name string) bool {
	if strings.ContainsAny(name, hfsIgnored) {
		var b strings.Builder
		for _, r := range name {
			if !strings.ContainsRune(hfsIgnored, r) {
				b.WriteRune(r)
			}
		}
		name = b.String()
	}
	return foldsToDotGit(name)
}

// hfsIgnored are the code points HFS+ ignores in names.
const hfsIgnored = "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u206a\u206b\u206c\u206d\u206e\u206f\ufeff"

// foldsToDotGit reports whether name, without the trailing dots and
// spaces NTFS drops, is ".git" or its 8.3 name "git~1" in any letter case.
func foldsToDotGit(name string) bool {
	trimmed := strings.TrimRight(name, ". ")
	return strings.EqualFold(trimmed, ".git") || strings.EqualFold(trimmed, "git~1")
}

// CleanPath validates a slash-separated path relative to a tree's root and
// returns its components. It rejects absolute paths, empty components
// ("a//b", trailing '/'), ".", "..", NUL and .git components.
func CleanPath(p string) ([]string, error) {
	if p == "" {
		return nil, fmt.Errorf("%w: empty path", ErrBadPath)
	}
	if p[0] == '/' {
		return nil, fmt.Errorf("%w: %q is absolute", ErrBadPath, p)
	}
	parts := strings.Split(p, "/")
	for _, c := range parts {
		if err := ValidName(c); err != nil {
			return nil, fmt.Errorf("path %q: %w", p, err)
		}
	}
	return parts, nil
}
