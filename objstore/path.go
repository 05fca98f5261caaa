package objstore

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
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
func isDotGit(name string) bool {
	// HFS+ ignores some zero-width code points when comparing names. None
	// is ASCII, and nearly every name is: only a name with a byte from
	// 0x80 up is looked at for them (a push checks every name of every
	// tree it stores, and ContainsAny over 16 code points was most of it).
	if !isASCII(name) && strings.ContainsAny(name, hfsIgnored) {
		var b strings.Builder
		for _, r := range name {
			if !strings.ContainsRune(hfsIgnored, r) {
				b.WriteRune(r)
			}
		}
		name = b.String()
	}
	// NTFS drops trailing dots and spaces; "git~1" is the 8.3 name.
	trimmed := strings.TrimRight(name, ". ")
	return strings.EqualFold(trimmed, ".git") || strings.EqualFold(trimmed, "git~1")
}

// hfsIgnored are the code points HFS+ ignores in names.
const hfsIgnored = "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u206a\u206b\u206c\u206d\u206e\u206f\ufeff"

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
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
