package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"testing"

	"github.com/helios-vcs/helios/nvme"
	"github.com/helios-vcs/helios/objstore"
)

func newTierStore(t *testing.T, kv objstore.KV, dev nvme.Device) *objstore.Store {
	t.Helper()
	log, err := nvme.OpenLog(dev, nvme.LogOptions{SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	st := objstore.DefaultSettings
	st.TierThreshold = 16 << 10
	s, err := objstore.Init(kv, objstore.Options{Settings: st, Tier: log})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTierKeepsLargeChunks(t *testing.T) {
	kv := objstore.NewMemKV()
	dev := nvme.NewMem(64<<20, 4096)
	s := newTierStore(t, kv, dev)
	rng := rand.New(rand.NewSource(7))
	big := make([]byte, 2<<20)
	rng.Read(big)
	a := commitFiles(t, s, objstore.ZeroID, "refs/heads/main", map[string]string{"big": string(big), "small": "s"})
	count := func(prefix byte) int {
		n := 0
		kv.Scan([]byte{prefix}, func(k, v []byte) error { n++; return nil })
		return n
	}
	if count('C') == 0 {
		t.Fatal("no chunk went to the tier")
	}
	// Every chunk in the KV proper is below the threshold.
	kv.Scan([]byte{'c'}, func(k, v []byte) error {
		if len(v) >= 16<<10 {
			t.Errorf("a %d-byte chunk stayed in the KV", len(v))
		}
		return nil
	})
	if _, b, err := s.ReadFile(a, "big"); err != nil || !bytes.Equal(b, big) {
		t.Fatalf("read back through the tier: %d bytes, %v", len(b), err)
	}
	if rep, err := s.Fsck(context.Background(), true); err != nil || !rep.Clean() {
		t.Fatalf("fsck: %+v %v", rep, err)
	}
	// A store made with the tier refuses to open without it.
	if _, err := objstore.Open(kv, objstore.Options{}); !errors.Is(err, objstore.ErrTierRequired) {
		t.Errorf("open without tier: %v", err)
	}
	// Drop the only ref to the big file: gc deletes the locations and
	// compacts the log.
	commitFiles(t, s, objstore.ZeroID, "refs/heads/other", map[string]string{"small": "s"})
	if err := s.UpdateRefs(objstore.RefUpdate{Name: "refs/heads/main", Old: a}); err != nil {
		t.Fatal(err)
	}
	before := count('C')
	g, err := s.GC(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if count('C') != 0 || g.Deleted["chunk"] < before || g.Tier == nil || g.Tier.SegmentsFreed == 0 {
		t.Errorf("after gc: %d tier chunks left, report %+v, tier %+v", count('C'), g, g.Tier)
	}
	if rep, _ := s.Fsck(context.Background(), true); !rep.Clean() {
		t.Errorf("fsck after gc: %v", rep.Problems)
	}
}

func TestTierCorruptionDetected(t *testing.T) {
	kv := objstore.NewMemKV()
	dev := nvme.NewMem(64<<20, 4096)
	s := newTierStore(t, kv, dev)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, repetitive
	rng := rand.New(rand.NewSource(3))
	rng.Read(big[:len(big)/2])
	a := commitFiles(t, s, objstore.ZeroID, "refs/heads/main", map[string]string{"big": string(big)})
	// Flip a byte in every block past the log's superblocks.
	buf := make([]byte, 4096)
	for off := int64(64 << 10); off < 4<<20; off += 4096 {
		dev.ReadAt(buf, off)
		buf[100] ^= 0x10
		dev.WriteAt(buf, off)
	}
	fresh, err := objstore.Open(kv, objstore.Options{Tier: mustLog(t, dev)})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := fresh.Fsck(context.Background(), false)
	if err != nil || rep.Clean() {
		t.Fatalf("fsck missed corrupt tier records: %+v %v", rep, err)
	}
	if _, _, err := fresh.ReadFile(a, "big"); !errors.Is(err, objstore.ErrCorrupt) {
		t.Errorf("read of corrupt tier chunk: %v, want ErrCorrupt", err)
	}
}

func mustLog(t *testing.T, dev nvme.Device) *nvme.Log {
	t.Helper()
	l, err := nvme.OpenLog(dev, nvme.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}
