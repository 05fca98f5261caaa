package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Witness cosignatures follow C2SP tlog-cosignature (c2sp.org/tlog-cosignature),
// version 1: an Ed25519 signature of signature type 0x04 over
//
//	cosignature/v1
//	time <unix seconds>
//	<the checkpoint body>
//
// carried as one more note signature line, "— <witness name>
// base64(key ID ‖ uint64be(time) ‖ signature)", where the key ID is the
// first four bytes of SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key). The
// witness's public key is written "<name>+<hex key ID>+base64(0x04 ‖
// public key)", the signed-note verifier key form; its private key file
// holds "PRIVATE+KEY+<name>+<hex key ID>+base64(0x04 ‖ seed)". The format
// is the one transparency-dev's witnesses and sigsum use, so a Helios
// witness can cosign another log and a third-party witness can cosign
// Helios's.

const algCosignatureV1 = 0x04

// ErrBadWitnessKey is returned for a witness key that does not parse.
var ErrBadWitnessKey = errors.New("audit: bad witness key")

func cosignKeyID(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', algCosignatureV1})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func cosignedMessage(t uint64, msg []byte) []byte {
	return append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), msg...)
}

// GenerateWitnessKey makes a new witness key named name (no spaces, no
// '+'): the private key text and the public key text (what stores and
// clients list).
func GenerateWitnessKey(name string) (skey, vkey string, err error) {
	if !validKeyName(name) {
		return "", "", fmt.Errorf("%w: name %q", ErrBadWitnessKey, name)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	id := cosignKeyID(name, pub)
	skey = fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, id, base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, priv.Seed()...)))
	vkey = fmt.Sprintf("%s+%08x+%s", name, id, base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, pub...)))
	return skey, vkey, nil
}

func validKeyName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "+ \t\n\r") && !strings.ContainsRune(name, '\u2014')
}

// splitKey parses "name+hex+base64(alg‖key)" into its parts.
func splitKey(text string) (name string, id uint32, key []byte, err error) {
	name, rest, ok1 := strings.Cut(text, "+")
	hexID, b64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || !validKeyName(name) || len(hexID) != 8 {
		return "", 0, nil, ErrBadWitnessKey
	}
	n, err := strconv.ParseUint(hexID, 16, 32)
	if err != nil {
		return "", 0, nil, ErrBadWitnessKey
	}
	key, err = base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) != 1+32 || key[0] != algCosignatureV1 {
		return "", 0, nil, ErrBadWitnessKey
	}
	return name, uint32(n), key[1:], nil
}

// cosigner is a witness's note.Signer.
type cosigner struct {
	name string
	id   uint32
	priv ed25519.PrivateKey
	now  func() time.Time
}

func (s *cosigner) Name() string    { return s.name }
func (s *cosigner) KeyHash() uint32 { return s.id }
func (s *cosigner) Sign(msg []byte) ([]byte, error) {
	t := uint64(s.now().Unix())
	sig := binary.BigEndian.AppendUint64(nil, t)
	return append(sig, ed25519.Sign(s.priv, cosignedMessage(t, msg))...), nil
}

// NewCosigner parses a witness private key; now stamps its cosignatures
// (nil: time.Now).
func NewCosigner(skey string, now func() time.Time) (note.Signer, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(skey), "PRIVATE+KEY+")
	if !ok {
		return nil, ErrBadWitnessKey
	}
	name, id, seed, err := splitKey(rest)
	if err != nil {
		return nil, err
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if cosignKeyID(name, priv.Public().(ed25519.PublicKey)) != id {
		return nil, fmt.Errorf("%w: key ID does not match", ErrBadWitnessKey)
	}
	if now == nil {
		now = time.Now
	}
	return &cosigner{name: name, id: id, priv: priv, now: now}, nil
}

// CosignatureVerifier checks one witness's cosignatures (a note.Verifier).
type CosignatureVerifier struct {
	name string
	id   uint32
	pub  ed25519.PublicKey
	text string
}

func (v *CosignatureVerifier) Name() string    { return v.name }
func (v *CosignatureVerifier) KeyHash() uint32 { return v.id }
func (v *CosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(v.pub, cosignedMessage(binary.BigEndian.Uint64(sig), msg), sig[8:])
}

// String is the public key text.
func (v *CosignatureVerifier) String() string { return v.text }

// NewCosignatureVerifier parses a witness public key
// ("name+hex+base64(0x04‖key)").
func NewCosignatureVerifier(vkey string) (*CosignatureVerifier, error) {
	vkey = strings.TrimSpace(vkey)
	name, id, pub, err := splitKey(vkey)
	if err != nil {
		return nil, fmt.Errorf("%w: %q", err, vkey)
	}
	if cosignKeyID(name, pub) != id {
		return nil, fmt.Errorf("%w: key ID does not match in %q", ErrBadWitnessKey, vkey)
	}
	return &CosignatureVerifier{name: name, id: id, pub: ed25519.PublicKey(pub), text: vkey}, nil
}

// LoadCosigner reads a witness private key file; a file readable by group
// or others is refused, as for the store's signing key.
func LoadCosigner(path string, now func() time.Time) (note.Signer, error) {
	b, err := readPrivateKey(path, "witness key")
	if err != nil {
		return nil, err
	}
	s, err := NewCosigner(string(b), now)
	if err != nil {
		return nil, fmt.Errorf("audit: witness key %q: %w", path, err)
	}
	return s, nil
}

// WriteWitnessKey writes a new witness key: the private key to path (mode
// 0600) and the public key to path+".pub", refusing to overwrite either.
func WriteWitnessKey(path, name string) (vkey string, err error) {
	skey, vkey, err := GenerateWitnessKey(name)
	if err != nil {
		return "", err
	}
	if err := writeNew(path, skey+"\n", 0o600); err != nil {
		return "", err
	}
	if err := writeNew(path+".pub", vkey+"\n", 0o644); err != nil {
		os.Remove(path)
		return "", err
	}
	return vkey, nil
}

// WitnessPolicy is whose cosignatures a checkpoint needs: at least Quorum
// of the Witnesses. The zero policy requires nothing.
type WitnessPolicy struct {
	Witnesses []*CosignatureVerifier
	Quorum    int
}

// Empty reports whether the policy requires no cosignature.
func (p WitnessPolicy) Empty() bool { return len(p.Witnesses) == 0 }

// Text is the policy's canonical text: one "witness <key>" line per
// witness, sorted, then "quorum <n>".
func (p WitnessPolicy) Text() string {
	if p.Empty() {
		return ""
	}
	var lines []string
	for _, w := range p.Witnesses {
		lines = append(lines, "witness "+w.String())
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + fmt.Sprintf("\nquorum %d\n", p.Quorum)
}

// ParseWitnessPolicy parses a policy's text: "witness <key>" and "quorum
// <n>" lines, '#' comments. A missing quorum means every witness.
func ParseWitnessPolicy(text string) (WitnessPolicy, error) {
	var p WitnessPolicy
	quorum := -1
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		word, arg, _ := strings.Cut(line, " ")
		arg = strings.TrimSpace(arg)
		switch word {
		case "witness":
			v, err := NewCosignatureVerifier(arg)
			if err != nil {
				return WitnessPolicy{}, fmt.Errorf("witness policy line %d: %w", i+1, err)
			}
			p.Witnesses = append(p.Witnesses, v)
		case "quorum":
			n, err := strconv.Atoi(arg)
			if err != nil || n < 1 {
				return WitnessPolicy{}, fmt.Errorf("witness policy line %d: bad quorum %q", i+1, arg)
			}
			quorum = n
		default:
			return WitnessPolicy{}, fmt.Errorf("witness policy line %d: unknown word %q", i+1, word)
		}
	}
	return NewWitnessPolicy(p.Witnesses, quorum)
}

// NewWitnessPolicy checks and builds a policy; quorum ≤ 0 means every
// witness. Two witnesses with one name, or one key twice, are refused:
// a quorum must count distinct parties.
func NewWitnessPolicy(ws []*CosignatureVerifier, quorum int) (WitnessPolicy, error) {
	seen := map[string]bool{}
	for _, w := range ws {
		if seen[w.name] || seen[string(w.pub)] {
			return WitnessPolicy{}, fmt.Errorf("audit: witness %q listed twice", w.name)
		}
		seen[w.name], seen[string(w.pub)] = true, true
	}
	if quorum <= 0 {
		quorum = len(ws)
	}
	if quorum > len(ws) {
		return WitnessPolicy{}, fmt.Errorf("audit: quorum %d of %d witnesses", quorum, len(ws))
	}
	return WitnessPolicy{Witnesses: ws, Quorum: quorum}, nil
}

// WitnessPolicyFromList builds a policy from a list of witness keys, or
// files holding one key each, separated by commas or white space (the form
// of $HELIOS_WITNESSES); quorum ≤ 0 means every witness.
func WitnessPolicyFromList(list string, quorum int) (WitnessPolicy, error) {
	var ws []*CosignatureVerifier
	for _, item := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		text := item
		if !strings.Contains(item, "+") {
			b, err := os.ReadFile(item)
			if err != nil {
				return WitnessPolicy{}, fmt.Errorf("audit: witness key: %w", err)
			}
			text = string(b)
		}
		v, err := NewCosignatureVerifier(text)
		if err != nil {
			return WitnessPolicy{}, err
		}
		ws = append(ws, v)
	}
	return NewWitnessPolicy(ws, quorum)
}

// WitnessError says a checkpoint lacks the cosignatures a client requires.
type WitnessError struct {
	Size   int64 // the checkpoint's size
	Have   int   // witnesses vouching for it with fresh, valid cosignatures
	Quorum int
	Why    string
}

func (e *WitnessError) Error() string {
	msg := fmt.Sprintf("audit: checkpoint of %d records is vouched for by %d of the %d witnesses required", e.Size, e.Have, e.Quorum)
	if e.Why != "" {
		msg += " (" + e.Why + ")"
	}
	return msg
}

// Cosigners verifies msg as a checkpoint of the log v signs and returns it
// with the time of each valid cosignature by a witness of the policy, by
// witness name.
func (p WitnessPolicy) Cosigners(msg []byte, v note.Verifier) (Checkpoint, map[string]time.Time, error) {
	cp, err := ParseCheckpoint(msg, v)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	vs := []note.Verifier{v}
	for _, w := range p.Witnesses {
		vs = append(vs, w)
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("%w: %w", ErrBadCheckpoint, err)
	}
	times := map[string]time.Time{}
	for _, s := range n.Sigs {
		if s.Name == v.Name() && s.Hash == v.KeyHash() {
			continue
		}
		if t, ok := cosignatureTime(s); ok {
			times[s.Name] = t
		}
	}
	return cp, times, nil
}

// fresh reports whether a cosignature made at t counts at now: no older
// than maxAge (≤ 0: any age), and not more than a minute in the future.
func fresh(t, now time.Time, maxAge time.Duration) bool {
	return (maxAge <= 0 || now.Sub(t) <= maxAge) && t.Sub(now) <= time.Minute
}

// cosignatureTime is the time a cosignature v1 line carries.
func cosignatureTime(s note.Signature) (time.Time, bool) {
	b, err := base64.StdEncoding.DecodeString(s.Base64)
	if err != nil || len(b) != 4+8+ed25519.SignatureSize {
		return time.Time{}, false
	}
	return time.Unix(int64(binary.BigEndian.Uint64(b[4:12])), 0), true
}

// MergeSignatures returns the note whose body is that of both a and b and
// whose signature lines are a's followed by those of b that a lacks (a
// line of the same key in b replaces a's: a newer cosignature). The
// signatures are not verified here.
func MergeSignatures(a, b []byte) ([]byte, error) {
	bodyA, sigsA, okA := bytes.Cut(a, []byte("\n\n"))
	bodyB, sigsB, okB := bytes.Cut(b, []byte("\n\n"))
	if !okA || !okB || !bytes.Equal(bodyA, bodyB) {
		return nil, fmt.Errorf("%w: merging signatures of different notes", ErrBadCheckpoint)
	}
	type line struct{ key, text string }
	var lines []line
	add := func(sigs []byte) {
		for _, l := range strings.Split(strings.TrimSuffix(string(sigs), "\n"), "\n") {
			key := l
			// "— name base64(keyhash‖sig)": the name and the key hash
			// identify the key.
			if f := strings.Fields(l); len(f) == 3 {
				if raw, err := base64.StdEncoding.DecodeString(f[2]); err == nil && len(raw) >= 4 {
					key = f[1] + "+" + string(raw[:4])
				}
			}
			if i := slices.IndexFunc(lines, func(x line) bool { return x.key == key }); i >= 0 {
				lines[i].text = l
			} else {
				lines = append(lines, line{key, l})
			}
		}
	}
	add(sigsA)
	add(sigsB)
	var out bytes.Buffer
	out.Write(bodyA)
	out.WriteString("\n\n")
	for _, l := range lines {
		out.WriteString(l.text + "\n")
	}
	return out.Bytes(), nil
}
