package rocksdb

import (
	"bytes"
	"slices"
	"testing"

	"github.com/helios-vcs/helios/objstore"
	"pgregory.net/rapid"
)

// TestKeyOrder checks keyOrder against a plain stable sort of the keys:
// keys shorter than, equal to and longer than its 8-byte heads, sharing
// heads, repeated (equal keys keep the order they were put in).
func TestKeyOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		keys := rapid.SliceOf(rapid.SliceOfN(rapid.SampledFrom([]byte{0, 1, 'a', 0xff}), 0, 11)).Draw(t, "keys")
		ops := make([]objstore.BatchOp, len(keys))
		want := make([]int32, len(keys))
		for i, k := range keys {
			ops[i].Key = k
			want[i] = int32(i)
		}
		slices.SortStableFunc(want, func(a, b int32) int { return bytes.Compare(keys[a], keys[b]) })
		if got := keyOrder(ops); !slices.Equal(got, want) {
			t.Fatalf("keyOrder = %v, want %v", got, want)
		}
	})
}
