package gitrepo

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/helios-vcs/helios/helper/gitobj"
)

// benchObjects makes n blobs of 100 B to 8 KiB (seeded, printed).
func benchObjects(b *testing.B, n int) []gitobj.Object {
	const seed = 1
	b.Logf("seed %d, %d objects", seed, n)
	rng := rand.New(rand.NewSource(seed))
	objs := make([]gitobj.Object, n)
	for i := range objs {
		data := make([]byte, 100+rng.Intn(8<<10))
		for j := range data {
			data[j] = byte('a' + rng.Intn(16)) // compressible, like source
		}
		id, _ := gitobj.HashObject(gitobj.SHA1, gitobj.Blob, data)
		objs[i] = gitobj.Object{Type: gitobj.Blob, OID: id, Data: data}
	}
	return objs
}

func benchN() int {
	if n, err := strconv.Atoi(os.Getenv("HELIOS_BENCH_OBJECTS")); err == nil {
		return n
	}
	return 10000
}

func writeBenchPack(b *testing.B, objs []gitobj.Object, opts PackOptions) (PackFiles, []IndexEntry) {
	pw, err := NewPackWriter(b.TempDir(), gitobj.SHA1, opts)
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range objs {
		if err := pw.WriteObject(o); err != nil {
			b.Fatal(err)
		}
	}
	entries := append([]IndexEntry(nil), pw.entries...)
	pf, err := pw.Finish()
	if err != nil {
		b.Fatal(err)
	}
	return pf, entries
}

// BenchmarkPackWriter: pack + our idx + keep, the whole fetch-side write.
// HELIOS_BENCH_OBJECTS=100000 go test -run x -bench PackWriter -benchtime 1x ./helper/gitrepo
func BenchmarkPackWriter(b *testing.B) {
	objs := benchObjects(b, benchN())
	for _, c := range []struct {
		name string
		opts PackOptions
	}{{"level1-nosync", PackOptions{NoSync: true}}, {"level1-sync", PackOptions{}}, {"level6-nosync", PackOptions{Level: 6, NoSync: true}}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				pf, _ := writeBenchPack(b, objs, c.opts)
				fi, _ := os.Stat(pf.Pack)
				b.ReportMetric(float64(fi.Size())/(1<<20), "MiB-pack")
			}
		})
	}
}

// BenchmarkIndex compares ways to produce the .idx of one pack: our
// WriteIndex from known offsets/CRCs, go-git's idxfile.Writer+Encoder from
// the same, and git index-pack (which re-reads, inflates and hashes).
func BenchmarkIndex(b *testing.B) {
	objs := benchObjects(b, benchN())
	pf, entries := writeBenchPack(b, objs, PackOptions{NoSync: true})
	packData, _ := os.ReadFile(pf.Pack)
	sum := packData[len(packData)-20:]
	b.Run("own", func(b *testing.B) {
		for b.Loop() {
			var buf bytes.Buffer
			if err := WriteIndex(&buf, gitobj.SHA1, append([]IndexEntry(nil), entries...), sum); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-git", func(b *testing.B) {
		for b.Loop() {
			var w idxfile.Writer
			w.OnHeader(uint32(len(entries)))
			for _, e := range entries {
				var h plumbing.Hash
				copy(h[:], e.OID.Bytes())
				w.Add(h, e.Offset, e.CRC32)
			}
			var ph plumbing.Hash
			copy(ph[:], sum)
			w.OnFooter(ph)
			idx, err := w.Index()
			if err != nil {
				b.Fatal(err)
			}
			var buf bytes.Buffer
			if _, err := idxfile.NewEncoder(&buf).Encode(idx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("git-index-pack", func(b *testing.B) {
		for b.Loop() {
			out := filepath.Join(b.TempDir(), "x.idx")
			cmd := exec.Command("git", "index-pack", "-o", out, pf.Pack)
			if msg, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v %s", err, msg)
			}
		}
	})
}

// The go-git encoder and ours must produce the same bytes.
func TestIndexMatchesGoGit(t *testing.T) {
	var entries []IndexEntry
	for i := 0; i < 300; i++ {
		id, _ := gitobj.HashObject(gitobj.SHA1, gitobj.Blob, []byte(fmt.Sprint(i)))
		entries = append(entries, IndexEntry{OID: id, Offset: uint64(i) * 100, CRC32: uint32(i)})
	}
	entries = append(entries, IndexEntry{OID: gitobj.MustParseOID("ff00000000000000000000000000000000000000"), Offset: 3 << 30})
	sum := bytes.Repeat([]byte{7}, 20)
	var ours bytes.Buffer
	if err := WriteIndex(&ours, gitobj.SHA1, append([]IndexEntry(nil), entries...), sum); err != nil {
		t.Fatal(err)
	}
	var w idxfile.Writer
	w.OnHeader(uint32(len(entries)))
	for _, e := range entries {
		var h plumbing.Hash
		copy(h[:], e.OID.Bytes())
		w.Add(h, e.Offset, e.CRC32)
	}
	var ph plumbing.Hash
	copy(ph[:], sum)
	w.OnFooter(ph)
	idx, err := w.Index()
	if err != nil {
		t.Fatal(err)
	}
	var theirs bytes.Buffer
	if _, err := idxfile.NewEncoder(&theirs).Encode(idx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ours.Bytes(), theirs.Bytes()) {
		t.Fatalf("index differs from go-git's (%d vs %d bytes)", ours.Len(), theirs.Len())
	}
}
