package helper

import (
	"fmt"
	"strings"
)

// MaxRefNameLength bounds ref names the helper accepts.
const MaxRefNameLength = 4096

// CheckRefName applies git check-ref-format's rules to a full ref name
// ("refs/..." or "HEAD"): no component starting with '.' or ending in
// ".lock", no "..", no control characters, space, ~ ^ : ? * [ \ or DEL,
// no leading, trailing or doubled '/', no trailing '.', no "@{", not "@".
func CheckRefName(name string) error {
	if name == "HEAD" {
		return nil
	}
	bad := func(why string) error { return fmt.Errorf("helper: bad ref name %q: %s", name, why) }
	switch {
	case len(name) > MaxRefNameLength:
		return bad("too long")
	case !strings.HasPrefix(name, "refs/"):
		return bad("not under refs/")
	case strings.HasSuffix(name, "/"), strings.Contains(name, "//"):
		return bad("empty component")
	case strings.HasSuffix(name, "."):
		return bad("ends with '.'")
	case strings.Contains(name, ".."):
		return bad("contains '..'")
	case strings.Contains(name, "@{"):
		return bad("contains '@{'")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte(" ~^:?*[\\", c) >= 0 {
			return bad("forbidden character")
		}
	}
	for comp := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(comp, ".") {
			return bad("component starts with '.'")
		}
		if strings.HasSuffix(comp, ".lock") {
			return bad("component ends with '.lock'")
		}
	}
	return nil
}
