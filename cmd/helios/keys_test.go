package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/audit/keys"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
)

// openSealed opens an encrypted store the way openStore will once wired.
func openSealed(t *testing.T, store, provider string) (*objstore.Store, error) {
	t.Helper()
	wrap, secret, err := sealingOptions(store, provider)
	if err != nil {
		return nil, err
	}
	kv, err := rocksdb.Open(dbDir(store), rocksdb.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	kvs, err := wrap(kv)
	if err != nil {
		kv.Close()
		return nil, err
	}
	s, err := objstore.Init(kvs, objstore.Options{Secret: secret})
	if err != nil {
		kv.Close()
	}
	return s, err
}

func TestEncryptedStoreKeysAndRotation(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	os.MkdirAll(store, 0o755)
	kek1, kek2 := filepath.Join(dir, "kek1"), filepath.Join(dir, "kek2")
	mustRun(t, "keys", "generate", kek1)
	mustRun(t, "keys", "generate", kek2)
	if _, _, err := run(t, "keys", "generate"); err == nil {
		t.Error("keys generate without a file succeeded")
	}

	// Plain stores: no sealing; a provider for a plain store is an error.
	if w, s, err := sealingOptions(store, ""); w != nil || s != nil || err != nil {
		t.Fatalf("plain store: %v %v %v", w != nil, s, err)
	}
	if _, _, err := sealingOptions(store, "file:"+kek1); err == nil {
		t.Error("provider for a plain store accepted")
	}
	if _, _, err := createSealing(store, "bogus"); err == nil {
		t.Error("bad provider accepted")
	}
	if _, _, err := createSealing(store, "file:"+kek1); err != nil {
		t.Fatal(err)
	}
	s, err := openSealed(t, store, "")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := s.NewDraft(objstore.ZeroID)
	d.Put("secret-name-quux.txt", objstore.ModeFile, []byte("CONFIDENTIAL-PAYLOAD-1234"))
	id, err := d.Commit(objstore.CommitOptions{Ref: "refs/heads/main"})
	if err != nil {
		t.Fatal(err)
	}
	s.KV().(objstore.Compactor).Flush()
	s.Close()
	filepath.Walk(store, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			for _, n := range []string{"CONFIDENTIAL-PAYLOAD", "secret-name-quux"} {
				if bytes.Contains(b, []byte(n)) {
					t.Errorf("%s holds %q", p, n)
				}
			}
		}
		return nil
	})
	// The wrong key: a clear error.
	if _, err := openSealed(t, store, "file:"+kek2); !errors.Is(err, keys.ErrWrongKey) {
		t.Fatalf("wrong key: %v", err)
	}

	out := mustRun(t, "keys", "show", "--store", store)
	if !strings.Contains(out, "provider  file:"+kek1) || !strings.Contains(out, "key check ") {
		t.Errorf("keys show:\n%s", out)
	}
	open := func() (*objstore.Store, error) { return openSealed(t, store, "") }
	var buf bytes.Buffer
	if err := runKeysRotate(store, "", "file:"+kek2, open, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "now wrapped by file:"+kek2) {
		t.Errorf("rotate said %q", buf.String())
	}
	if out := mustRun(t, "keys", "show", "--store", store); !strings.Contains(out, "rotated") {
		t.Errorf("keys show after rotate:\n%s", out)
	}
	// The data reads back with the new wrapping; the old key no longer opens.
	s, err = openSealed(t, store, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, b, err := s.ReadFile(id, "secret-name-quux.txt"); err != nil || string(b) != "CONFIDENTIAL-PAYLOAD-1234" {
		t.Errorf("read after rotate: %q %v", b, err)
	}
	// The rotation is in the (encrypted) audit log.
	rep, err := verifyLogOf(t, store, s)
	if err != nil || rep != "key" {
		t.Errorf("audit record of the rotation: %q %v", rep, err)
	}
	s.Close()
	if _, err := openSealed(t, store, "file:"+kek1); !errors.Is(err, keys.ErrWrongKey) {
		t.Errorf("old key after rotate: %v", err)
	}
	// Errors: bad providers, no keyring.
	if err := runKeysRotate(store, "", "nope", open, &buf); err == nil {
		t.Error("rotate to a bad provider succeeded")
	}
	if err := runKeysRotate(store, "nope", "file:"+kek1, open, &buf); err == nil {
		t.Error("rotate from a bad provider succeeded")
	}
	if err := runKeysRotate(t.TempDir(), "", "file:"+kek1, open, &buf); !errors.Is(err, keys.ErrNoKeyring) {
		t.Errorf("rotate without a keyring: %v", err)
	}
	if _, _, err := run(t, "keys", "show", "--store", t.TempDir()); err == nil {
		t.Error("keys show without a keyring succeeded")
	}
}

func verifyLogOf(t *testing.T, store string, s *objstore.Store) (string, error) {
	j, err := auditJournal(store, s.KV())
	if err != nil {
		return "", err
	}
	l := j.Log()
	r, err := l.Record(l.Size() - 1)
	if err != nil {
		return "", err
	}
	return string(r.Event), nil
}
