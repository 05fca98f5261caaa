package served_test

import (
	"context"
	"testing"

	"github.com/helios-vcs/helios/mcts"
	"github.com/helios-vcs/helios/mcts/eval"
	"github.com/helios-vcs/helios/mcts/propose"
	"github.com/helios-vcs/helios/mcts/served"
	"github.com/helios-vcs/helios/objstore"
)

// BenchmarkSearchOverheadServed is mcts's BenchmarkSearchOverheadRocksDB
// through a server on the same RocksDB store: b.N iterations of one search
// on the example project, a test that always fails without output, one
// worker; it reports the overhead per iteration outside the test runs and
// its parts, in ms. The server runs in this process (its own goroutines,
// reached over its Unix socket), so the figure includes the protocol and
// the socket, not a second process's scheduling.
func BenchmarkSearchOverheadServed(b *testing.B) {
	st := served.New(serve(b, rocksStore(b), 1)...)
	defer st.Close()
	files := map[string][]byte{}
	for p, c := range mcts.ExampleProject() {
		files[p] = []byte(c)
	}
	base, _, err := st.MakeState(objstore.ZeroID, files, "example")
	if err != nil {
		b.Fatal(err)
	}
	se, err := mcts.NewSearch(st, mcts.Config{Run: "bench", Base: base, Workers: 1, Seed: 1, Iterations: b.N, KeepGoing: true,
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
