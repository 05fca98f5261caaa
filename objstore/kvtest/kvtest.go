// Package kvtest is the conformance suite for objstore.KV implementations.
// A backend's test is a few lines:
//
//	func TestConformance(t *testing.T) {
//		kvtest.Run(t, func(t *testing.T) objstore.KV { return openFresh(t) })
//	}
package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/helios-vcs/helios/objstore"
)

// Run runs every conformance test against fresh KVs made by open. open must
// return an empty KV; the suite closes it.
func Run(t *testing.T, open func(t *testing.T) objstore.KV) {
	tests := []struct {
		name string
		fn   func(t *testing.T, kv objstore.KV)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"GetReturnsCopy", testGetReturnsCopy},
		{"EmptyValue", testEmptyValue},
		{"BatchAtomicOrder", testBatchOrder},
		{"Delete", testDelete},
		{"ScanPrefixOrder", testScanPrefixOrder},
		{"ScanStopsOnError", testScanStops},
		{"SyncWrite", testSyncWrite},
		{"ConcurrentWriters", testConcurrent},
		{"Snapshot", testSnapshot},
		{"Ingest", testIngest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kv := open(t)
			defer kv.Close()
			tc.fn(t, kv)
		})
	}
}

func put(t *testing.T, kv objstore.KV, kvs ...string) {
	t.Helper()
	var b objstore.Batch
	for i := 0; i+1 < len(kvs); i += 2 {
		b.Put([]byte(kvs[i]), []byte(kvs[i+1]))
	}
	if err := kv.Write(&b, false); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func get(t *testing.T, kv objstore.KV, k string) string {
	t.Helper()
	v, err := kv.Get([]byte(k))
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	return string(v)
}

func testGetMissing(t *testing.T, kv objstore.KV) {
	_, err := kv.Get([]byte("nope"))
	if !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get missing: got %v, want ErrNotFound", err)
	}
	ok, err := kv.Has([]byte("nope"))
	if err != nil || ok {
		t.Fatalf("Has missing: got %v, %v, want false, nil", ok, err)
	}
}

func testPutGet(t *testing.T, kv objstore.KV) {
	put(t, kv, "a", "1", "b", "2")
	if got := get(t, kv, "a"); got != "1" {
		t.Errorf("Get(a) = %q, want 1", got)
	}
	put(t, kv, "a", "3")
	if got := get(t, kv, "a"); got != "3" {
		t.Errorf("after overwrite Get(a) = %q, want 3", got)
	}
	if ok, err := kv.Has([]byte("b")); err != nil || !ok {
		t.Errorf("Has(b) = %v, %v, want true", ok, err)
	}
	// Binary keys and values, including NUL and 0xff.
	k, v := []byte{0, 0xff, 1}, bytes.Repeat([]byte{0, 0xfe}, 5000)
	var b objstore.Batch
	b.Put(k, v)
	if err := kv.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	got, err := kv.Get(k)
	if err != nil || !bytes.Equal(got, v) {
		t.Errorf("binary round trip: got %d bytes, %v", len(got), err)
	}
}

func testGetReturnsCopy(t *testing.T, kv objstore.KV) {
	put(t, kv, "k", "value")
	v, _ := kv.Get([]byte("k"))
	v[0] = 'X'
	if got := get(t, kv, "k"); got != "value" {
		t.Errorf("mutating a Get result changed the store: %q", got)
	}
	// Values written are the store's own: reusing a batch's buffers after
	// Write does not change what is stored.
	key, val := []byte("k2"), []byte("v2")
	var b objstore.Batch
	b.Put(key, val)
	if err := kv.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	key[0], val[0] = 'z', 'z'
	if got := get(t, kv, "k2"); got != "v2" {
		t.Errorf("store shares the caller's buffer: %q", got)
	}
	if mh, ok := kv.(objstore.MultiHaser); ok {
		got, err := mh.MultiHas([][]byte{[]byte("k"), []byte("nope"), []byte("k2")})
		if err != nil || len(got) != 3 || !got[0] || got[1] || !got[2] {
			t.Errorf("MultiHas = %v, %v, want [true false true]", got, err)
		}
	}
	if mg, ok := kv.(objstore.MultiGetter); ok {
		put(t, kv, "empty", "")
		got, err := mg.MultiGet([][]byte{[]byte("k2"), []byte("nope"), []byte("empty"), []byte("k2")})
		if err != nil || len(got) != 4 || string(got[0]) != "v2" || got[1] != nil || got[2] == nil || len(got[2]) != 0 || string(got[3]) != "v2" {
			t.Errorf("MultiGet = %q, %v; want v2, nil, an empty value, v2", got, err)
		}
		if err == nil && len(got) == 4 {
			got[0][0] = 'x'
			if v := get(t, kv, "k2"); v != "v2" {
				t.Errorf("mutating a MultiGet result changed the store: %q", v)
			}
		}
	}
}

func testEmptyValue(t *testing.T, kv objstore.KV) {
	put(t, kv, "e", "")
	v, err := kv.Get([]byte("e"))
	if err != nil || len(v) != 0 {
		t.Errorf("empty value: got %q, %v", v, err)
	}
	if ok, _ := kv.Has([]byte("e")); !ok {
		t.Error("Has(empty value) = false")
	}
}

func testBatchOrder(t *testing.T, kv objstore.KV) {
	var b objstore.Batch
	b.Put([]byte("x"), []byte("1"))
	b.Delete([]byte("x"))
	b.Put([]byte("y"), []byte("1"))
	b.Put([]byte("y"), []byte("2"))
	b.PutParts([]byte("p"), []byte("head+"), []byte("value"))
	if b.Len() != 5 || b.Size() != 18 {
		t.Errorf("Len, Size = %d, %d, want 5, 18", b.Len(), b.Size())
	}
	if err := kv.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	if ok, _ := kv.Has([]byte("x")); ok {
		t.Error("later delete in the batch did not win")
	}
	if got := get(t, kv, "y"); got != "2" {
		t.Errorf("later put in batch: got %q, want 2", got)
	}
	if got := get(t, kv, "p"); got != "head+value" {
		t.Errorf("put in parts: got %q, want the parts joined", got)
	}
	b.Reset()
	if b.Len() != 0 || b.Size() != 0 {
		t.Error("Reset left operations")
	}
}

func testDelete(t *testing.T, kv objstore.KV) {
	put(t, kv, "a", "1", "b", "2")
	var b objstore.Batch
	b.Delete([]byte("a"))
	b.Delete([]byte("missing"))
	if err := kv.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get([]byte("a")); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("deleted key: got %v, want ErrNotFound", err)
	}
	if got := get(t, kv, "b"); got != "2" {
		t.Errorf("other key: %q", got)
	}
}

func scanAll(t *testing.T, kv objstore.KV, prefix string) []string {
	t.Helper()
	var got []string
	err := kv.Scan([]byte(prefix), func(k, v []byte) error {
		got = append(got, string(k)+"="+string(v))
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return got
}

func testScanPrefixOrder(t *testing.T, kv objstore.KV) {
	put(t, kv, "p/b", "2", "p/a", "1", "q", "x", "p", "0", "p/\xff", "3", "o", "y", "p/a/c", "4")
	want := []string{"p=0", "p/a=1", "p/a/c=4", "p/b=2", "p/\xff=3"}
	if diff := cmp.Diff(want, scanAll(t, kv, "p")); diff != "" {
		t.Errorf("Scan(p) mismatch (-want +got):\n%s", diff)
	}
	if got := scanAll(t, kv, "zz"); len(got) != 0 {
		t.Errorf("Scan(zz) = %v, want none", got)
	}
	if got := len(scanAll(t, kv, "")); got != 7 {
		t.Errorf("Scan(all) returned %d keys, want 7", got)
	}
	// A prefix ending in 0xff must not wrap around.
	put(t, kv, "\xff\xff", "a", "\xff\xffz", "b")
	if got := scanAll(t, kv, "\xff\xff"); len(got) != 2 {
		t.Errorf("Scan(ffff) = %v, want 2 keys", got)
	}
}

func testScanStops(t *testing.T, kv objstore.KV) {
	put(t, kv, "a1", "", "a2", "", "a3", "")
	stop := errors.New("stop")
	n := 0
	err := kv.Scan([]byte("a"), func(k, v []byte) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("got err %v after %d keys, want stop after 2", err, n)
	}
}

func testSyncWrite(t *testing.T, kv objstore.KV) {
	var b objstore.Batch
	b.Put([]byte("s"), []byte("durable"))
	if err := kv.Write(&b, true); err != nil {
		t.Fatal(err)
	}
	if got := get(t, kv, "s"); got != "durable" {
		t.Errorf("got %q", got)
	}
}

func testConcurrent(t *testing.T, kv objstore.KV) {
	const workers, each = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				var b objstore.Batch
				b.Put([]byte(fmt.Sprintf("c/%d/%03d", w, i)), []byte("v"))
				if err := kv.Write(&b, i%10 == 0); err != nil {
					errs <- err
					return
				}
				if _, err := kv.Get([]byte(fmt.Sprintf("c/%d/%03d", w, i))); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := len(scanAll(t, kv, "c/")); got != workers*each {
		t.Errorf("got %d keys, want %d", got, workers*each)
	}
}

func testSnapshot(t *testing.T, kv objstore.KV) {
	sn, ok := kv.(objstore.Snapshotter)
	if !ok {
		t.Skip("KV has no snapshots (optional ability)")
	}
	put(t, kv, "a", "old", "b", "keep")
	snap, err := sn.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var b objstore.Batch
	b.Put([]byte("a"), []byte("new"))
	b.Delete([]byte("b"))
	b.Put([]byte("c"), []byte("later"))
	if err := kv.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	if v, err := snap.Get([]byte("a")); err != nil || string(v) != "old" {
		t.Errorf("snapshot Get(a) = %q, %v, want old", v, err)
	}
	if ok, _ := snap.Has([]byte("b")); !ok {
		t.Error("snapshot lost a key deleted after it was taken")
	}
	if ok, _ := snap.Has([]byte("c")); ok {
		t.Error("snapshot sees a later write")
	}
	var keys []string
	snap.Scan(nil, func(k, v []byte) error { keys = append(keys, string(k)); return nil })
	if diff := cmp.Diff([]string{"a", "b"}, keys); diff != "" {
		t.Errorf("snapshot scan (-want +got):\n%s", diff)
	}
	if got := get(t, kv, "a"); got != "new" {
		t.Errorf("live Get(a) = %q, want new", got)
	}
}

func testIngest(t *testing.T, kv objstore.KV) {
	in, ok := kv.(objstore.Ingester)
	if !ok {
		t.Skip("KV cannot ingest (optional ability)")
	}
	put(t, kv, "a", "old", "m", "keep")
	var snap objstore.KVReader
	if sn, ok := kv.(objstore.Snapshotter); ok {
		var err error
		if snap, err = sn.Snapshot(); err != nil {
			t.Fatal(err)
		}
		defer snap.Release()
	}
	// Unsorted, a key put twice (the last put wins), a key already stored,
	// binary keys and a big value.
	big := bytes.Repeat([]byte{0, 0xfe, 7}, 100000)
	var b objstore.Batch
	b.Put([]byte("z"), []byte("1"))
	b.Put([]byte("a"), []byte("new"))
	b.Put([]byte{0, 0xff}, big)
	b.Put([]byte("z"), []byte("2"))
	b.Put([]byte("e"), nil)
	b.PutParts([]byte("p"), []byte{0}, big)
	if err := in.Ingest(&b); err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	for k, want := range map[string]string{"a": "new", "m": "keep", "z": "2", "e": "", "\x00\xff": string(big), "p": "\x00" + string(big)} {
		if got := get(t, kv, k); got != want {
			t.Errorf("Get(%q) = %.20q (%d bytes), want %.20q", k, got, len(got), want)
		}
	}
	var keys []string
	kv.Scan(nil, func(k, v []byte) error { keys = append(keys, string(k)); return nil })
	if diff := cmp.Diff([]string{"\x00\xff", "a", "e", "m", "p", "z"}, keys); diff != "" {
		t.Errorf("scan after ingest (-want +got):\n%s", diff)
	}
	if snap != nil {
		if v, err := snap.Get([]byte("a")); err != nil || string(v) != "old" {
			t.Errorf("snapshot Get(a) = %q, %v, want old", v, err)
		}
		if ok, _ := snap.Has([]byte("z")); ok {
			t.Error("snapshot sees an ingested key")
		}
	}
	// Later writes override ingested values.
	put(t, kv, "z", "3")
	if got := get(t, kv, "z"); got != "3" {
		t.Errorf("Get(z) after a write = %q, want 3", got)
	}
	// One batch built into several table files at once: every key, the
	// last put of a key put twice (across where the files may be cut),
	// and more files asked for than there are keys.
	many := objstore.Batch{Tables: 3}
	for i := range 1000 {
		many.Put([]byte(fmt.Sprintf("t%04d", i)), []byte(fmt.Sprintf("v%d", i)))
	}
	for i := 0; i < 1000; i += 7 {
		many.Put([]byte(fmt.Sprintf("t%04d", i)), []byte(fmt.Sprintf("w%d", i)))
	}
	if err := in.Ingest(&many); err != nil {
		t.Fatalf("Ingest in 3 tables: %v", err)
	}
	n := 0
	kv.Scan([]byte("t"), func(k, v []byte) error {
		i, _ := strconv.Atoi(string(k[1:]))
		want := fmt.Sprintf("v%d", i)
		if i%7 == 0 {
			want = fmt.Sprintf("w%d", i)
		}
		if string(k) != fmt.Sprintf("t%04d", n) || string(v) != want {
			t.Errorf("key %d after a 3-table ingest: %q = %q, want t%04d = %q", n, k, v, n, want)
		}
		n++
		return nil
	})
	if n != 1000 {
		t.Errorf("3-table ingest: %d keys, want 1000", n)
	}
	few := objstore.Batch{Tables: 8}
	few.Put([]byte("u1"), []byte("1"))
	few.Put([]byte("u2"), []byte("2"))
	if err := in.Ingest(&few); err != nil || get(t, kv, "u1") != "1" || get(t, kv, "u2") != "2" {
		t.Errorf("2 keys in up to 8 tables: %v", err)
	}
	var empty objstore.Batch
	if err := in.Ingest(&empty); err != nil {
		t.Errorf("Ingest of an empty batch: %v", err)
	}
	var del objstore.Batch
	del.Put([]byte("q"), []byte("1"))
	del.Delete([]byte("a"))
	if err := in.Ingest(&del); err == nil {
		t.Error("Ingest of a batch with a delete: want an error")
	}
	if ok, _ := kv.Has([]byte("q")); ok {
		t.Error("a refused ingest wrote a key")
	}
}
