package audit

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Role is what a user is to the store.
type Role string

// The roles. An auditor reads the audit log and can never write; the
// policy refuses a user who is an auditor and also a developer or
// maintainer.
const (
	Developer  Role = "developer"
	Maintainer Role = "maintainer"
	Auditor    Role = "auditor"
)

// Op is an operation on a ref.
type Op string

// The ref operations: read (fetch), write (fast-forward or create), force
// (non-fast-forward) and delete.
const (
	OpRead   Op = "read"
	OpWrite  Op = "write"
	OpForce  Op = "force"
	OpDelete Op = "delete"
)

// Action is a store-wide operation that is not about one ref.
type Action string

// The store-wide actions and who may do them: changing the policy,
// rotating keys, managing tokens and maintaining the store (stopping its
// server, gc, fsck) take a maintainer; reading the audit log an auditor or
// a maintainer.
const (
	ActionPolicySet Action = "policy-set"
	ActionKeyRotate Action = "key-rotate"
	ActionAuditRead Action = "audit-read"
	ActionMaintain  Action = "maintain"
)

// ParseOp parses an operation name (read, write, force, delete, or its
// letter R, W, F, D).
func ParseOp(s string) (Op, error) {
	switch strings.ToLower(s) {
	case "read", "r":
		return OpRead, nil
	case "write", "w":
		return OpWrite, nil
	case "force", "f", "+":
		return OpForce, nil
	case "delete", "d":
		return OpDelete, nil
	}
	return "", fmt.Errorf("audit: unknown operation %q (want read, write, force or delete)", s)
}

// DeniedError is a refusal by the policy. Subject is the user, Action the
// operation (an Op or an Action), Ref the ref ("" for store-wide actions),
// Reason which rule decided.
type DeniedError struct {
	Subject string
	Action  string
	Ref     string
	Reason  string
}

func (e *DeniedError) Error() string {
	if e.Ref == "" {
		return fmt.Sprintf("audit: %q may not %s: %s", e.Subject, e.Action, e.Reason)
	}
	return fmt.Sprintf("audit: %q may not %s %s: %s", e.Subject, e.Action, e.Ref, e.Reason)
}

// ErrBadPolicy is returned for a policy text that does not parse or breaks
// a constraint.
var ErrBadPolicy = errors.New("audit: invalid policy")

// Rule is one access line of a policy.
type Rule struct {
	Allow    bool
	Ops      []Op
	Pattern  string
	Subjects []string // user names, "@role", or "*" for anyone
	Line     int
	Text     string
	re       *regexp.Regexp
}

// Policy is the store's access policy: roles, and ordered rules over ref
// patterns. For a request (user, ref, op) the rules are read in order; the
// first rule whose subjects include the user, whose pattern matches the ref
// and whose operations include op decides, allow or deny. No such rule
// means deny. Built in, before any rule: an auditor may read every ref and
// may never write, force or delete.
//
// The text form, one directive a line, '#' comments:
//
//	role maintainer alice
//	role developer bob carol
//	role auditor dave
//	allow RWFD refs/**                  @maintainer
//	deny  FD   refs/heads/main          *
//	allow RW   refs/heads/agents/{user}/** @developer
//	allow RW   refs/heads/**            @developer
//	allow R    refs/**                  *
//
// Operations are letters R W F D ("+" is F and D, as in gitolite's RW+).
// In patterns '*' matches within one path component, '**' across
// components, and "{user}" stands for the requesting user's name.
type Policy struct {
	Roles map[string][]Role // user → roles
	Rules []Rule
	text  string
}

// validUser reports whether s is a user name: 1 to 128 of A-Z a-z 0-9 and
// ._@:+- (a loop, not a regexp: the regexp's 128 repetitions cost every
// process, the remote helper too, 2,000 allocations at start-up).
func validUser(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._@:+-", c) >= 0) {
			return false
		}
	}
	return true
}

// ParsePolicy parses and checks a policy text.
func ParsePolicy(text string) (*Policy, error) {
	p := &Policy{Roles: map[string][]Role{}, text: text}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for ln := 1; sc.Scan(); ln++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%w: line %d: %s", ErrBadPolicy, ln, fmt.Sprintf(format, a...))
		}
		switch f[0] {
		case "role":
			if len(f) < 3 {
				return nil, bad("want: role ROLE USER...")
			}
			r := Role(f[1])
			if r != Developer && r != Maintainer && r != Auditor {
				return nil, bad("unknown role %q", f[1])
			}
			for _, u := range f[2:] {
				if !validUser(u) {
					return nil, bad("bad user name %q", u)
				}
				if !slices.Contains(p.Roles[u], r) {
					p.Roles[u] = append(p.Roles[u], r)
				}
			}
		case "allow", "deny":
			if len(f) < 4 {
				return nil, bad("want: %s OPS PATTERN SUBJECT...", f[0])
			}
			r := Rule{Allow: f[0] == "allow", Pattern: f[2], Subjects: f[3:], Line: ln, Text: strings.Join(f, " ")}
			for _, c := range f[1] {
				switch c {
				case '+':
					r.Ops = append(r.Ops, OpForce, OpDelete)
				default:
					op, err := ParseOp(string(c))
					if err != nil {
						return nil, bad("unknown operation %q", string(c))
					}
					r.Ops = append(r.Ops, op)
				}
			}
			re, err := compilePattern(r.Pattern)
			if err != nil {
				return nil, bad("%v", err)
			}
			r.re = re
			for _, s := range r.Subjects {
				switch {
				case s == "*":
				case strings.HasPrefix(s, "@"):
					if rr := Role(s[1:]); rr != Developer && rr != Maintainer && rr != Auditor {
						return nil, bad("unknown role %q", s)
					}
					if Role(s[1:]) == Auditor && r.Allow && r.grantsWrite() {
						return nil, bad("an auditor can never write, force or delete")
					}
				case !validUser(s):
					return nil, bad("bad subject %q", s)
				}
			}
			p.Rules = append(p.Rules, r)
		default:
			return nil, bad("unknown directive %q", f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPolicy, err)
	}
	for u, rs := range p.Roles {
		if slices.Contains(rs, Auditor) && len(rs) > 1 {
			return nil, fmt.Errorf("%w: %q is an auditor and also a %s: an auditor holds no other role", ErrBadPolicy, u, otherRole(rs))
		}
	}
	for _, r := range p.Rules {
		if !r.Allow || !r.grantsWrite() {
			continue
		}
		for _, s := range r.Subjects {
			if rs := p.Roles[s]; slices.Contains(rs, Auditor) {
				return nil, fmt.Errorf("%w: line %d grants %q, an auditor, more than read", ErrBadPolicy, r.Line, s)
			}
		}
	}
	if len(p.Maintainers()) == 0 {
		return nil, fmt.Errorf("%w: no maintainer (nobody could change the policy again)", ErrBadPolicy)
	}
	return p, nil
}

func otherRole(rs []Role) Role {
	for _, r := range rs {
		if r != Auditor {
			return r
		}
	}
	return ""
}

func (r *Rule) grantsWrite() bool {
	return slices.ContainsFunc(r.Ops, func(o Op) bool { return o != OpRead })
}

// compilePattern turns a ref pattern into an anchored regexp.
func compilePattern(pat string) (*regexp.Regexp, error) {
	if pat == "" || strings.ContainsAny(pat, " \t\\?[") {
		return nil, fmt.Errorf("bad ref pattern %q", pat)
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pat); {
		switch {
		case strings.HasPrefix(pat[i:], "**"):
			b.WriteString(".*")
			i += 2
		case pat[i] == '*':
			b.WriteString("[^/]*")
			i++
		case strings.HasPrefix(pat[i:], "{user}"):
			b.WriteString(`\{user\}`)
			i += len("{user}")
		default:
			b.WriteString(regexp.QuoteMeta(pat[i : i+1]))
			i++
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// Text is the policy as it was written.
func (p *Policy) Text() string { return p.text }

// Digest is the SHA-256 of the policy text, as the audit log records it.
func (p *Policy) Digest() string {
	h := sha256.Sum256([]byte(p.text))
	return "sha256:" + hex.EncodeToString(h[:])
}

// Maintainers lists the users with the maintainer role, sorted.
func (p *Policy) Maintainers() []string {
	var out []string
	for u, rs := range p.Roles {
		if slices.Contains(rs, Maintainer) {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

// HasRole reports whether user holds role.
func (p *Policy) HasRole(user string, r Role) bool { return slices.Contains(p.Roles[user], r) }

// Decision is the outcome of a request and why.
type Decision struct {
	Allow  bool
	Rule   *Rule // the rule that decided; nil for a built-in or the default
	Reason string
}

// Explain decides a ref request and says why.
func (p *Policy) Explain(user, ref string, op Op) Decision {
	if p.HasRole(user, Auditor) {
		if op == OpRead {
			return Decision{Allow: true, Reason: "built-in: an auditor may read every ref"}
		}
		return Decision{Reason: "built-in: an auditor can never write, force or delete"}
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		if !slices.Contains(r.Ops, op) || !p.subjectMatches(r, user) {
			continue
		}
		re := r.re
		if strings.Contains(r.Pattern, "{user}") {
			if !validUser(user) {
				continue
			}
			pat := strings.ReplaceAll(r.Pattern, "{user}", user)
			var err error
			if re, err = compilePattern(pat); err != nil {
				continue
			}
		}
		if !re.MatchString(ref) {
			continue
		}
		verb := "denies"
		if r.Allow {
			verb = "allows"
		}
		return Decision{Allow: r.Allow, Rule: r, Reason: fmt.Sprintf("rule %d (line %d: %s) %s it", i+1, r.Line, r.Text, verb)}
	}
	return Decision{Reason: "no rule matches: denied by default"}
}

func (p *Policy) subjectMatches(r *Rule, user string) bool {
	for _, s := range r.Subjects {
		switch {
		case s == "*", s == user:
			return true
		case strings.HasPrefix(s, "@") && p.HasRole(user, Role(s[1:])):
			return true
		}
	}
	return false
}

// Authorize is the check helios serve and the remote helper make before
// a ref is read or moved: nil, or a *DeniedError saying which rule refused.
func (p *Policy) Authorize(user, ref string, op Op) error {
	d := p.Explain(user, ref, op)
	if d.Allow {
		return nil
	}
	return &DeniedError{Subject: user, Action: string(op), Ref: ref, Reason: d.Reason}
}

// AuthorizeAction checks a store-wide action: nil or a *DeniedError.
func (p *Policy) AuthorizeAction(user string, a Action) error {
	var ok bool
	var need string
	switch a {
	case ActionPolicySet, ActionKeyRotate, ActionTokenAdmin, ActionMaintain:
		ok, need = p.HasRole(user, Maintainer), "a maintainer"
	case ActionAuditRead:
		ok, need = p.HasRole(user, Maintainer) || p.HasRole(user, Auditor), "an auditor or a maintainer"
	default:
		return &DeniedError{Subject: user, Action: string(a), Reason: "unknown action"}
	}
	if ok {
		return nil
	}
	return &DeniedError{Subject: user, Action: string(a), Reason: "it takes " + need}
}
