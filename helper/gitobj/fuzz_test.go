package gitobj

import "testing"

// FuzzTree: git tree bytes from a push never panic the parser or the
// strict checks, and a tree that decodes re-encodes to the same bytes.
func FuzzTree(f *testing.F) {
	f.Add([]byte("100644 a\x00" + string(make([]byte, 20))))
	f.Add([]byte("40000 .git\x00" + string(make([]byte, 20))))
	f.Fuzz(func(t *testing.T, b []byte) {
		CheckTree(SHA1, OID{}, b)
		tr, err := DecodeTree(SHA1, b)
		if err != nil {
			return
		}
		if got := string(tr.Encode()); got != string(b) {
			t.Fatalf("tree round trip differs")
		}
	})
}
