package rocksdb_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
)

// TestFlippedByteInTableFile corrupts the database files themselves, not
// the values through the KV: fsck and reads must report it, never return
// the damaged data as good.
func TestFlippedByteInTableFile(t *testing.T) {
	dir := t.TempDir()
	kv, err := rocksdb.Open(dir, rocksdb.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := objstore.Init(kv, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := s.NewDraft(objstore.ZeroID)
	for i := 0; i < 50; i++ {
		d.Put(filepath.Join("dir", string(rune('a'+i%26)), string(rune('a'+i/26))), objstore.ModeFile, bytes.Repeat([]byte{byte(i)}, 4000))
	}
	state, err := d.Commit(objstore.CommitOptions{Ref: "refs/heads/main"})
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Flush(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	ssts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no table file after flush")
	}
	for _, f := range ssts {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/3] ^= 0x40 // inside the data blocks
		os.WriteFile(f, b, 0o644)
	}
	kv, err = rocksdb.Open(dir, rocksdb.Options{})
	if err != nil {
		t.Logf("open refused the damaged store: %v", err) // a clear report too
		return
	}
	s, err = objstore.Open(kv, objstore.Options{})
	if err != nil {
		t.Logf("open refused the damaged store: %v", err)
		return
	}
	defer s.Close()
	rep, err := s.Fsck(context.Background(), true)
	if err == nil && rep.Clean() {
		t.Fatal("fsck found a flipped byte in a table file clean")
	}
	// Reading every file either fails or returns exactly what was written.
	st, err := s.State(state)
	if err != nil {
		return
	}
	s.Walk(st.Root, func(p string, e objstore.Entry) error {
		if !e.Mode.IsBlob() {
			return nil
		}
		b, err := s.Blob(e.ID)
		if err == nil && len(b) != 4000 {
			t.Errorf("%s: damaged content returned as good", p)
		}
		if err != nil && !errors.Is(err, objstore.ErrCorrupt) {
			t.Logf("%s: %v", p, err)
		}
		return nil
	})
}
