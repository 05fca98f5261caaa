package audit

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// memKV is a Source, and a batch of puts is a Sink: enough to test the
// log without the store.
type memKV map[string][]byte

func (m memKV) Lookup(k []byte) ([]byte, bool, error) {
	v, ok := m[string(k)]
	return v, ok, nil
}

func (m memKV) Scan(prefix []byte, fn func(k, v []byte) error) error {
	keys := slices.Sorted(maps.Keys(m))
	for _, k := range keys {
		if strings.HasPrefix(k, string(prefix)) {
			if err := fn([]byte(k), m[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

type batch [][2][]byte

func (b *batch) Put(k, v []byte) { *b = append(*b, [2][]byte{k, v}) }

func (m memKV) apply(b batch) {
	for _, kv := range b {
		m[string(kv[0])] = kv[1]
	}
}

func newKeys(t testing.TB, name string) (note.Signer, note.Verifier, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v, vkey
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

func rec(i int) Record {
	return Record{Time: t0.Add(time.Duration(i) * time.Second), Actor: fmt.Sprintf("user%d", i%3), Event: EventRef,
		Refs: []RefChange{{Name: "refs/heads/main", Old: fmt.Sprintf("b3:%d", i), New: fmt.Sprintf("b3:%d", i+1)}}}
}

// appendN appends n records one batch each, committing every batch.
func appendN(t testing.TB, l *Log, kv memKV, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		var b batch
		idx, err := l.Append(&b, rec(i))
		if err != nil {
			t.Fatal(err)
		}
		if idx != int64(i) {
			t.Fatalf("append %d got index %d", i, idx)
		}
		kv.apply(b)
		l.Done(nil)
	}
}

func TestLogAppendProveVerify(t *testing.T) {
	kv := memKV{}
	s, v, _ := newKeys(t, "helios-test")
	l, err := OpenLog(kv, s)
	if err != nil {
		t.Fatal(err)
	}
	if l.Origin() != "helios-test" {
		t.Errorf("origin %q", l.Origin())
	}
	const n = 37
	appendN(t, l, kv, 0, n)
	if l.Size() != n {
		t.Fatalf("size %d, want %d", l.Size(), n)
	}
	// Stored hashes are exactly tlog's count.
	hashes := 0
	kv.Scan([]byte("ah"), func(k, v []byte) error { hashes++; return nil })
	if int64(hashes) != tlog.StoredHashCount(n) {
		t.Errorf("%d stored hashes, want %d", hashes, tlog.StoredHashCount(n))
	}
	msg, _ := l.Checkpoint()
	cp, err := ParseCheckpoint(msg, v)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := l.TreeHash(n)
	if cp.Size != n || cp.Root != root {
		t.Errorf("checkpoint %+v, want size %d root %v", cp, n, root)
	}
	// Every record's inclusion proof in every tree size that holds it.
	for size := int64(1); size <= n; size += 5 {
		th, _ := l.TreeHash(size)
		for i := int64(0); i < size; i++ {
			p, err := l.ProveRecord(i, size)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := l.RecordBytes(i)
			if err := tlog.CheckRecord(p, size, th, i, tlog.RecordHash(data)); err != nil {
				t.Fatalf("record %d in %d: %v", i, size, err)
			}
			if len(p) > 0 {
				p[0][0] ^= 1
				if tlog.CheckRecord(p, size, th, i, tlog.RecordHash(data)) == nil {
					t.Fatalf("corrupted proof of %d in %d verified", i, size)
				}
			}
		}
		// Consistency from every smaller size.
		for m := int64(1); m <= size; m++ {
			p, err := l.ProveTree(size, m)
			if err != nil {
				t.Fatal(err)
			}
			mh, _ := l.TreeHash(m)
			if err := tlog.CheckTree(p, size, th, m, mh); err != nil {
				t.Fatalf("tree %d→%d: %v", m, size, err)
			}
		}
	}
	rep, err := Verify(kv, v)
	if err != nil || !rep.OK() || rep.Records != n {
		t.Fatalf("Verify: %v %+v", err, rep)
	}
	// Read back a record.
	r, err := l.Record(5)
	if err != nil || r.Actor != "user2" || r.Refs[0].New != "b3:6" {
		t.Errorf("Record(5) = %+v, %v", r, err)
	}
	// Out-of-range requests are errors, not panics.
	for _, c := range [][2]int64{{-1, 5}, {5, 5}, {0, n + 1}} {
		if _, err := l.ProveRecord(c[0], c[1]); err == nil {
			t.Errorf("ProveRecord(%d, %d) succeeded", c[0], c[1])
		}
	}
	for _, c := range [][2]int64{{5, 0}, {5, 6}, {n + 1, 3}} {
		if _, err := l.ProveTree(c[0], c[1]); err == nil {
			t.Errorf("ProveTree(%d, %d) succeeded", c[0], c[1])
		}
	}
	if _, err := l.TreeHash(n + 1); err == nil {
		t.Error("TreeHash past the end succeeded")
	}
	if _, err := l.Record(n); err == nil {
		t.Error("Record past the end succeeded")
	}
}

func TestLogBatchAppendAndFailedWrite(t *testing.T) {
	kv := memKV{}
	s, v, _ := newKeys(t, "helios-test")
	l, _ := OpenLog(kv, s)
	var b batch
	if _, err := l.Append(&b, rec(0), rec(1), rec(2)); err != nil {
		t.Fatal(err)
	}
	// A second append while one is pending is refused.
	if _, err := l.Append(&batch{}, rec(9)); !errors.Is(err, ErrPending) {
		t.Errorf("second append: %v, want ErrPending", err)
	}
	kv.apply(b)
	l.Done(nil)
	// A failed write is forgotten: the next append reuses the index.
	var lost batch
	if _, err := l.Append(&lost, rec(3)); err != nil {
		t.Fatal(err)
	}
	l.Done(errors.New("disk full"))
	if l.Size() != 3 {
		t.Errorf("size after a failed write %d, want 3", l.Size())
	}
	appendN(t, l, kv, 3, 2)
	if rep, _ := Verify(kv, v); !rep.OK() || rep.Records != 5 {
		t.Errorf("Verify: %+v", rep)
	}
	// Errors: no records, bad record, no signer.
	if _, err := l.Append(&batch{}); err == nil {
		t.Error("empty append succeeded")
	}
	if _, err := l.Append(&batch{}, Record{Event: EventRef}); err == nil {
		t.Error("record without time appended")
	}
	l.Done(errors.New("x"))
	ro, _ := OpenLog(kv, nil)
	if _, err := ro.Append(&batch{}, rec(0)); !errors.Is(err, ErrNoSigner) {
		t.Errorf("read-only append: %v", err)
	}
	if ro.Origin() != "" || ro.Size() != 5 {
		t.Errorf("read-only log: origin %q size %d", ro.Origin(), ro.Size())
	}
}

// Two Log values over one store: each sees the other's appends.
func TestLogRefreshesAfterAnotherWriter(t *testing.T) {
	kv := memKV{}
	s, v, _ := newKeys(t, "helios-test")
	a, _ := OpenLog(kv, s)
	b, _ := OpenLog(kv, s)
	appendN(t, a, kv, 0, 3)
	appendN(t, b, kv, 3, 2)
	appendN(t, a, kv, 5, 4)
	if rep, _ := Verify(kv, v); !rep.OK() || rep.Records != 9 {
		t.Errorf("Verify: %+v", rep)
	}
}

// Tampering without the key is caught by Verify.
func TestVerifyDetectsTampering(t *testing.T) {
	s, v, _ := newKeys(t, "helios-test")
	fresh := func() memKV {
		kv := memKV{}
		l, _ := OpenLog(kv, s)
		appendN(t, l, kv, 0, 10)
		return kv
	}
	other, _, _ := newKeys(t, "helios-test")
	cases := map[string]func(kv memKV){
		"edit a record": func(kv memKV) {
			r := rec(4)
			r.Actor = "mallory"
			kv[string(leafKey(4))], _ = r.Encode()
		},
		"drop a record": func(kv memKV) { delete(kv, string(leafKey(4))) },
		"drop the last": func(kv memKV) { delete(kv, string(leafKey(9))) },
		"reorder records": func(kv memKV) {
			a, b := kv[string(leafKey(2))], kv[string(leafKey(3))]
			kv[string(leafKey(2))], kv[string(leafKey(3))] = b, a
		},
		"non-canonical record": func(kv memKV) {
			kv[string(leafKey(1))] = bytes.Replace(kv[string(leafKey(1))], []byte(`actor "user1"`), []byte(`actor user1`), 1)
		},
		"edit a stored hash": func(kv memKV) { kv[string(hashKey(3))] = make([]byte, 32) },
		"drop a stored hash": func(kv memKV) { delete(kv, string(hashKey(3))) },
		"extra stored hash":  func(kv memKV) { kv[string(hashKey(999))] = make([]byte, 32) },
		"size key":           func(kv memKV) { kv["as"] = binary.BigEndian.AppendUint64(nil, 11) },
		"checkpoint forged by another key": func(kv memKV) {
			signed, _ := note.Sign(&note.Note{Text: Checkpoint{Origin: "helios-test", Size: 10}.Text()}, other)
			kv["ac"] = signed
		},
		"checkpoint removed": func(kv memKV) { delete(kv, "ac") },
		"append without re-signing": func(kv memKV) {
			cp := kv["ac"]
			l, _ := OpenLog(kv, s)
			appendN(t, l, kv, 10, 1)
			kv["ac"] = cp
		},
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			kv := fresh()
			tamper(kv)
			rep, err := Verify(kv, v)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			t.Logf("found: %v", rep.Problems)
		})
	}
	if rep, _ := Verify(fresh(), v); !rep.OK() {
		t.Errorf("clean log: %v", rep.Problems)
	}
}

// A client keeps the last checkpoint; a rewrite re-signed with the real key,
// a rollback and a fork are all refused, an honest extension accepted.
func TestCheckConsistency(t *testing.T) {
	s, _, vkey := newKeys(t, "helios-test")
	dir := t.TempDir()
	kept := CheckpointPath(dir, "helios::/srv/store")
	if !strings.HasPrefix(kept, filepath.Join(dir, "helios", "checkpoints")) {
		t.Errorf("CheckpointPath = %q", kept)
	}
	kv := memKV{}
	l, _ := OpenLog(kv, s)
	appendN(t, l, kv, 0, 5)
	cp5, _ := l.Checkpoint()
	if _, err := CheckConsistency(kept, vkey, cp5, l); err != nil {
		t.Fatalf("first contact: %v", err)
	}
	// Same checkpoint again, then an honest extension.
	if _, err := CheckConsistency(kept, vkey, cp5, l); err != nil {
		t.Fatalf("same checkpoint: %v", err)
	}
	appendN(t, l, kv, 5, 6)
	cp11, _ := l.Checkpoint()
	if got, err := CheckConsistency(kept, "", cp11, l); err != nil || got.Size != 11 {
		t.Fatalf("extension: %+v, %v", got, err)
	}

	// Rollback: the store shows the older checkpoint.
	var rb *RollbackError
	if _, err := CheckConsistency(kept, vkey, cp5, l); !errors.As(err, &rb) || rb.Kept != 11 || rb.Got != 5 {
		t.Errorf("rollback: %v", err)
	}

	// Rewrite with the signing key: record 3 changed, rebuilt and re-signed,
	// and extended past the kept size.
	forged := memKV{}
	fl, _ := OpenLog(forged, s)
	appendN(t, fl, forged, 0, 3)
	var b batch
	evil := rec(3)
	evil.Actor = "mallory"
	fl.Append(&b, evil)
	forged.apply(b)
	fl.Done(nil)
	appendN(t, fl, forged, 4, 10)
	fcp, _ := fl.Checkpoint()
	var fork *ForkError
	if _, err := CheckConsistency(kept, vkey, fcp, fl); !errors.As(err, &fork) {
		t.Errorf("re-signed rewrite: %v, want *ForkError", err)
	} else {
		t.Log(err)
	}
	// Same size, different root (re-signed rewrite of equal length).
	forged2 := memKV{}
	fl2, _ := OpenLog(forged2, s)
	for i := 1; i <= 11; i++ {
		var b batch
		fl2.Append(&b, rec(i))
		forged2.apply(b)
		fl2.Done(nil)
	}
	f2, _ := fl2.Checkpoint()
	if _, err := CheckConsistency(kept, vkey, f2, fl2); !errors.As(err, &fork) {
		t.Errorf("equal-size fork: %v", err)
	}
	// A prover that refuses is a fork too.
	if _, err := CheckConsistency(kept, vkey, fcp, failingProver{}); !errors.As(err, &fork) {
		t.Errorf("failing prover: %v", err)
	}
	// Another key, even for a good checkpoint, is refused.
	s2, _, vkey2 := newKeys(t, "helios-test")
	kv2 := memKV{}
	l2, _ := OpenLog(kv2, s2)
	appendN(t, l2, kv2, 0, 12)
	c2, _ := l2.Checkpoint()
	if _, err := CheckConsistency(kept, vkey2, c2, l2); !errors.Is(err, ErrKeyChanged) {
		t.Errorf("changed key: %v", err)
	}
	if _, err := CheckConsistency(kept, "", c2, l2); !errors.Is(err, ErrBadCheckpoint) {
		t.Errorf("checkpoint by another key: %v", err)
	}
	// The kept checkpoint is still the honest one.
	k, ok, err := ReadKept(kept)
	if err != nil || !ok || !bytes.Equal(k.Note, cp11) {
		t.Errorf("kept = %q, %v, %v", k.Note, ok, err)
	}
	// CheckExtends without a file.
	v, _ := note.NewVerifier(vkey)
	old, _ := ParseCheckpoint(cp5, v)
	cur, _ := ParseCheckpoint(cp11, v)
	if err := CheckExtends(old, cur, l); err != nil {
		t.Error(err)
	}
	if err := CheckExtends(Checkpoint{}, cur, l); err != nil {
		t.Errorf("from empty: %v", err)
	}
}

type failingProver struct{}

func (failingProver) ProveTree(t, n int64) (tlog.TreeProof, error) { return nil, errors.New("no") }

func TestParseCheckpointRejects(t *testing.T) {
	s, v, _ := newKeys(t, "helios-test")
	sign := func(text string) []byte {
		b, err := note.Sign(&note.Note{Text: text}, s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := Checkpoint{Origin: "helios-test", Size: 3}.Text()
	if _, err := ParseCheckpoint(sign(good), v); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"other origin": strings.Replace(good, "helios-test", "other", 1),
		"extension":    good + "ext\n",
		"bad size":     strings.Replace(good, "\n3\n", "\n03\n", 1),
		"negative":     strings.Replace(good, "\n3\n", "\n-3\n", 1),
		"bad root":     strings.Replace(good, "AAAA", "!!!!", 1),
		"short":        "helios-test\n3\n",
	} {
		if _, err := ParseCheckpoint(sign(text), v); !errors.Is(err, ErrBadCheckpoint) {
			t.Errorf("%s: %v, want ErrBadCheckpoint", name, err)
		}
	}
	if _, err := ParseCheckpoint([]byte("garbage"), v); !errors.Is(err, ErrBadCheckpoint) {
		t.Errorf("garbage: %v", err)
	}
}

func TestKeyFilesAndKept(t *testing.T) {
	dir := t.TempDir()
	skey, vkey, err := GenerateKeys(dir, "helios-abc")
	if err != nil || !strings.HasPrefix(skey, "PRIVATE+KEY+helios-abc+") || !strings.HasPrefix(vkey, "helios-abc+") {
		t.Fatalf("GenerateKeys: %q %q %v", skey, vkey, err)
	}
	if _, _, err := GenerateKeys(dir, "helios-abc"); err == nil {
		t.Error("GenerateKeys overwrote key files")
	}
	s, err := LoadSigner(filepath.Join(dir, SignerKeyFile))
	if err != nil || s.Name() != "helios-abc" {
		t.Fatalf("LoadSigner: %v", err)
	}
	v, err := LoadVerifier(filepath.Join(dir, VerifierKeyFile))
	if err != nil || v.Name() != "helios-abc" {
		t.Fatalf("LoadVerifier: %v", err)
	}
	if _, err := LoadVerifier(vkey); err != nil {
		t.Errorf("LoadVerifier(text): %v", err)
	}
	if _, err := LoadVerifier(filepath.Join(dir, "none")); err == nil {
		t.Error("LoadVerifier of a missing file succeeded")
	}
	if _, err := LoadVerifier("x+y+z"); err == nil {
		t.Error("LoadVerifier of a bad key succeeded")
	}
	if _, err := LoadSigner(filepath.Join(dir, "none")); err == nil {
		t.Error("LoadSigner of a missing file succeeded")
	}
	// A world-readable signing key is refused.
	loose := filepath.Join(dir, "loose.key")
	writeNew(loose, skey, 0o644)
	if _, err := LoadSigner(loose); err == nil {
		t.Error("loaded a world-readable signing key")
	}
	bad := filepath.Join(dir, "bad.key")
	writeNew(bad, "nonsense", 0o600)
	if _, err := LoadSigner(bad); err == nil {
		t.Error("loaded a malformed signing key")
	}
	// Kept file round trip and a malformed one.
	p := filepath.Join(dir, "kept", "cp")
	if _, ok, err := ReadKept(p); ok || err != nil {
		t.Errorf("ReadKept of nothing: %v %v", ok, err)
	}
	WriteKept(p, Kept{VerifierKey: vkey, Note: []byte("n\n")})
	if k, ok, err := ReadKept(p); !ok || err != nil || k.VerifierKey != vkey || string(k.Note) != "n\n" {
		t.Errorf("ReadKept = %+v %v %v", k, ok, err)
	}
	writeNew(filepath.Join(dir, "kept", "junk"), "junk", 0o644)
	if _, _, err := ReadKept(filepath.Join(dir, "kept", "junk")); err == nil {
		t.Error("malformed kept file accepted")
	}
}

func BenchmarkLogAppend(b *testing.B) {
	kv := memKV{}
	s, _, _ := newKeys(b, "helios-bench")
	l, _ := OpenLog(kv, s)
	r := rec(1)
	for b.Loop() {
		var bt batch
		if _, err := l.Append(&bt, r); err != nil {
			b.Fatal(err)
		}
		kv.apply(bt)
		l.Done(nil)
	}
}
