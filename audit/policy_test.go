package audit

import (
	"errors"
	"strings"
	"testing"
)

const testPolicy = `
# who is who
role maintainer alice
role developer bob carol
role auditor dave

allow RWFD refs/**                     @maintainer
deny  +    refs/heads/main             *          # nobody else forces or deletes main
allow RW+  refs/heads/agents/{user}/** @developer
allow RW   refs/heads/*                @developer
deny  W    refs/tags/v*                bob
allow RW   refs/tags/**                @developer
allow R    refs/**                     *
`

func TestPolicyRules(t *testing.T) {
	p, err := ParsePolicy(testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, ref string
		op        Op
		allow     bool
		why       string // a substring of the reason
	}{
		{"alice", "refs/heads/main", OpForce, true, "rule 1"},
		{"alice", "refs/tags/v1", OpDelete, true, "rule 1"},
		{"bob", "refs/heads/main", OpWrite, true, "rule 4"},
		{"bob", "refs/heads/main", OpForce, false, "rule 2"},
		{"bob", "refs/heads/main", OpDelete, false, "rule 2"},
		{"bob", "refs/heads/feature", OpForce, false, "default"},
		{"bob", "refs/heads/agents/bob/x/y", OpForce, true, "rule 3"},
		{"bob", "refs/heads/agents/carol/x", OpForce, false, "default"},
		{"bob", "refs/heads/agents/carol/x", OpWrite, false, "default"},
		{"bob", "refs/heads/a/b", OpWrite, false, "default"}, // '*' stays in one component
		{"bob", "refs/tags/v1.0", OpWrite, false, "rule 5"},
		{"carol", "refs/tags/v1.0", OpWrite, true, "rule 6"},
		{"bob", "refs/heads/main", OpRead, true, "rule 4"},
		{"eve", "refs/heads/main", OpRead, true, "rule 7"},
		{"eve", "refs/heads/main", OpWrite, false, "default"},
		{"eve", "refs/notes/x", OpWrite, false, "default"},
		{"dave", "refs/heads/main", OpRead, true, "auditor may read"},
		{"dave", "refs/heads/main", OpWrite, false, "auditor can never"},
		{"dave", "refs/heads/x", OpDelete, false, "auditor can never"},
		{"a*b", "refs/heads/agents/a*b/x", OpWrite, false, "default"}, // odd names never widen {user}
	}
	for _, tc := range tests {
		t.Run(tc.user+" "+string(tc.op)+" "+tc.ref, func(t *testing.T) {
			d := p.Explain(tc.user, tc.ref, tc.op)
			if d.Allow != tc.allow || !strings.Contains(d.Reason, tc.why) {
				t.Errorf("got allow=%v %q, want allow=%v %q", d.Allow, d.Reason, tc.allow, tc.why)
			}
			err := p.Authorize(tc.user, tc.ref, tc.op)
			var de *DeniedError
			if tc.allow {
				if err != nil {
					t.Errorf("Authorize: %v", err)
				}
			} else if !errors.As(err, &de) || de.Subject != tc.user || de.Ref != tc.ref || de.Action != string(tc.op) {
				t.Errorf("Authorize: %v, want a *DeniedError", err)
			}
		})
	}
}

func TestPolicyActions(t *testing.T) {
	p, _ := ParsePolicy(testPolicy)
	for _, tc := range []struct {
		user string
		a    Action
		ok   bool
	}{
		{"alice", ActionPolicySet, true},
		{"bob", ActionPolicySet, false},
		{"dave", ActionPolicySet, false},
		{"alice", ActionKeyRotate, true},
		{"carol", ActionKeyRotate, false},
		{"dave", ActionAuditRead, true},
		{"alice", ActionAuditRead, true},
		{"bob", ActionAuditRead, false},
		{"alice", Action("launch"), false},
	} {
		err := p.AuthorizeAction(tc.user, tc.a)
		var de *DeniedError
		if tc.ok != (err == nil) || (err != nil && !errors.As(err, &de)) {
			t.Errorf("%s %s: %v, want ok=%v", tc.user, tc.a, err, tc.ok)
		}
	}
	if got := p.Maintainers(); len(got) != 1 || got[0] != "alice" {
		t.Errorf("Maintainers = %v", got)
	}
	if !strings.HasPrefix(p.Digest(), "sha256:") || p.Text() != testPolicy {
		t.Error("Digest/Text")
	}
	de := &DeniedError{Subject: "bob", Action: "policy-set", Reason: "it takes a maintainer"}
	if de.Error() != `audit: "bob" may not policy-set: it takes a maintainer` {
		t.Errorf("Error() = %q", de.Error())
	}
}

func TestPolicyRejects(t *testing.T) {
	const m = "role maintainer alice\n"
	for name, text := range map[string]string{
		"no maintainer":        "role developer bob\nallow R refs/** *\n",
		"auditor also dev":     m + "role auditor dave\nrole developer dave\n",
		"auditor also maint":   m + "role auditor alice\n",
		"write to @auditor":    m + "allow RW refs/** @auditor\n",
		"write to an auditor":  m + "role auditor dave\nallow W refs/heads/* dave\n",
		"unknown role":         m + "role admin bob\n",
		"unknown role subject": m + "allow R refs/** @admins\n",
		"unknown op":           m + "allow RX refs/** *\n",
		"bad pattern":          m + "allow R refs/[a] *\n",
		"short rule":           m + "allow R refs/**\n",
		"short role":           "role maintainer\n",
		"bad user":             m + "role developer b/ob\n",
		"bad subject":          m + "allow R refs/** b/ob\n",
		"unknown directive":    m + "permit R refs/** *\n",
	} {
		if _, err := ParsePolicy(text); !errors.Is(err, ErrBadPolicy) {
			t.Errorf("%s: %v, want ErrBadPolicy", name, err)
		}
	}
	// Reading is fine for an auditor rule; duplicates of a role are merged.
	p, err := ParsePolicy(m + "role maintainer alice\nrole auditor dave\nallow R refs/** @auditor dave\n")
	if err != nil || len(p.Roles["alice"]) != 1 {
		t.Errorf("valid policy: %v %v", err, p)
	}
}

func TestParseOp(t *testing.T) {
	for in, want := range map[string]Op{"read": OpRead, "R": OpRead, "w": OpWrite, "force": OpForce, "+": OpForce, "D": OpDelete} {
		if got, err := ParseOp(in); err != nil || got != want {
			t.Errorf("ParseOp(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseOp("push"); err == nil {
		t.Error("ParseOp(push) succeeded")
	}
}
