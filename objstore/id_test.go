package objstore

import (
	"errors"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestParseIDStrict(t *testing.T) {
	good := "b3:" + strings.Repeat("0f", 32)
	tests := []struct {
		in string
		ok bool
	}{
		{good, true},
		{strings.Repeat("0f", 32), false},               // no tag
		{"B3:" + strings.Repeat("0f", 32), false},       // tag case
		{"b3:" + strings.Repeat("0F", 32), false},       // upper-case hex
		{"b3:" + strings.Repeat("0f", 31), false},       // short
		{"b3:" + strings.Repeat("0f", 32) + "0", false}, // long
		{"b3:" + strings.Repeat("zz", 32), false},       // not hex
		{"", false},
		{"sha1:" + strings.Repeat("0f", 30), false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			id, err := ParseID(tc.in)
			if tc.ok != (err == nil) {
				t.Fatalf("ParseID(%q) err = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBadID) {
				t.Errorf("error %v does not wrap ErrBadID", err)
			}
			if tc.ok && id.String() != tc.in {
				t.Errorf("round trip: got %q, want %q", id.String(), tc.in)
			}
		})
	}
}

func TestIDTextRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var id ID
		copy(id[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "id"))
		b, _ := id.MarshalText()
		var got ID
		if err := got.UnmarshalText(b); err != nil || got != id {
			t.Fatalf("got %v, %v, want %v", got, err, id)
		}
		if id.Short() != id.String()[3:15] {
			t.Fatalf("Short = %q", id.Short())
		}
	})
	var bad ID
	if err := bad.UnmarshalText([]byte("b3:xyz")); err == nil {
		t.Error("UnmarshalText accepted garbage")
	}
}

func TestHasherDomainsAndKeys(t *testing.T) {
	data := []byte("same bytes")
	plain := NewHasher(nil)
	seen := map[ID]Kind{}
	for k := KindChunk; k <= KindState; k++ {
		id := plain.Sum(k, data)
		if prev, dup := seen[id]; dup {
			t.Fatalf("%v and %v share an ID for the same bytes", prev, k)
		}
		seen[id] = k
		if again := plain.Sum(k, data); again != id {
			t.Fatalf("%v: hashing twice differs (pooled hasher not reset)", k)
		}
		if plainHasher.Sum(k, data) != id {
			t.Fatalf("%v: two plain hashers disagree", k)
		}
	}
	keyed := NewHasher([]byte("secret"))
	if keyed.Sum(KindBlob, data) == plain.Sum(KindBlob, data) {
		t.Fatal("a secret does not change the ID")
	}
	// A streamed hash equals a one-shot hash.
	h := plain.newStream(KindBlob)
	h.Write(data[:4])
	h.Write(data[4:])
	if got := plain.doneStream(KindBlob, h); got != plain.Sum(KindBlob, data) {
		t.Fatal("streamed hash differs")
	}
	if KindTree.String() != "tree" || Kind(9).String() != "kind(9)" {
		t.Errorf("Kind names: %v %v", KindTree, Kind(9))
	}
}
