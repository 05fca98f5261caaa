package objstore

import (
	"bytes"
	"testing"
)

// Fuzz targets for every decoder that reads bytes from disk: whatever the
// input, a decoder returns an error or a value that re-encodes to the same
// bytes; it never panics. CI runs each briefly (make fuzz).

func FuzzDecodeTree(f *testing.F) {
	good, _ := EncodeTree(&Tree{Entries: []Entry{{Name: "a", Mode: ModeFile}, {Name: "d", Mode: ModeDir, ID: ID{1}}}})
	f.Add(good)
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := DecodeTree(b)
		if err != nil {
			return
		}
		again, err := EncodeTree(tr)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded tree re-encodes differently: %v", err)
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	f.Add(EncodeState(&State{Root: ID{1}, Parents: []ID{{2}}, Message: "m", Author: Signature{Name: "a"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := DecodeState(b)
		if err != nil {
			return
		}
		if again := EncodeState(st); !bytes.Equal(again, b) {
			t.Fatalf("decoded state re-encodes differently")
		}
	})
}

func FuzzDecodeChunkList(f *testing.F) {
	f.Add(encodeChunkList(10, []ChunkRef{{ID: ID{1}, Size: 4}, {ID: ID{2}, Size: 6}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		size, chunks, err := decodeChunkList(b)
		if err != nil {
			return
		}
		if again := encodeChunkList(size, chunks); !bytes.Equal(again, b) {
			t.Fatalf("decoded chunk list re-encodes differently")
		}
	})
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"a/b", "../x", ".GIT/config", "a//b", "/abs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		parts, err := CleanPath(p)
		if err != nil {
			return
		}
		for _, c := range parts {
			if c == "" || c == "." || c == ".." || bytes.ContainsAny([]byte(c), "/\x00") || isDotGit(c) {
				t.Fatalf("CleanPath(%q) accepted component %q", p, c)
			}
		}
	})
}
