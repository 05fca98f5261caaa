package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

func newWitness(t *testing.T, name string, now func() time.Time) (*Witness, *CosignatureVerifier) {
	t.Helper()
	skey, vkey, err := GenerateWitnessKey(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewCosigner(skey, now)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return &Witness{Signer: s, StateDir: t.TempDir()}, v
}

// newLog is a log of n records in its own memKV.
func newLog(t *testing.T, s note.Signer, n int) (*Log, memKV) {
	t.Helper()
	kv := memKV{}
	l, err := OpenLog(kv, s)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, kv, 0, n)
	return l, kv
}

func checkpointOf(t *testing.T, l *Log) []byte {
	t.Helper()
	cp, err := l.Checkpoint()
	if err != nil || cp == nil {
		t.Fatalf("checkpoint: %v %q", err, cp)
	}
	return cp
}

func TestCosignatureFormat(t *testing.T) {
	// A cosignature line is C2SP tlog-cosignature v1: key hash, 8-byte time,
	// 64-byte Ed25519 signature.
	now := func() time.Time { return t0 }
	w, wv := newWitness(t, "witness.example/w1", now)
	s, _, vkey := newKeys(t, "helios-test")
	l, _ := newLog(t, s, 3)
	cosigned, err := w.Cosign(vkey, checkpointOf(t, l), l)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(cosigned, note.VerifierList(wv))
	if err != nil {
		t.Fatalf("open with the witness key: %v\n%s", err, cosigned)
	}
	if got := n.Sigs[0]; got.Name != "witness.example/w1" || got.Hash != wv.KeyHash() {
		t.Errorf("got signature %+v", got)
	}
	if ts, ok := cosignatureTime(n.Sigs[0]); !ok || !ts.Equal(t0.Truncate(time.Second)) {
		t.Errorf("got time %v, want %v", ts, t0.Truncate(time.Second))
	}
	if _, err := NewCosignatureVerifier(strings.Replace(wv.String(), "w1", "w2", 1)); err == nil {
		t.Error("a key renamed without a new key ID was accepted")
	}
}

func TestWitnessRefusesFork(t *testing.T) {
	w, _ := newWitness(t, "w1", nil)
	s, _, vkey := newKeys(t, "helios-test")
	l, kv := newLog(t, s, 5)
	if _, err := w.Cosign(vkey, checkpointOf(t, l), l); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, kv, 5, 3)
	if _, err := w.Cosign("", checkpointOf(t, l), l); err != nil {
		t.Fatalf("an extension was refused: %v", err)
	}
	// Another history of 8 and of 9 records, signed with the same key.
	fork, fkv := newLog(t, s, 4)
	var b batch
	r := rec(99)
	if _, err := fork.Append(&b, r); err != nil {
		t.Fatal(err)
	}
	fkv.apply(b)
	fork.Done(nil)
	appendN(t, fork, fkv, 5, 3)
	for _, extra := range []int{0, 1} {
		appendN(t, fork, fkv, 8, extra)
		_, err := w.Cosign(vkey, checkpointOf(t, fork), fork)
		var fe *ForkError
		if !errors.As(err, &fe) {
			t.Fatalf("fork of %d records: got %v, want a *ForkError", fork.Size(), err)
		}
	}
	// A rollback too.
	short, _ := newLog(t, s, 2)
	var re *RollbackError
	if _, err := w.Cosign(vkey, checkpointOf(t, short), short); !errors.As(err, &re) {
		t.Fatalf("rollback: got %v, want a *RollbackError", err)
	}
	// The witness still stands by the real history.
	if _, err := w.Cosign(vkey, checkpointOf(t, l), l); err != nil {
		t.Fatal(err)
	}
}

func TestCheckWitnessed(t *testing.T) {
	now := t0
	clock := func() time.Time { return now }
	w1, v1 := newWitness(t, "w1", clock)
	w2, v2 := newWitness(t, "w2", clock)
	s, v, vkey := newKeys(t, "helios-test")
	l, kv := newLog(t, s, 4)
	c1, err := w1.Cosign(vkey, checkpointOf(t, l), l)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := w2.Cosign(vkey, checkpointOf(t, l), l)
	if err != nil {
		t.Fatal(err)
	}
	both, err := MergeSignatures(c1, c2)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, kv, 4, 2)
	c2at6, err := w2.Cosign(vkey, checkpointOf(t, l), l) // w2 alone has seen 6
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, kv, 6, 2) // not yet witnessed
	latest, err := ParseCheckpoint(checkpointOf(t, l), v)
	if err != nil {
		t.Fatal(err)
	}
	pol2, err := NewWitnessPolicy([]*CosignatureVerifier{v1, v2}, 0)
	if err != nil {
		t.Fatal(err)
	}
	pol1, _ := NewWitnessPolicy([]*CosignatureVerifier{v1, v2}, 1)
	for _, tc := range []struct {
		name     string
		pol      WitnessPolicy
		cosigned [][]byte
		at       time.Time
		strict   bool
		want     int64 // the witnessed prefix; -1: refused
	}{
		{"none", pol1, nil, t0, false, -1},
		{"one of one", pol1, [][]byte{c1}, t0, false, 4},
		{"one of two", pol2, [][]byte{c1}, t0, false, -1},
		{"two of two on one checkpoint", pol2, [][]byte{both}, t0, false, 4},
		{"two of two on different checkpoints", pol2, [][]byte{c1, c2at6}, t0, false, 4},
		{"one of two, the newest", pol1, [][]byte{c1, c2at6}, t0, false, 6},
		{"stale", pol1, [][]byte{c1}, t0.Add(25 * time.Hour), false, -1},
		{"unwitnessed head only", pol1, [][]byte{checkpointOf(t, l)}, t0, false, -1},
		{"strict, head not cosigned", pol1, [][]byte{c1, c2at6}, t0, true, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CheckWitnessed(latest, v, tc.cosigned, l, WitnessCheck{Policy: tc.pol, MaxAge: 24 * time.Hour, Now: tc.at, Strict: tc.strict})
			if tc.want >= 0 {
				if err != nil || got.Checkpoint.Size != tc.want {
					t.Fatalf("got %+v, %v; want the checkpoint of %d", got, err, tc.want)
				}
				return
			}
			var we *WitnessError
			if !errors.As(err, &we) {
				t.Fatalf("got %+v, %v; want a *WitnessError", got, err)
			}
		})
	}
	// Strict: the head itself cosigned.
	head, err := w1.Cosign(vkey, checkpointOf(t, l), l)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := CheckWitnessed(latest, v, [][]byte{c2at6, head}, l, WitnessCheck{Policy: pol1, Now: t0, Strict: true}); err != nil || got.Checkpoint.Size != 8 {
		t.Fatalf("strict with the head cosigned: got %+v, %v", got, err)
	}

	// A latest that does not extend a witnessed checkpoint is a fork.
	var b batch
	other, okv := newLog(t, s, 3)
	if _, err := other.Append(&b, rec(77)); err != nil {
		t.Fatal(err)
	}
	okv.apply(b)
	other.Done(nil)
	appendN(t, other, okv, 4, 4)
	flatest, _ := ParseCheckpoint(checkpointOf(t, other), v)
	var fe *ForkError
	if _, err := CheckWitnessed(flatest, v, [][]byte{c1}, other, WitnessCheck{Policy: pol1, Now: t0}); !errors.As(err, &fe) {
		t.Fatalf("fork: got %v, want a *ForkError", err)
	}
}

func TestWitnessPolicyPinning(t *testing.T) {
	_, v1 := newWitness(t, "w1", nil)
	_, v2 := newWitness(t, "w2", nil)
	p1, _ := NewWitnessPolicy([]*CosignatureVerifier{v1}, 0)
	p2, _ := NewWitnessPolicy([]*CosignatureVerifier{v2}, 0)
	kept := filepath.Join(t.TempDir(), "kept")
	var cw ClientWitnesses
	got, _, err := cw.Resolve(kept, p1.Text())
	if err != nil || got.Text() != p1.Text() {
		t.Fatalf("first contact: got %q, %v", got.Text(), err)
	}
	got, warn, err := cw.Resolve(kept, p2.Text())
	if err != nil || got.Text() != p1.Text() || warn == "" {
		t.Fatalf("changed announcement: got %q, %q, %v; want the pinned policy and a warning", got.Text(), warn, err)
	}
	got, _, err = cw.Resolve(kept, "")
	if err != nil || got.Text() != p1.Text() {
		t.Fatalf("withdrawn announcement: got %q, %v; want the pinned policy", got.Text(), err)
	}
	cw.List = v2.String()
	if got, _, err = cw.Resolve(kept, ""); err != nil || got.Text() != p2.Text() {
		t.Fatalf("client's list: got %q, %v", got.Text(), err)
	}
	if parsed, err := ParseWitnessPolicy(p1.Text()); err != nil || parsed.Text() != p1.Text() {
		t.Fatalf("round trip: got %q, %v", parsed.Text(), err)
	}
}

func TestSnapshotKept(t *testing.T) {
	dir := t.TempDir()
	kept := filepath.Join(dir, "kept")
	restore := SnapshotKept(kept)
	if err := WriteKept(kept, Kept{VerifierKey: "k", Note: []byte("n\n")}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(WitnessesPath(kept), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{kept, WitnessesPath(kept)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after restoring nothing: %v", p, err)
		}
	}
	if err := WriteKept(kept, Kept{VerifierKey: "old", Note: []byte("n\n")}); err != nil {
		t.Fatal(err)
	}
	restore = SnapshotKept(kept)
	WriteKept(kept, Kept{VerifierKey: "new", Note: []byte("n\n")})
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if k, _, _ := ReadKept(kept); k.VerifierKey != "old" {
		t.Errorf("got key %q after restore, want old", k.VerifierKey)
	}
}

// TestCosignatureKnownAnswer checks a cosignature byte by byte against
// c2sp.org/tlog-cosignature, independently of the code that makes it: key
// ID SHA-256(name ‖ "\n" ‖ 0x04 ‖ key)[:4], then the big-endian time, then
// Ed25519 over "cosignature/v1\ntime <t>\n" ‖ the checkpoint body.
func TestCosignatureKnownAnswer(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	name := "witness.example.com/w1"
	h := sha256.Sum256(append(append([]byte(name+"\n"), 0x04), pub...))
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%x+%s", name, h[:4], base64.StdEncoding.EncodeToString(append([]byte{0x04}, seed...)))
	s, err := NewCosigner(skey, func() time.Time { return time.Unix(1679315147, 0) })
	if err != nil {
		t.Fatal(err)
	}
	body := "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
	msg, err := note.Sign(&note.Note{Text: body}, s)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSuffix(strings.SplitN(string(msg), "\n\n", 2)[1], "\n")
	prefix := "— " + name + " "
	if !strings.HasPrefix(line, prefix) {
		t.Fatalf("signature line %q", line)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(line, prefix))
	if err != nil || len(raw) != 4+8+64 {
		t.Fatalf("signature of %d bytes, %v", len(raw), err)
	}
	if !bytes.Equal(raw[:4], h[:4]) {
		t.Errorf("key ID %x, want %x", raw[:4], h[:4])
	}
	if got := binary.BigEndian.Uint64(raw[4:12]); got != 1679315147 {
		t.Errorf("time %d", got)
	}
	signed := "cosignature/v1\ntime 1679315147\n" + body
	if !ed25519.Verify(pub, []byte(signed), raw[12:]) {
		t.Error("the signature does not verify over the C2SP message")
	}
}
