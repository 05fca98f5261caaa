package gitobj

import (
	"bytes"
	"net/url"
	"strings"
)

// Limits from git's attr.c (CVE-2022-23521 fixes).
const (
	MaxGitattributesSize = 100 << 20
	MaxGitattributesLine = 2048
)

// CheckGitmodules runs git fsck's .gitmodules checks on a blob that a tree
// names .gitmodules: submodule names that climb out with "..", paths and
// URLs that look like command-line options, URLs with newlines or an empty
// host, and "update = !command". A blob that does not parse as git config
// is accepted, as git does (gitmodulesParse is INFO).
func CheckGitmodules(id OID, data []byte) error {
	entries, ok := parseConfig(data)
	if !ok {
		return nil
	}
	for _, kv := range entries {
		section, rest, ok := strings.Cut(kv.key, ".")
		if !ok || section != "submodule" {
			continue
		}
		dot := strings.LastIndexByte(rest, '.')
		if dot < 0 {
			continue
		}
		name, key := rest[:dot], rest[dot+1:]
		if !validSubmoduleName(name) {
			return fsckErr(id, "gitmodulesName", "disallowed submodule name: %s", name)
		}
		if !kv.hasValue {
			continue
		}
		switch key {
		case "url":
			if !validSubmoduleURL(kv.value) {
				return fsckErr(id, "gitmodulesUrl", "disallowed submodule url: %s", kv.value)
			}
		case "path":
			if strings.HasPrefix(kv.value, "-") {
				return fsckErr(id, "gitmodulesPath", "disallowed submodule path: %s", kv.value)
			}
		case "update":
			if strings.HasPrefix(kv.value, "!") {
				return fsckErr(id, "gitmodulesUpdate", "disallowed submodule update setting: %s", kv.value)
			}
		}
	}
	return nil
}

// CheckGitattributes runs git fsck's .gitattributes size checks.
func CheckGitattributes(id OID, data []byte) error {
	if len(data) > MaxGitattributesSize {
		return fsckErr(id, "gitattributesLarge", ".gitattributes too large to parse")
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if len(line) >= MaxGitattributesLine {
			return fsckErr(id, "gitattributesLineLength", ".gitattributes has too long lines to parse")
		}
	}
	return nil
}

func isSep(c byte) bool { return c == '/' || c == '\\' }

// validSubmoduleName is check_submodule_name: non-empty, no ".."
// component under either separator.
func validSubmoduleName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i <= len(name); i++ {
		if i == 0 || isSep(name[i-1]) {
			if strings.HasPrefix(name[i:], "..") && (len(name) == i+2 || isSep(name[i+2])) {
				return false
			}
		}
	}
	return true
}

// validSubmoduleURL is check_submodule_url.
func validSubmoduleURL(u string) bool {
	if strings.HasPrefix(u, "-") {
		return false
	}
	if strings.HasPrefix(u, "./") || strings.HasPrefix(u, "../") || strings.HasPrefix(u, "git://") {
		if strings.Contains(urlDecode(u), "\n") {
			return false
		}
		next, dotdots := u, 0
		for {
			if strings.HasPrefix(next, "./") {
				next = next[2:]
			} else if strings.HasPrefix(next, "../") {
				next = next[3:]
				dotdots++
			} else {
				break
			}
		}
		return !(dotdots > 0 && (strings.HasPrefix(next, ":") || strings.HasPrefix(next, "/")))
	}
	curl := u
	for _, p := range []string{"http::", "https::", "ftp::", "ftps::"} {
		curl = strings.TrimPrefix(curl, p)
	}
	for _, s := range []string{"http://", "https://", "ftp://", "ftps://"} {
		if strings.HasPrefix(curl, s) {
			if strings.Contains(urlDecode(curl), "\n") {
				return false
			}
			host := curl[len(s):]
			if i := strings.IndexAny(host, "/?#"); i >= 0 {
				host = host[:i]
			}
			if i := strings.LastIndexByte(host, '@'); i >= 0 {
				host = host[i+1:]
			}
			return host != ""
		}
	}
	return true
}

func urlDecode(s string) string {
	d, err := url.PathUnescape(s)
	if err != nil {
		// Decode what can be decoded: a stray '%' must not hide "%0a".
		return strings.ReplaceAll(strings.ReplaceAll(s, "%0a", "\n"), "%0A", "\n")
	}
	return d
}

type configEntry struct {
	key      string // "section.subsection.key", section and key lower-cased
	value    string
	hasValue bool
}

// parseConfig is a small reader of git's config syntax, enough for
// .gitmodules: [section "sub"] and [section.sub] headers, comments,
// quoting, escapes and backslash-newline continuations.
func parseConfig(data []byte) ([]configEntry, bool) {
	var out []configEntry
	s := string(data)
	prefix := ""
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\n' || c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#' || c == ';':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '[':
			end := i + 1
			for end < len(s) && s[end] != ']' && s[end] != '"' && s[end] != '\n' && s[end] != ' ' {
				end++
			}
			name := strings.ToLower(s[i+1 : end])
			if end < len(s) && s[end] == ' ' {
				// [section "subsection"]
				j := end
				for j < len(s) && s[j] == ' ' {
					j++
				}
				if j >= len(s) || s[j] != '"' {
					return out, false
				}
				j++
				var sub strings.Builder
				for ; j < len(s) && s[j] != '"'; j++ {
					if s[j] == '\n' {
						return out, false
					}
					if s[j] == '\\' && j+1 < len(s) {
						j++
					}
					sub.WriteByte(s[j])
				}
				if j+1 >= len(s) || s[j+1] != ']' {
					return out, false
				}
				prefix = name + "." + sub.String()
				i = j + 2
			} else {
				if end >= len(s) || s[end] != ']' {
					return out, false
				}
				if sec, sub, ok := strings.Cut(s[i+1:end], "."); ok {
					prefix = strings.ToLower(sec) + "." + sub
				} else {
					prefix = name
				}
				i = end + 1
			}
		case isKeyChar(c):
			if prefix == "" {
				return out, false
			}
			j := i
			for j < len(s) && isKeyChar(s[j]) {
				j++
			}
			e := configEntry{key: prefix + "." + strings.ToLower(s[i:j])}
			for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			if j < len(s) && s[j] == '=' {
				var ok bool
				e.value, j, ok = parseValue(s, j+1)
				if !ok {
					return out, false
				}
				e.hasValue = true
			} else if j < len(s) && s[j] != '\n' && s[j] != '#' && s[j] != ';' && s[j] != '\r' {
				return out, false
			}
			out = append(out, e)
			i = j
		default:
			return out, false
		}
	}
	return out, true
}

func isKeyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
}

// parseValue reads a config value from s[i:] to the end of its line.
func parseValue(s string, i int) (string, int, bool) {
	var b strings.Builder
	quoted := false
	pendingSpace := 0
	started := false
	for ; i < len(s); i++ {
		c := s[i]
		if c == '\n' {
			if quoted {
				return "", i, false
			}
			break
		}
		if !quoted && (c == '#' || c == ';') {
			for i < len(s) && s[i] != '\n' {
				i++
			}
			break
		}
		if !quoted && (c == ' ' || c == '\t') {
			if started {
				pendingSpace++
			}
			continue
		}
		for ; pendingSpace > 0; pendingSpace-- {
			b.WriteByte(' ')
		}
		started = true
		switch c {
		case '"':
			quoted = !quoted
		case '\\':
			i++
			if i >= len(s) {
				return "", i, false
			}
			switch s[i] {
			case '\n':
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'b':
				b.WriteByte('\b')
			case '\\', '"':
				b.WriteByte(s[i])
			default:
				return "", i, false
			}
		default:
			b.WriteByte(c)
		}
	}
	if quoted {
		return "", i, false
	}
	return b.String(), i, true
}

// PassesLateChecks reports whether a blob passes CheckGitmodules and
// CheckGitattributes whatever it is named, decided cheaply: no
// "submodule" in any letter case (a .gitmodules check fails only on keys
// of a submodule section) and no line of MaxGitattributesLine bytes or
// more. A receiver that sees a blob before the tree that names it
// .gitmodules or .gitattributes keeps only the blobs that do not pass,
// not every small blob in case.
func PassesLateChecks(data []byte) bool {
	return len(data) <= MaxGitattributesSize && !hasLongLine(data, MaxGitattributesLine) && !containsSubmodule(data)
}

// hasLongLine reports whether data has a line (ended by '\n' or by the
// end of data) of n bytes or more. It looks at n bytes at a time from the
// start of a line, back from their end for the last '\n': every line
// before it is shorter than n, and a stretch of n bytes without one is a
// long line. A text file costs a few bytes per window, not a call per line.
func hasLongLine(data []byte, n int) bool {
	for len(data) >= n {
		nl := bytes.LastIndexByte(data[:n], '\n')
		if nl < 0 {
			return true
		}
		data = data[nl+1:]
	}
	return false
}

var submoduleWord = []byte("submodule")

// containsSubmodule reports whether data contains "submodule" in any
// letter case: each 'b' or 'B' is looked at (bytes.IndexByte is fast), and
// compared further only where an 'm' or 'M' follows it.
func containsSubmodule(data []byte) bool {
	const before, after = 2, 7 // "su" before the b, "module" and the b itself from it
	if len(data) < before+after {
		return false
	}
	for _, b := range []byte{'b', 'B'} {
		for i := before; ; {
			j := bytes.IndexByte(data[i:len(data)-after+1], b)
			if j < 0 {
				break
			}
			j += i
			if data[j+1]|0x20 == 'm' && bytes.EqualFold(data[j-before:j+after], submoduleWord) {
				return true
			}
			i = j + 1
		}
	}
	return false
}
