package storeaudit

import (
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/objstore"
	"golang.org/x/mod/sumdb/note"
)

func witness(t *testing.T, name string) (*audit.Witness, *audit.CosignatureVerifier) {
	t.Helper()
	skey, vkey, err := audit.GenerateWitnessKey(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.NewCosigner(skey, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := audit.NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return &audit.Witness{Signer: s, StateDir: t.TempDir()}, v
}

// TestCosignedCheckpoints: the store keeps cosignatures of the witnesses
// it lists, merged per checkpoint, refuses a checkpoint that is not its
// log's, drops others' cosignatures, and records witness policy changes.
func TestCosignedCheckpoints(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "helios-test")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	kv := objstore.NewMemKV()
	j, err := Open(kv, signer)
	if err != nil {
		t.Fatal(err)
	}
	s, err := objstore.Init(kv, objstore.Options{Journal: j, Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := commit(t, s, "refs/heads/main", "1"); err != nil {
		t.Fatal(err)
	}
	w1, v1 := witness(t, "w1")
	w2, v2 := witness(t, "w2")
	stranger, _ := witness(t, "stranger")
	log := j.Log()
	cosign := func(w *audit.Witness) []byte {
		t.Helper()
		msg, err := log.Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		c, err := w.Cosign(vkey, msg, log)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := AddCosigned(kv, v, cosign(w1)); !errors.Is(err, ErrNoWitnessPolicy) {
		t.Fatalf("no policy: got %v, want ErrNoWitnessPolicy", err)
	}
	pol, err := audit.NewWitnessPolicy([]*audit.CosignatureVerifier{v1, v2}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.SetWitnessPolicy(s, "alice", pol); err != nil {
		t.Fatal(err)
	}
	if text, err := LoadWitnessPolicy(kv); err != nil || text != pol.Text() {
		t.Fatalf("policy: got %q, %v", text, err)
	}
	rec, err := log.Record(log.Size() - 1)
	if err != nil || rec.Event != EventWitnesses || rec.Attrs["witnesses"] != WitnessDigest(pol.Text()) {
		t.Fatalf("witnesses record: got %+v, %v", rec, err)
	}
	if _, err := AddCosigned(kv, v, cosign(stranger)); err == nil {
		t.Fatal("a stranger's cosignature was stored")
	}
	if names, err := AddCosigned(kv, v, cosign(w1)); err != nil || !slices.Equal(names, []string{"w1"}) {
		t.Fatalf("w1: got %v, %v", names, err)
	}
	if names, err := AddCosigned(kv, v, cosign(w2)); err != nil || !slices.Equal(names, []string{"w1", "w2"}) {
		t.Fatalf("w2 after w1: got %v, %v; want both, merged", names, err)
	}
	cos, err := Cosigned(kv)
	if err != nil || len(cos) != 1 {
		t.Fatalf("cosigned: %d, %v", len(cos), err)
	}
	latest, _ := audit.ParseCheckpoint(cos[0], v)
	if w, err := audit.CheckWitnessed(latest, v, cos, log, audit.WitnessCheck{Policy: pol, Now: time.Now()}); err != nil || len(w.By) != 2 {
		t.Fatalf("check: got %+v, %v", w, err)
	}
	// A checkpoint signed with the store's key but with another root.
	forged, err := note.Sign(&note.Note{Text: audit.Checkpoint{Origin: signer.Name(), Size: 1}.Text()}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AddCosigned(kv, v, forged); !errors.Is(err, audit.ErrBadCheckpoint) {
		t.Fatalf("a checkpoint that is not the log's: got %v, want ErrBadCheckpoint", err)
	}
	// Many later checkpoints cosigned by w1 only: w2's newest stays.
	for i := range keepCosigned + 3 {
		if _, err := commit(t, s, "refs/heads/main", string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
		if _, err := AddCosigned(kv, v, cosign(w1)); err != nil {
			t.Fatal(err)
		}
	}
	cos, _ = Cosigned(kv)
	if len(cos) != keepCosigned+1 {
		t.Errorf("kept %d cosigned checkpoints, want %d (the newest %d and w2's)", len(cos), keepCosigned+1, keepCosigned)
	}
	_, times, _ := pol.Cosigners(cos[0], v)
	if _, ok := times["w2"]; !ok {
		t.Error("w2's only cosigned checkpoint was pruned")
	}
}
