package mcts

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/mcts/eval"
	"github.com/helios-vcs/helios/mcts/propose"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
)

// benchSearch runs b.N iterations of one search on the example project
// with a test command that always fails without output (reward 0: the
// search never stops early) and reports the overhead per iteration
// outside the test runs, and its parts, in ms.
func benchSearch(b *testing.B, open func(dir string) Backend) {
	st := open(b.TempDir())
	defer st.Close()
	files := map[string][]byte{}
	for p, c := range ExampleProject() {
		files[p] = []byte(c)
	}
	base, _, err := st.MakeState(objstore.ZeroID, files, "example")
	if err != nil {
		b.Fatal(err)
	}
	se, err := NewSearch(st, Config{Run: "bench", Base: base, Workers: 1, Seed: 1, Iterations: b.N, KeepGoing: true,
		Proposer: &propose.Mutate{}, Test: eval.Config{Command: "exit 1", Dir: b.TempDir()}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	r, err := se.Run(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if r.Iterations > 0 {
		n := float64(r.Iterations)
		b.ReportMetric(r.OverheadMSPer, "overhead-ms/iter")
		b.ReportMetric(r.Time.ProposeS*1000/n, "propose-ms/iter")
		b.ReportMetric(r.Time.SwitchS*1000/n, "switch-ms/iter")
		b.ReportMetric(r.Time.StoreS*1000/n, "store-ms/iter")
		b.ReportMetric(r.Time.ScoreS*1000/n, "score-ms/iter")
		b.ReportMetric(r.Time.SearchS*1000/n, "search-ms/iter")
	}
}

func BenchmarkSearchOverheadRocksDB(b *testing.B) {
	benchSearch(b, func(dir string) Backend {
		kv, err := rocksdb.Open(filepath.Join(dir, "db"), rocksdb.Options{Create: true})
		if err != nil {
			b.Fatal(err)
		}
		s, err := objstore.Init(kv, objstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return Objstore{Store: s}
	})
}

func BenchmarkSearchOverheadGit(b *testing.B) {
	benchSearch(b, func(dir string) Backend {
		g, err := InitGit(filepath.Join(dir, "repo.git"))
		if err != nil {
			b.Fatal(err)
		}
		return g
	})
}

// BenchmarkSwitchSiblings moves one scratch checkout back and forth
// between two sibling states of the example project (one file differs),
// as the evaluator does between iterations.
func BenchmarkSwitchSiblings(b *testing.B) {
	for _, be := range []struct {
		name string
		open func(dir string) Backend
	}{
		{"rocksdb", func(dir string) Backend {
			kv, err := rocksdb.Open(filepath.Join(dir, "db"), rocksdb.Options{Create: true})
			if err != nil {
				b.Fatal(err)
			}
			s, err := objstore.Init(kv, objstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return Objstore{Store: s}
		}},
		{"git", func(dir string) Backend {
			g, err := InitGit(filepath.Join(dir, "repo.git"))
			if err != nil {
				b.Fatal(err)
			}
			return g
		}},
	} {
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b.TempDir())
			defer st.Close()
			files := map[string][]byte{}
			for p, c := range ExampleProject() {
				files[p] = []byte(c)
			}
			base, _, err := st.MakeState(objstore.ZeroID, files, "example")
			if err != nil {
				b.Fatal(err)
			}
			var kids [2]objstore.ID
			for i := range kids {
				lib := strings.Replace(string(files["lib.sh"]), "i < n", fmt.Sprintf("i < n + %d", i), 1)
				if kids[i], _, err = st.MakeState(base, map[string][]byte{"lib.sh": []byte(lib)}, "kid"); err != nil {
					b.Fatal(err)
				}
			}
			dir := filepath.Join(b.TempDir(), "w0")
			if _, err := st.Checkout(dir, kids[0], objstore.CheckoutOptions{Force: true}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := st.Checkout(dir, kids[(i+1)%2], objstore.CheckoutOptions{Force: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMakeState makes a child state with one file changed.
func BenchmarkMakeState(b *testing.B) {
	kv, err := rocksdb.Open(filepath.Join(b.TempDir(), "db"), rocksdb.Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	s, err := objstore.Init(kv, objstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	st := Objstore{Store: s}
	defer st.Close()
	files := map[string][]byte{}
	for p, c := range ExampleProject() {
		files[p] = []byte(c)
	}
	base, _, err := st.MakeState(objstore.ZeroID, files, "example")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lib := strings.Replace(string(files["lib.sh"]), "i < n", fmt.Sprintf("i < n + %d", i), 1)
		if _, _, err := st.MakeState(base, map[string][]byte{"lib.sh": []byte(lib)}, "kid"); err != nil {
			b.Fatal(err)
		}
	}
}
