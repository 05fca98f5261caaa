package audit

import (
	"regexp"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// TestNameCheckersMatchTheirRegexps checks the hand-written checkers
// against the regular expressions they replace.
func TestNameCheckersMatchTheirRegexps(t *testing.T) {
	userRE := regexp.MustCompile(`^[A-Za-z0-9._@:+-]{1,128}$`)
	wordRE := regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	for _, s := range []string{"", "a", "alice@example.com", "a b", "é", strings.Repeat("x", 128), strings.Repeat("x", 129), "-x", "x-", "A", "a_b", "a\n", strings.Repeat("y", 32), strings.Repeat("y", 33)} {
		if validUser(s) != userRE.MatchString(s) {
			t.Errorf("validUser(%q) = %v", s, validUser(s))
		}
		if validWord(s) != wordRE.MatchString(s) {
			t.Errorf("validWord(%q) = %v", s, validWord(s))
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.StringMatching(`[a-zA-Z0-9._@:+\- é\n-]{0,140}`).Draw(t, "s")
		if validUser(s) != userRE.MatchString(s) {
			t.Fatalf("validUser(%q) = %v", s, validUser(s))
		}
		if validWord(s) != wordRE.MatchString(s) {
			t.Fatalf("validWord(%q) = %v", s, validWord(s))
		}
	})
}
