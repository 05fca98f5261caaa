package objstore_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/kvtest"
	"github.com/helios-vcs/helios/objstore/rocksdb"
)

func testAEAD(t testing.TB, seed byte) cipher.AEAD {
	key := bytes.Repeat([]byte{seed}, 32)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// testMAC is the key MAC key that goes with testAEAD(seed).
func testMAC(seed byte) []byte { return bytes.Repeat([]byte{seed ^ 0x5a}, objstore.KeyMACSize) }

// sealKV seals kv with the test keys of seed.
func sealKV(t testing.TB, kv objstore.KV, seed byte) objstore.KV {
	t.Helper()
	s, err := objstore.SealKV(kv, testAEAD(t, seed), testMAC(seed))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealedKVConformance(t *testing.T) {
	t.Run("memkv", func(t *testing.T) {
		kvtest.Run(t, func(t *testing.T) objstore.KV { return sealKV(t, objstore.NewMemKV(), 1) })
	})
	t.Run("memkv-random-nonce-aead", func(t *testing.T) {
		kvtest.Run(t, func(t *testing.T) objstore.KV {
			block, _ := aes.NewCipher(make([]byte, 32))
			g, err := cipher.NewGCMWithRandomNonce(block)
			if err != nil {
				t.Fatal(err)
			}
			s, err := objstore.SealKV(objstore.NewMemKV(), g, testMAC(1))
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
	t.Run("rocksdb", func(t *testing.T) {
		kvtest.Run(t, func(t *testing.T) objstore.KV {
			kv, err := rocksdb.Open(t.TempDir(), rocksdb.Options{Create: true})
			if err != nil {
				t.Fatal(err)
			}
			return sealKV(t, kv, 1)
		})
	})
}

// noSnapKV hides the MemKV's optional abilities.
type noSnapKV struct{ objstore.KV }

func TestSealedKVOptionalAbilities(t *testing.T) {
	s := sealKV(t, noSnapKV{objstore.NewMemKV()}, 1)
	if _, ok := s.(objstore.Snapshotter); ok {
		t.Error("sealed KV claims Snapshot over a KV without it")
	}
	var b objstore.Batch
	b.Put([]byte("k1"), []byte("v"))
	if err := s.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	got, err := s.(objstore.MultiHaser).MultiHas([][]byte{[]byte("k1"), []byte("k2")})
	if err != nil || fmt.Sprint(got) != "[true false]" {
		t.Errorf("MultiHas = %v, %v; want [true false]", got, err)
	}
	if err := s.(objstore.Compactor).Flush(); err != nil {
		t.Error(err)
	}
	if err := s.(objstore.Compactor).Compact(); err != nil {
		t.Error(err)
	}
	if st := s.(objstore.Statser).Stats(); len(st) != 0 {
		t.Errorf("Stats = %v, want empty", st)
	}
	full := sealKV(t, objstore.NewMemKV(), 1)
	if _, ok := full.(objstore.Snapshotter); !ok {
		t.Error("sealed KV over MemKV lost Snapshot")
	}
	if got, err := full.(objstore.MultiHaser).MultiHas([][]byte{[]byte("x")}); err != nil || got[0] {
		t.Errorf("MultiHas = %v, %v", got, err)
	}
}

func TestSealedKVRejectsWrongKeyTamperAndMoves(t *testing.T) {
	raw := objstore.NewMemKV()
	s := sealKV(t, raw, 1)
	var b objstore.Batch
	b.Put([]byte("cmain"), []byte("secret value one"))
	b.Put([]byte("cdev"), []byte("secret value two"))
	if err := s.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	// Stored bytes hold no plaintext and differ per write (random nonces).
	v1, _ := raw.Get([]byte("cmain"))
	if bytes.Contains(v1, []byte("secret")) {
		t.Fatal("plaintext stored")
	}
	if len(v1) != len("secret value one")+29 {
		t.Errorf("sealed size %d, want plaintext+29", len(v1))
	}
	// Wrong key: a clear error when the KV is sealed, never garbage.
	if _, err := objstore.SealKV(raw, testAEAD(t, 2), testMAC(2)); !errors.Is(err, objstore.ErrUnsealed) {
		t.Errorf("wrong key: %v, want ErrUnsealed", err)
	}
	if _, err := objstore.SealKV(raw, testAEAD(t, 1), testMAC(1)[:16]); err == nil {
		t.Error("a 16-byte key MAC key accepted")
	}
	// A value moved under another key does not open.
	var mv objstore.Batch
	mv.Put([]byte("cdev"), v1)
	raw.Write(&mv, false)
	if _, err := s.Get([]byte("cdev")); !errors.Is(err, objstore.ErrUnsealed) {
		t.Errorf("moved value: %v, want ErrUnsealed", err)
	}
	multiGet := func(key string) error {
		_, err := s.(objstore.MultiGetter).MultiGet([][]byte{[]byte("cmain"), []byte(key)})
		return err
	}
	if err := multiGet("cdev"); !errors.Is(err, objstore.ErrUnsealed) {
		t.Errorf("moved value, MultiGet: %v, want ErrUnsealed", err)
	}
	// A flipped bit, a truncated value, an unknown version.
	for name, edit := range map[string]func([]byte) []byte{
		"bitflip":  func(v []byte) []byte { v[len(v)-1] ^= 1; return v },
		"truncate": func(v []byte) []byte { return v[:10] },
		"version":  func(v []byte) []byte { v[0] = 9; return v },
		"empty":    func(v []byte) []byte { return []byte{} },
	} {
		v, _ := raw.Get([]byte("cmain"))
		var tb objstore.Batch
		tb.Put([]byte("cx"), edit(v))
		raw.Write(&tb, false)
		if _, err := s.Get([]byte("cx")); !errors.Is(err, objstore.ErrUnsealed) {
			t.Errorf("%s: %v, want ErrUnsealed", name, err)
		}
		if err := multiGet("cx"); !errors.Is(err, objstore.ErrUnsealed) {
			t.Errorf("%s, MultiGet: %v, want ErrUnsealed", name, err)
		}
	}
	// Snapshots decrypt too, and fail the same way.
	snap, err := s.(objstore.Snapshotter).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	if _, err := snap.Get([]byte("cx")); !errors.Is(err, objstore.ErrUnsealed) {
		t.Errorf("snapshot: %v", err)
	}
	if ok, _ := snap.Has([]byte("cmain")); !ok {
		t.Error("snapshot Has = false")
	}
}

// An encrypted store on RocksDB: objects and the file names inside trees
// do not appear in any file under the database directory; opening it with
// another key fails cleanly and writes nothing.
func TestSealedStoreLeaksNoContent(t *testing.T) {
	dir := t.TempDir()
	secret := bytes.Repeat([]byte{7}, 32)
	open := func(seed byte) (*objstore.Store, error) {
		kv, err := rocksdb.Open(dir, rocksdb.Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		kvs, err := objstore.SealKV(kv, testAEAD(t, seed), testMAC(seed))
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
	s, err := open(1)
	if err != nil {
		t.Fatal(err)
	}
	const content = "TOP-SECRET-CONTENT-marker-4242 "
	files := map[string]string{
		"confidential-plans-xyzzy.txt": repeat(content, 3),
		"dir-plugh/inner-frobozz.go":   repeat(content, 500) + "tail",
	}
	id := commitFiles(t, s, objstore.ZeroID, "refs/heads/main", files)
	if c, ok := s.KV().(objstore.Compactor); ok {
		c.Flush()
	}
	s.Close()

	needles := []string{"TOP-SECRET-CONTENT", "xyzzy", "plugh", "frobozz"}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("%s holds %q in the clear", filepath.Base(p), n)
			}
		}
		return nil
	})

	if _, err := open(2); !errors.Is(err, objstore.ErrUnsealed) {
		t.Fatalf("open with the wrong key: %v, want ErrUnsealed", err)
	}
	s, err = open(1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, got, err := s.ReadFile(id, "dir-plugh/inner-frobozz.go")
	if err != nil || string(got) != files["dir-plugh/inner-frobozz.go"] {
		t.Errorf("read back: %v", err)
	}
}

func BenchmarkSealedKV(b *testing.B) {
	val := bytes.Repeat([]byte("x"), 1024)
	for _, sealed := range []bool{false, true} {
		name := "plain"
		if sealed {
			name = "sealed"
		}
		b.Run(name+"/write-1KiB", func(b *testing.B) {
			var kv objstore.KV = objstore.NewMemKV()
			if sealed {
				kv = sealKV(b, kv, 1)
			}
			b.SetBytes(int64(len(val)))
			for i := 0; b.Loop(); i++ {
				var bt objstore.Batch
				bt.Put([]byte(fmt.Sprintf("c%08d", i%4096)), val)
				kv.Write(&bt, false)
			}
		})
		b.Run(name+"/get-1KiB", func(b *testing.B) {
			var kv objstore.KV = objstore.NewMemKV()
			if sealed {
				kv = sealKV(b, kv, 1)
			}
			var bt objstore.Batch
			bt.Put([]byte("k"), val)
			kv.Write(&bt, false)
			b.SetBytes(int64(len(val)))
			for b.Loop() {
				kv.Get([]byte("k"))
			}
		})
	}
}

func repeat(s string, n int) string { return string(bytes.Repeat([]byte(s), n)) }

// BenchmarkSealedRefs: listing 1,000 refs and reading one, in a plain and a
// sealed store on RocksDB (a sealed listing scans every ref, decrypts,
// filters and sorts).
//
//	go test ./objstore -run '^$' -bench BenchmarkSealedRefs -benchtime 2s
func BenchmarkSealedRefs(b *testing.B) {
	for _, sealed := range []bool{false, true} {
		name := "plain"
		if sealed {
			name = "sealed"
		}
		b.Run(name, func(b *testing.B) {
			kv, err := rocksdb.Open(b.TempDir(), rocksdb.Options{Create: true})
			if err != nil {
				b.Fatal(err)
			}
			var kvs objstore.KV = kv
			var secret []byte
			if sealed {
				kvs, secret = sealKV(b, kv, 1), bytes.Repeat([]byte{7}, 32)
			}
			s, err := objstore.Init(kvs, objstore.Options{Secret: secret})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			w := s.NewWriter()
			st, err := w.PutState(&objstore.State{Message: "m"})
			if err != nil {
				b.Fatal(err)
			}
			var ups []objstore.RefUpdate
			for i := 0; i < 1000; i++ {
				ups = append(ups, objstore.RefUpdate{Name: fmt.Sprintf("refs/heads/agent-%04d", i), New: st})
			}
			if err := w.Commit(ups...); err != nil {
				b.Fatal(err)
			}
			b.Run("list-1000", func(b *testing.B) {
				for b.Loop() {
					refs, err := s.Refs("refs/heads/")
					if err != nil || len(refs) != 1000 {
						b.Fatal(len(refs), err)
					}
				}
			})
			b.Run("get-1", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Ref("refs/heads/agent-0500"); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
