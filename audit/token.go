package audit

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Bearer tokens let a program reach a served store over TLS as a user of
// the policy without a client certificate.
//
// A token is shown once, when it is made:
//
//	hlt_<id: 16 hex digits>_<secret: 32 random bytes, base64url, no padding>
//
// The store keeps, per token, its id, user, scope, creation and expiry and
// SHA-256(secret), never the secret. A plain (fast) hash is enough because
// the secret is 256 uniformly random bits: nobody can guess it, so there is
// no dictionary to slow down, and whoever reads the stored hash still
// cannot present the token. The id, which is not secret, names the token in
// `helios token list` and `revoke` and in audit records, and finds the
// stored entry without scanning; the secret is then compared in constant
// time.
//
// A token's scope narrows, never widens, what the policy lets its user do:
// Ops is a subset of the letters R W F D (the ref operations) and M
// (maintenance: stop, gc, fsck, token changes, each of which also needs the
// maintainer role), Refs a ref pattern in the policy's syntax. A request is
// allowed only when both the policy and the scope allow it.
//
// The token set is kept in the store beside the policy (TokensKey), so that
// every change is written in the same atomic batch as its audit record, is
// sealed with the store's other values when the store is encrypted, and is
// read only by the process that owns the database (helios serve).

// TokensKey is where the store keeps its token set (under the audit log's
// 'a' prefix, like PolicyKey).
var TokensKey = []byte("at")

// EventToken records a token made or revoked; its attributes name the
// token's id, user, scope and expiry, and the digest of the new token set.
const EventToken Event = "token"

// ActionTokenAdmin is making, listing and revoking tokens: a maintainer's.
const ActionTokenAdmin Action = "token-admin"

// OpMaintain is a token scope letter: maintenance requests (stop, gc, fsck,
// token changes). It is not a ref operation.
const OpMaintain Op = "maintain"

// MaxTokenLifetime bounds a token's expiry: every token expires.
const MaxTokenLifetime = 366 * 24 * time.Hour

const tokenPrefix = "hlt_"

// ErrBadToken is returned for a token that is malformed, unknown, revoked
// or expired. The message does not say which, to whoever presents it.
var ErrBadToken = errors.New("audit: invalid or expired token")

// Token is a stored token: everything but its secret.
type Token struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Ops     string    `json:"ops"`  // letters of R W F D M
	Refs    string    `json:"refs"` // ref pattern
	Note    string    `json:"note,omitempty"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Hash    string    `json:"sha256"` // hex SHA-256 of the secret
}

// TokenScope is what a new token may do; zero values mean everything the
// user may (Ops "RWFD": no maintenance unless asked; Refs "**").
type TokenScope struct {
	Ops  string
	Refs string
}

func (sc *TokenScope) normalize() error {
	if sc.Ops == "" {
		sc.Ops = "RWFD"
	}
	if sc.Refs == "" {
		sc.Refs = "**"
	}
	var ops []byte
	for _, c := range strings.ToUpper(sc.Ops) {
		if !strings.ContainsRune("RWFDM", c) {
			return fmt.Errorf("%w: scope operation %q (want letters of RWFDM)", ErrBadPolicy, string(c))
		}
		if !slices.Contains(ops, byte(c)) {
			ops = append(ops, byte(c))
		}
	}
	sc.Ops = string(ops)
	if _, err := compilePattern(sc.Refs); err != nil {
		return fmt.Errorf("%w: scope: %v", ErrBadPolicy, err)
	}
	return nil
}

// NewToken makes a token for user with scope, valid for life from now. It
// returns the token text, to be shown once, and the entry to store. rnd
// is the randomness (crypto/rand.Reader; tests inject theirs).
func NewToken(rnd io.Reader, user string, scope TokenScope, life time.Duration, now time.Time, note string) (string, Token, error) {
	if !validUser(user) {
		return "", Token{}, fmt.Errorf("%w: bad user name %q", ErrBadPolicy, user)
	}
	if life <= 0 || life > MaxTokenLifetime {
		return "", Token{}, fmt.Errorf("audit: token lifetime %v outside (0, %v]", life, MaxTokenLifetime)
	}
	if err := scope.normalize(); err != nil {
		return "", Token{}, err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	var id [8]byte
	var secret [32]byte
	if _, err := io.ReadFull(rnd, id[:]); err != nil {
		return "", Token{}, err
	}
	if _, err := io.ReadFull(rnd, secret[:]); err != nil {
		return "", Token{}, err
	}
	t := Token{
		ID: hex.EncodeToString(id[:]), User: user, Ops: scope.Ops, Refs: scope.Refs, Note: note,
		Created: now.UTC().Truncate(time.Second), Expires: now.Add(life).UTC().Truncate(time.Second),
		Hash: hashSecret(secret[:]),
	}
	text := tokenPrefix + t.ID + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	return text, t, nil
}

func hashSecret(secret []byte) string {
	h := sha256.Sum256(secret)
	return hex.EncodeToString(h[:])
}

// SplitToken parses a token's text into its id and secret.
func SplitToken(text string) (id string, secret []byte, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(text), tokenPrefix)
	if !ok {
		return "", nil, ErrBadToken
	}
	id, s64, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 {
		return "", nil, ErrBadToken
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", nil, ErrBadToken
	}
	secret, err = base64.RawURLEncoding.DecodeString(s64)
	if err != nil || len(secret) != 32 {
		return "", nil, ErrBadToken
	}
	return id, secret, nil
}

// Expired reports whether the token has expired at now.
func (t *Token) Expired(now time.Time) bool { return !now.Before(t.Expires) }

// Scope is the token's scope in the text form list and audit records use:
// "OPS on REFS".
func (t *Token) Scope() string { return t.Ops + " on " + t.Refs }

// Allows checks the token's scope for op on ref ("" for a store-wide
// request): nil or a *DeniedError.
func (t *Token) Allows(ref string, op Op) error {
	letter := map[Op]string{OpRead: "R", OpWrite: "W", OpForce: "F", OpDelete: "D", OpMaintain: "M"}[op]
	deny := func(why string) error {
		return &DeniedError{Subject: t.User, Action: string(op), Ref: ref, Reason: fmt.Sprintf("token %s is scoped to %s: %s", t.ID, t.Scope(), why)}
	}
	if letter == "" || !strings.Contains(t.Ops, letter) {
		return deny("not " + string(op))
	}
	if ref == "" {
		return nil
	}
	re, err := compilePattern(t.Refs)
	if err != nil || !re.MatchString(ref) {
		return deny("not this ref")
	}
	return nil
}

// Tokens is the store's token set, by id.
type Tokens map[string]Token

// ParseTokens decodes a stored token set (nil or empty: none).
func ParseTokens(data []byte) (Tokens, error) {
	ts := Tokens{}
	if len(data) == 0 {
		return ts, nil
	}
	var list []Token
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("audit: token set: %w", err)
	}
	for _, t := range list {
		if len(t.ID) != 16 || len(t.Hash) != 64 {
			return nil, fmt.Errorf("audit: token set: malformed entry %q", t.ID)
		}
		ts[t.ID] = t
	}
	return ts, nil
}

// Encode is the stored form: a JSON list sorted by id, so that one set
// has one encoding (and one Digest).
func (ts Tokens) Encode() []byte {
	list := ts.List()
	b, _ := json.Marshal(list)
	return b
}

// List returns the tokens sorted by creation, then id.
func (ts Tokens) List() []Token {
	list := make([]Token, 0, len(ts))
	for _, t := range ts {
		list = append(list, t)
	}
	slices.SortFunc(list, func(a, b Token) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return list
}

// Digest is the SHA-256 of the set's stored form, as token records carry it.
func (ts Tokens) Digest() string {
	h := sha256.Sum256(ts.Encode())
	return "sha256:" + hex.EncodeToString(h[:])
}

// Verify finds the token text presents, checks its secret (in constant
// time) and expiry at now, and returns it; ErrBadToken otherwise.
func (ts Tokens) Verify(text string, now time.Time) (*Token, error) {
	id, secret, err := SplitToken(text)
	if err != nil {
		return nil, err
	}
	t, ok := ts[id]
	if !ok {
		return nil, ErrBadToken
	}
	want, err := hex.DecodeString(t.Hash)
	if err != nil {
		return nil, ErrBadToken
	}
	got := sha256.Sum256(secret)
	if subtle.ConstantTimeCompare(got[:], want) != 1 || t.Expired(now) {
		return nil, ErrBadToken
	}
	return &t, nil
}
