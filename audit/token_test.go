package audit

import (
	"bytes"
	"errors"
	"math/rand"
	"strings"
	"testing"
	"time"
)

func TestTokenRoundTrip(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewSource(seed))
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	text, tok, err := NewToken(rnd, "bob", TokenScope{Ops: "rw", Refs: "refs/heads/agents/**"}, time.Hour, now, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, "hlt_"+tok.ID+"_") {
		t.Fatalf("token text %q does not start with its id %q", text, tok.ID)
	}
	_, secret, err := SplitToken(text)
	if err != nil {
		t.Fatal(err)
	}
	ts := Tokens{tok.ID: tok}
	stored := ts.Encode()
	if bytes.Contains(stored, secret) || strings.Contains(string(stored), text[len("hlt_")+17:]) {
		t.Fatalf("the stored set holds the secret: %s", stored)
	}
	back, err := ParseTokens(stored)
	if err != nil {
		t.Fatal(err)
	}
	got, err := back.Verify(text, now.Add(time.Minute))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if got.User != "bob" || got.Ops != "RW" || got.Refs != "refs/heads/agents/**" {
		t.Errorf("got %+v, want bob RW on refs/heads/agents/**", got)
	}
	if back.Digest() != ts.Digest() {
		t.Errorf("digest changed over a round trip")
	}

	// Expired, tampered, unknown, malformed: all ErrBadToken.
	bad := map[string]string{
		"expired":   text,
		"tampered":  text[:len(text)-2] + flip(text[len(text)-2:]),
		"unknown":   "hlt_0000000000000000_" + text[len("hlt_")+17:],
		"malformed": "hlt_xyz",
		"empty":     "",
	}
	for name, tt := range bad {
		at := now.Add(time.Minute)
		if name == "expired" {
			at = now.Add(time.Hour)
		}
		if _, err := back.Verify(tt, at); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s: got %v, want ErrBadToken", name, err)
		}
	}
}

func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestTokenScope(t *testing.T) {
	now := time.Now()
	_, tok, err := NewToken(nil, "bob", TokenScope{Ops: "RW", Refs: "refs/heads/agents/**"}, time.Hour, now, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref   string
		op    Op
		allow bool
	}{
		{"refs/heads/agents/a/b", OpWrite, true},
		{"refs/heads/agents/a/b", OpRead, true},
		{"refs/heads/agents/a/b", OpForce, false},
		{"refs/heads/main", OpWrite, false},
		{"", OpMaintain, false},
		{"", OpRead, true},
	}
	for _, tc := range tests {
		err := tok.Allows(tc.ref, tc.op)
		if (err == nil) != tc.allow {
			t.Errorf("%s %s: got %v, want allow=%v", tc.op, tc.ref, err, tc.allow)
		}
		var de *DeniedError
		if err != nil && !errors.As(err, &de) {
			t.Errorf("%s %s: got %T, want *DeniedError", tc.op, tc.ref, err)
		}
	}
	for _, bad := range []TokenScope{{Ops: "RX"}, {Refs: "refs/[x]"}} {
		if _, _, err := NewToken(nil, "bob", bad, time.Hour, now, ""); err == nil {
			t.Errorf("scope %+v accepted", bad)
		}
	}
	if _, _, err := NewToken(nil, "bob", TokenScope{}, 2*MaxTokenLifetime, now, ""); err == nil {
		t.Error("a token beyond the maximum lifetime was made")
	}
	if _, _, err := NewToken(nil, "bad user", TokenScope{}, time.Hour, now, ""); err == nil {
		t.Error("a token for a bad user name was made")
	}
}
