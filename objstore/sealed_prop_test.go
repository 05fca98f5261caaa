package objstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	stdstrings "strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/helios-vcs/helios/objstore"
	"pgregory.net/rapid"
)

// Two worktree keys (16 bytes each) for stat cache keys.
var propWkeys = []string{stdstrings.Repeat("\x01", 16), "0123456789abcdef"}

// genKey draws a key in one of the store's key spaces, hidden or not, with
// a short tail from a small alphabet so that keys share prefixes.
func genKey(t *rapid.T, label string) []byte {
	p := rapid.SampledFrom([]string{"r", "rrefs/heads/", "gr", "go", "gi", "W", "w", "c", "m", "a", "al", "g", "", "s"}).Draw(t, label+"-space")
	if p == "w" && rapid.Bool().Draw(t, label+"-inwt") {
		wk := rapid.SampledFrom(propWkeys).Draw(t, label+"-wkey")
		p += wk[:rapid.SampledFrom([]int{16, 16, 16, 7}).Draw(t, label+"-wkeylen")]
	}
	tail := rapid.SliceOfN(rapid.SampledFrom([]byte("ab/\x00\xff")), 0, 4).Draw(t, label+"-tail")
	return append([]byte(p), tail...)
}

type kvEntry struct{ K, V string }

func scanAll(t *rapid.T, r interface {
	Scan([]byte, func(k, v []byte) error) error
}, prefix []byte) []kvEntry {
	var out []kvEntry
	if err := r.Scan(prefix, func(k, v []byte) error {
		out = append(out, kvEntry{string(k), string(v)})
		return nil
	}); err != nil {
		t.Fatalf("Scan(%q): %v", prefix, err)
	}
	// A sealed KV yields 'g' 'o' keys in no particular order (see SealKV):
	// compare each run of them as a set.
	for i := 0; i < len(out); {
		j := i
		for j < len(out) && stdstrings.HasPrefix(out[j].K, "go") {
			j++
		}
		if j > i {
			slices.SortFunc(out[i:j], func(a, b kvEntry) int { return stdstrings.Compare(a.K, b.K) })
			i = j
		} else {
			i++
		}
	}
	return out
}

// TestSealedKVBehavesLikeMemKV: for random sequences of batches (puts and
// deletes), ingestions, gets, has, multi-has, scans of any prefix and
// snapshots, a sealed KV (hidden keys and all) answers like a plain MemKV,
// and the engine under it never holds a hidden space's key in the clear.
func TestSealedKVBehavesLikeMemKV(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		model := objstore.NewMemKV()
		raw := objstore.NewMemKV()
		sealed, err := objstore.SealKV(raw, testAEAD(t, 1), testMAC(1))
		if err != nil {
			rt.Fatal(err)
		}
		var snaps [][2]objstore.KVReader // model, sealed
		defer func() {
			for _, s := range snaps {
				s[0].Release()
				s[1].Release()
			}
		}()
		n := rapid.IntRange(1, 60).Draw(rt, "steps")
		for i := 0; i < n; i++ {
			switch rapid.IntRange(0, 7).Draw(rt, "op") {
			case 0, 1: // a batch
				var b objstore.Batch
				for j := rapid.IntRange(1, 4).Draw(rt, "ops"); j > 0; j-- {
					k := genKey(rt, "key")
					if rapid.IntRange(0, 3).Draw(rt, "del") == 0 {
						b.Delete(k)
					} else {
						b.Put(k, []byte(fmt.Sprintf("v%d-%s", i, k)))
					}
				}
				if err := model.Write(&b, false); err != nil {
					rt.Fatal(err)
				}
				if err := sealed.Write(&b, rapid.Bool().Draw(rt, "sync")); err != nil {
					rt.Fatal(err)
				}
			case 2: // an ingestion
				var b objstore.Batch
				for j := rapid.IntRange(0, 4).Draw(rt, "puts"); j > 0; j-- {
					k := genKey(rt, "key")
					b.Put(k, []byte(fmt.Sprintf("i%d-%s", i, k)))
				}
				model.Ingest(&b)
				if err := sealed.(objstore.Ingester).Ingest(&b); err != nil {
					rt.Fatal(err)
				}
			case 3: // get and has
				k := genKey(rt, "key")
				want, werr := model.Get(k)
				got, gerr := sealed.Get(k)
				if errors.Is(werr, objstore.ErrNotFound) != errors.Is(gerr, objstore.ErrNotFound) || (werr == nil) != (gerr == nil) || !bytes.Equal(want, got) {
					rt.Fatalf("Get(%q) = %q, %v; want %q, %v", k, got, gerr, want, werr)
				}
				wh, _ := model.Has(k)
				gh, err := sealed.Has(k)
				if err != nil || wh != gh {
					rt.Fatalf("Has(%q) = %v, %v; want %v", k, gh, err, wh)
				}
			case 4: // multi-has
				keys := [][]byte{genKey(rt, "k1"), genKey(rt, "k2"), genKey(rt, "k3")}
				want, _ := model.MultiHas(keys)
				got, err := sealed.(objstore.MultiHaser).MultiHas(keys)
				if err != nil || !slices.Equal(want, got) {
					rt.Fatalf("MultiHas(%q) = %v, %v; want %v", keys, got, err, want)
				}
			case 5, 6: // scan a prefix: everything, a space, a worktree, a key cut short
				var prefix []byte
				switch rapid.IntRange(0, 5).Draw(rt, "prefixkind") {
				case 0: // everything
				case 1, 2: // a whole space or worktree
					prefix = []byte(rapid.SampledFrom([]string{"r", "rrefs/heads/", "g", "gr", "go", "W", "w", "w" + propWkeys[0], "w" + propWkeys[1], "c"}).Draw(rt, "space"))
				default:
					k := genKey(rt, "prefix")
					prefix = k
					if rapid.Bool().Draw(rt, "cut") {
						prefix = k[:rapid.IntRange(0, len(k)).Draw(rt, "cutat")]
					}
				}
				if diff := cmp.Diff(scanAll(rt, model, prefix), scanAll(rt, sealed, prefix)); diff != "" {
					rt.Fatalf("Scan(%q) (-want +got):\n%s", prefix, diff)
				}
				for _, s := range snaps {
					if diff := cmp.Diff(scanAll(rt, s[0], prefix), scanAll(rt, s[1], prefix)); diff != "" {
						rt.Fatalf("snapshot Scan(%q) (-want +got):\n%s", prefix, diff)
					}
				}
			case 7: // a snapshot, compared at every later scan
				ms, _ := model.Snapshot()
				ss, err := sealed.(objstore.Snapshotter).Snapshot()
				if err != nil {
					rt.Fatal(err)
				}
				snaps = append(snaps, [2]objstore.KVReader{ms, ss})
			}
		}
		// Nothing of a hidden space is stored under its own key.
		if err := model.Scan(nil, func(k, v []byte) error {
			if hiddenKey(k) {
				if ok, _ := raw.Has(k); ok {
					rt.Errorf("key %q stored in the clear", k)
				}
			}
			return nil
		}); err != nil {
			rt.Fatal(err)
		}
	})
}

func hiddenKey(k []byte) bool {
	for _, p := range []string{"r", "gr", "go", "W", "w"} {
		if bytes.HasPrefix(k, []byte(p)) {
			return true
		}
	}
	return false
}
