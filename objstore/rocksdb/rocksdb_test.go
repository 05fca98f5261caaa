package rocksdb

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/kvtest"
)

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) objstore.KV {
		kv, err := Open(t.TempDir(), Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		return kv
	})
}

func TestLockedWaitsThenFails(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	called := 0
	_, err = Open(dir, Options{LockWait: 60 * time.Millisecond, OnWait: func() { called++ }})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second writer: got %v, want ErrLocked", err)
	}
	if called != 1 {
		t.Errorf("OnWait called %d times, want 1", called)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	kv, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	var b objstore.Batch
	b.Put([]byte("k"), []byte("v"))
	if err := kv.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	kv.Close()
	if _, err := kv.Get([]byte("k")); !errors.Is(err, objstore.ErrClosed) {
		t.Errorf("Get after Close: got %v, want ErrClosed", err)
	}
	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	v, err := ro.Get([]byte("k"))
	if err != nil || string(v) != "v" {
		t.Fatalf("after reopen: %q, %v", v, err)
	}
	if err := ro.Write(&b, false); err == nil {
		t.Error("write to read-only store succeeded")
	}
}

func TestReadOnlyInstanceSurvivesWriterCompaction(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var b objstore.Batch
	for i := 0; i < 100; i++ {
		b.Put([]byte{byte(i)}, []byte("value"))
	}
	w.Write(&b, false)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b.Reset()
	for i := 0; i < 100; i++ {
		b.Delete([]byte{byte(i)})
	}
	w.Write(&b, false)
	w.Flush()
	w.Compact()
	for i := 0; i < 100; i++ {
		if _, err := r.Get([]byte{byte(i)}); err != nil {
			t.Fatalf("reader lost key %d after writer compaction: %v", i, err)
		}
	}
	st := w.Stats()
	if _, ok := st["total-sst-files-size"]; !ok {
		t.Errorf("stats lack total-sst-files-size: %v", st)
	}
}

// Ingested puts survive a reopen without a flush of the memory tables (they
// never went through the log), no file of Ingest's is left behind, and a
// writable Open removes one that a crash left.
func TestIngestDurableAndTidy(t *testing.T) {
	dir := t.TempDir()
	kv, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	var b objstore.Batch
	for i := range 1000 {
		b.Put(fmt.Appendf(nil, "k%04d", 999-i), bytes.Repeat([]byte{byte(i)}, 100))
	}
	// Keys put more than once: the last put wins, as in a Write.
	for i := range 3 {
		b.Put([]byte("k0500"), fmt.Appendf(nil, "again %d", i))
		b.Put([]byte("dup"), fmt.Appendf(nil, "dup %d", i))
	}
	// A value in two parts is stored joined, by Ingest and by Write.
	b.PutParts([]byte("parts"), []byte{0}, []byte("content"))
	var w objstore.Batch
	w.PutParts([]byte("written parts"), []byte("head "), []byte("and value"))
	if err := kv.Write(&w, false); err != nil {
		t.Fatal(err)
	}
	if err := kv.Ingest(&b); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"k0500": "again 2", "dup": "dup 2", "k0001": strings.Repeat("\xe6", 100),
		"parts": "\x00content", "written parts": "head and value"} {
		if v, err := kv.Get([]byte(k)); err != nil || string(v) != want {
			t.Errorf("%s = %q, %v; want %q", k, v, err, want)
		}
	}
	leftovers := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, ingestPrefix+"*"))
		return m
	}
	if l := leftovers(); len(l) != 0 {
		t.Errorf("files left after Ingest: %v", l)
	}
	kv.Close()
	stale := filepath.Join(dir, ingestPrefix+"1-1.sst")
	if err := os.WriteFile(stale, []byte("half-written"), 0o644); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	v, err := ro.Get([]byte("k0007"))
	ro.Close()
	if err != nil || !bytes.Equal(v, bytes.Repeat([]byte{byte(992 % 256)}, 100)) {
		t.Fatalf("read-only Get after reopen: %q, %v", v, err)
	}
	if l := leftovers(); len(l) != 1 {
		t.Errorf("a read-only Open touched the directory: %v", l)
	}
	kv, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	if l := leftovers(); len(l) != 0 {
		t.Errorf("a writable Open left %v", l)
	}
	if ok, err := kv.Has([]byte("k0999")); err != nil || !ok {
		t.Errorf("Has(k0999) = %v, %v", ok, err)
	}
}

// TestSplitBySize: the runs cover the order once, in order, about equal
// in bytes; never more runs than asked for or than there are keys.
func TestSplitBySize(t *testing.T) {
	var ops []objstore.BatchOp
	var order []int32
	for i := range 10 {
		ops = append(ops, objstore.BatchOp{Key: []byte{byte(i)}, Value: make([]byte, 99)})
		order = append(order, int32(i))
	}
	for n, want := range map[int]string{1: "[10]", 2: "[5 5]", 3: "[4 3 3]", 10: "[1 1 1 1 1 1 1 1 1 1]", 20: "[1 1 1 1 1 1 1 1 1 1]"} {
		parts := splitBySize(order, ops, n)
		var sizes []int
		var joined []int32
		for _, p := range parts {
			sizes = append(sizes, len(p))
			joined = append(joined, p...)
		}
		if fmt.Sprint(sizes) != want || fmt.Sprint(joined) != fmt.Sprint(order) {
			t.Errorf("%d runs: sizes %v covering %v, want %s covering the order", n, sizes, joined, want)
		}
	}
}

// TestIngestRawSettleCompresses: Ingest writes its tables uncompressed
// (tableWriter), and Settle's compaction compresses them: the space a
// push takes for a few seconds, then the space it keeps.
func TestIngestRawSettleCompresses(t *testing.T) {
	dir := t.TempDir()
	kv, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	tables := func() int64 {
		m, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
		var n int64
		for _, p := range m {
			if fi, err := os.Stat(p); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	// Three batches over the same keys' range: the first lands in the
	// bottom level of the empty database, the others in level 0 over it.
	// Their values compress well.
	raw := 0
	for round := range 3 {
		var b objstore.Batch
		for i := range 512 {
			v := bytes.Repeat(fmt.Appendf(nil, "line %d of value %d, round %d\n", i%7, i, round), 128)
			b.Put(fmt.Appendf(nil, "k%04d-%d", i, round), v)
			raw += len(v)
		}
		if err := kv.Ingest(&b); err != nil {
			t.Fatal(err)
		}
	}
	if got := tables(); got < int64(raw) {
		t.Errorf("ingested tables take %d bytes for %d bytes of values: compressed at ingestion", got, raw)
	}
	if !kv.CompactionPending() {
		t.Fatalf("three overlapping ingestions: no compaction pending\n%s", kv.db.GetProperty("rocksdb.levelstats"))
	}
	if err := kv.Settle(); err != nil {
		t.Fatal(err)
	}
	if got := tables(); got > int64(raw)/4 {
		t.Errorf("settled tables take %d bytes for %d bytes of values that compress tenfold", got, raw)
	}
	if v, err := kv.Get([]byte("k0100-1")); err != nil || !bytes.HasPrefix(v, []byte("line 2 of value 100, round 1\n")) {
		t.Errorf("Get after Settle: %.40q, %v", v, err)
	}
}

// TestMultiGetMatchesGet: the batched lookups (multiget.cc, through the C
// API handles grocksdb holds) answer as a Get per key does, over keys in
// the write-ahead log, in ingested tables and missing, in any order and
// repeated.
func TestMultiGetMatchesGet(t *testing.T) {
	kv, err := Open(t.TempDir(), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	var b, in objstore.Batch
	for i := range 3000 {
		v := bytes.Repeat([]byte{byte(i)}, i%300)
		if i%2 == 0 {
			b.Put(fmt.Appendf(nil, "key %d", i), v)
		} else {
			in.Put(fmt.Appendf(nil, "key %d", i), v)
		}
	}
	if err := kv.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	if err := kv.Ingest(&in); err != nil {
		t.Fatal(err)
	}
	var keys [][]byte
	for i := 0; i < 4000; i += 3 {
		keys = append(keys, fmt.Appendf(nil, "key %d", (i*7919)%4000))
	}
	keys = append(keys, keys[0], []byte{}, []byte("key 2"))
	vals, err := kv.MultiGet(keys)
	if err != nil {
		t.Fatal(err)
	}
	has, err := kv.MultiHas(keys)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for i, k := range keys {
		want, err := kv.Get(k)
		switch {
		case errors.Is(err, objstore.ErrNotFound):
			if vals[i] != nil || has[i] {
				t.Errorf("%q: missing, MultiGet %q, MultiHas %v", k, vals[i], has[i])
			}
		case err != nil:
			t.Fatal(err)
		default:
			found++
			if vals[i] == nil || !bytes.Equal(vals[i], want) || !has[i] {
				t.Errorf("%q: %d bytes, MultiGet %d bytes (nil %v), MultiHas %v", k, len(want), len(vals[i]), vals[i] == nil, has[i])
			}
		}
	}
	if found < len(keys)/2 {
		t.Fatalf("only %d of %d keys found", found, len(keys))
	}
	// Each value is its own: appending to one does not reach the next.
	if len(vals) > 1 && vals[0] != nil {
		_ = append(vals[0], 'x')
		if v, _ := kv.Get(keys[1]); vals[1] != nil && !bytes.Equal(vals[1], v) {
			t.Error("appending to a MultiGet value changed the next one")
		}
	}
}
