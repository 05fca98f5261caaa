package objstore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

func migrateAEAD(t *testing.T) cipher.AEAD {
	block, err := aes.NewCipher(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// failAfter fails every Write after the first n.
type failAfter struct {
	*MemKV
	n int
}

func (f *failAfter) Write(b *Batch, sync bool) error {
	if f.n == 0 {
		return errors.New("injected write failure")
	}
	f.n--
	return f.MemKV.Write(b, sync)
}

// legacyKV writes what a sealed KV of format 1 wrote: every value sealed
// under its own, clear key.
func legacyKV(t *testing.T, aead cipher.AEAD, kvs map[string]string) *MemKV {
	raw := NewMemKV()
	old := &sealedKV{kv: raw, aead: aead}
	var b Batch
	for k, v := range kvs {
		sv, err := old.sealRaw(sealVersion, []byte(v), aad([]byte(k)))
		if err != nil {
			t.Fatal(err)
		}
		b.Put([]byte(k), sv)
	}
	if err := raw.Write(&b, true); err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestSealedKVMigratesFormat1: a store sealed before keys were hidden is
// migrated when sealed for writing (resuming after a failure part way),
// refused with ErrSealedFormat when it cannot be written, and refused with
// ErrUnsealed, untouched, under the wrong key.
func TestSealedKVMigratesFormat1(t *testing.T) {
	aead, mac := migrateAEAD(t), bytes.Repeat([]byte{9}, KeyMACSize)
	want := map[string]string{
		"mformat":                       formatMagic,
		"rHEAD":                         "\x01refs/heads/main",
		"grrefs/heads/main":             "git ref",
		"go" + string(make([]byte, 20)): "git object",
		"W0123456789abcdef":             "worktree",
		"b" + string(bytes.Repeat([]byte{7}, 32)): "blob",
		"al\x00\x00\x00\x00\x00\x00\x00\x00":      "audit record",
	}
	// More refs than one migration batch holds, so that a failure can
	// come between two batches.
	for i := 0; i < migrateBatch+100; i++ {
		want[fmt.Sprintf("rrefs/heads/agent-%05d", i)] = fmt.Sprint(i)
		want[fmt.Sprintf("w0123456789abcdefdir/file-%05d", i)] = "stat"
	}
	raw := legacyKV(t, aead, want)

	// Read-only (every write fails): refused with a clear error, untouched.
	if _, err := SealKV(&failAfter{raw, 0}, aead, mac); !errors.Is(err, ErrSealedFormat) {
		t.Fatalf("read-only format 1 store: %v, want ErrSealedFormat", err)
	}
	// Wrong key: refused before anything is written.
	other, _ := aes.NewCipher(bytes.Repeat([]byte{2}, 32))
	wrong, _ := cipher.NewGCM(other)
	if _, err := SealKV(raw, wrong, mac); !errors.Is(err, ErrUnsealed) {
		t.Fatalf("wrong key: %v, want ErrUnsealed", err)
	}
	if ok, _ := raw.Has([]byte("rHEAD")); !ok {
		t.Fatal("a refused open changed the store")
	}
	// A failure after the first batch leaves a mixed store...
	if _, err := SealKV(&failAfter{raw, 1}, aead, mac); err == nil {
		t.Fatal("migration with a failing second batch succeeded")
	}
	if ok, _ := raw.Has(sealedFormatKey); ok {
		t.Fatal("format key written before the migration finished")
	}
	moved := 0
	raw.Scan(nil, func(k, v []byte) error {
		if v[0] == sealVersionHidden {
			moved++
		}
		return nil
	})
	if moved != migrateBatch {
		t.Fatalf("%d entries moved by the first batch, want %d", moved, migrateBatch)
	}
	// ...which the next open finishes.
	s, err := SealKV(raw, aead, mac)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		got, err := s.Get([]byte(k))
		if err != nil || string(got) != v {
			t.Fatalf("Get(%q) = %q, %v; want %q", k, got, err, v)
		}
		if ok, _ := raw.Has([]byte(k)); ok != (spaceOf([]byte(k)) == nil) {
			t.Errorf("raw Has(%q) = %v after migration", k, ok)
		}
	}
	var prev string
	n := 0
	if err := s.Scan([]byte("rrefs/"), func(k, v []byte) error {
		if string(k) <= prev {
			return fmt.Errorf("scan order: %q after %q", k, prev)
		}
		prev, n = string(k), n+1
		return nil
	}); err != nil || n != migrateBatch+100 {
		t.Errorf("scan of refs/: %d refs, %v", n, err)
	}
	// Opening again finds the format key and migrates nothing.
	var writes int64
	writes = raw.Writes
	if _, err := SealKV(raw, aead, mac); err != nil || raw.Writes != writes {
		t.Errorf("second open: %v, %d writes", err, raw.Writes-writes)
	}
	// A store of a later format is refused.
	var b Batch
	b.Put(sealedFormatKey, []byte("helios-sealed-keys/9"))
	s.Write(&b, true)
	if _, err := SealKV(raw, aead, mac); !errors.Is(err, ErrSealedFormat) {
		t.Errorf("later format: %v, want ErrSealedFormat", err)
	}
}

// TestEveryKeySpaceClassified: each key prefix the store defines (keys.go,
// and the second bytes under 'g') is either hidden by a sealed KV or
// listed here with why its keys say nothing. A new key space fails this
// test until someone decides.
func TestEveryKeySpaceClassified(t *testing.T) {
	saysNothing := map[string]string{
		"prefixChunk":     "keyed ID",
		"prefixTierChunk": "keyed ID",
		"prefixBlob":      "keyed ID",
		"prefixTree":      "keyed ID",
		"prefixState":     "keyed ID",
		"prefixMeta":      "fixed names",
		"prefixGit":       "split by its second byte",
		"prefixAudit":     "fixed names and record numbers",
		"gitReverseKey":   "kind and keyed ID",
	}
	hidden := map[string]string{
		"prefixRef":      string(prefixRef),
		"prefixStatSet":  string(prefixStatSet),
		"prefixWorktree": string(prefixWorktree),
		"gitObjectKey":   string([]byte{prefixGit, gitObjectKey}),
		"gitRefKey":      string([]byte{prefixGit, gitRefKey}),
	}
	fset := token.NewFileSet()
	for _, file := range []string{"keys.go", "gitmap.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				for _, name := range spec.(*ast.ValueSpec).Names {
					n := name.Name
					if !strings.HasPrefix(n, "prefix") && !(strings.HasPrefix(n, "git") && strings.HasSuffix(n, "Key")) {
						continue
					}
					if _, ok := saysNothing[n]; ok {
						continue
					}
					p, ok := hidden[n]
					if !ok {
						t.Errorf("key space %s is neither hidden by SealKV nor listed as revealing nothing", n)
						continue
					}
					if sp := spaceOf([]byte(p + "x")); sp == nil || sp.prefix != p {
						t.Errorf("key space %s (%q) is not in hiddenSpaces", n, p)
					}
				}
			}
		}
	}
}
