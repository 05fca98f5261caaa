//go:build !thin

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/helios-vcs/helios/objstore/objbench"
	"github.com/urfave/cli/v2"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure the store on this machine (temporary RocksDB stores); --phase0 for the go/no-go table",
		Flags: []cli.Flag{jsonFlag, &cli.BoolFlag{Name: "phase0", Usage: "the Phase-0 go/no-go table (as helios phase0)"}},
		Action: func(c *cli.Context) error {
			if !c.Bool("phase0") {
				return cli.ShowSubcommandHelp(c)
			}
			o := phase0Options{json: c.Bool("json"), skip: map[string]bool{}, ioN: 100, abSeeds: 2}
			return runPhase0(c.Context, o, defaultPhase0Probes(c.App), c.App.Writer, c.App.ErrWriter)
		},
		Subcommands: []*cli.Command{
			{
				Name:  "commit",
				Usage: "state commits of one changed file in a tree of --files files (no fsync, and durable with group commit)",
				Flags: []cli.Flag{jsonFlag,
					&cli.IntFlag{Name: "files", Value: 1000},
					&cli.IntFlag{Name: "iterations", Value: 5000},
					&cli.IntFlag{Name: "workers", Value: 1, Usage: "concurrent committers (each on its own ref)"},
					&cli.BoolFlag{Name: "durable", Usage: "only the durable (fsync) run"},
				},
				Action: func(c *cli.Context) error {
					return runBenchCommit(c.Int("files"), c.Int("iterations"), c.Int("workers"), c.Bool("durable"), c.Bool("json"), c.App.Writer)
				},
			},
			{
				Name:  "tier",
				Usage: "the block tier: each device backend (latency, throughput by size and queue depth), then the store's large-blob put/get with the tier off and on",
				Flags: []cli.Flag{jsonFlag,
					&cli.IntFlag{Name: "blobs", Value: 200},
					&cli.IntFlag{Name: "blob-size", Value: 1 << 20},
					&cli.IntFlag{Name: "threshold", Value: 16 << 10, Usage: "tier threshold for the store runs"},
				},
				Action: func(c *cli.Context) error {
					return runBenchTier(c, c.Int("blobs"), c.Int("blob-size"), c.Int("threshold"), c.Bool("json"))
				},
			},
			{
				Name:  "all",
				Usage: "every store figure: commit, L1 hit, BLAKE3, RocksDB put/get, materialize, switch, snapshot",
				Flags: []cli.Flag{jsonFlag, &cli.IntFlag{Name: "files", Value: 1000},
					&cli.Float64Flag{Name: "scale", Value: 1, Usage: "multiply every iteration count (0.01 for a smoke run)"},
				},
				Action: func(c *cli.Context) error {
					return runBenchAll(c.Int("files"), c.Float64("scale"), c.Bool("json"), c.App.Writer, c.App.ErrWriter)
				},
			},
		},
	}
}

// commitReport is the JSON `helios bench commit` prints: the no-fsync run
// at the top level (files, iterations, p50_us, ...) and the durable runs
// beside it.
type commitReport struct {
	objbench.CommitResult
	Durable      *objbench.CommitResult `json:"durable_run,omitempty"`
	DurableGroup *objbench.CommitResult `json:"durable_group_commit,omitempty"`
	Machine      machine                `json:"machine"`
}

type machine struct {
	CPUs int    `json:"cpus"`
	OS   string `json:"os"`
	Go   string `json:"go"`
}

func thisMachine() machine {
	return machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
}

func runBenchCommit(files, iters, workers int, durableOnly, asJSON bool, stdout io.Writer) error {
	rep := commitReport{Machine: thisMachine()}
	if !durableOnly {
		r, err := objbench.Commit(files, iters, workers, false)
		if err != nil {
			return err
		}
		rep.CommitResult = r
	}
	// fsync costs milliseconds here: fewer iterations say as much.
	dIters := max(min(iters, 300), 1)
	d, err := objbench.Commit(files, dIters, 1, true)
	if err != nil {
		return err
	}
	g, err := objbench.Commit(files, dIters, 8, true)
	if err != nil {
		return err
	}
	rep.Durable, rep.DurableGroup = &d, &g
	if durableOnly {
		rep.CommitResult = d
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	if !durableOnly {
		printCommit(stdout, "commit (WAL, no fsync)", rep.CommitResult)
	}
	printCommit(stdout, "commit (durable, 1 writer)", d)
	printCommit(stdout, "commit (durable, 8 writers)", g)
	return nil
}

func printCommit(w io.Writer, name string, r objbench.CommitResult) {
	fmt.Fprintf(w, "%-30s files=%d n=%d p50=%.1fµs p95=%.1fµs p99=%.1fµs %.0f commits/s %.0f KV bytes/commit\n",
		name, r.Files, r.N, r.P50us, r.P95us, r.P99us, r.PerSec, r.BytesPerCommit)
}

type allReport struct {
	Machine  machine                 `json:"machine"`
	Commit   commitReport            `json:"commit"`
	L1Hit    objbench.Latency        `json:"l1_hit"`
	BLAKE3   []objbench.Throughput   `json:"blake3"`
	RocksDB  objbench.KVResult       `json:"rocksdb"`
	Worktree objbench.WorktreeResult `json:"worktree"`
}

func runBenchAll(files int, scale float64, asJSON bool, stdout, stderr io.Writer) error {
	rep := allReport{Machine: thisMachine()}
	n := func(x int) int { return max(int(float64(x)*scale), 3) }
	progress := func(s string) { fmt.Fprintf(stderr, "bench: %s\n", s) }
	progress("commit")
	var err error
	if rep.Commit.CommitResult, err = objbench.Commit(files, n(5000), 1, false); err != nil {
		return err
	}
	d, err := objbench.Commit(files, n(300), 1, true)
	if err != nil {
		return err
	}
	g, err := objbench.Commit(files, n(300), 8, true)
	if err != nil {
		return err
	}
	rep.Commit.Durable, rep.Commit.DurableGroup = &d, &g
	progress("L1 hit, BLAKE3")
	rep.L1Hit = objbench.CacheHit(n(20000))
	rep.BLAKE3 = objbench.BLAKE3([]int{1 << 10, 4 << 10, 64 << 10, 1 << 20, 16 << 20}, time.Duration(float64(300*time.Millisecond)*scale))
	progress("rocksdb")
	if rep.RocksDB, err = objbench.KV(n(5000)); err != nil {
		return err
	}
	progress("worktree")
	if rep.Worktree, err = objbench.Worktree(files, n(200)); err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	printCommit(stdout, "commit (WAL, no fsync)", rep.Commit.CommitResult)
	printCommit(stdout, "commit (durable, 1 writer)", d)
	printCommit(stdout, "commit (durable, 8 writers)", g)
	fmt.Fprintf(stdout, "%-30s p50=%.3fµs p95=%.3fµs\n", "L1 hit", rep.L1Hit.P50us, rep.L1Hit.P95us)
	for _, t := range rep.BLAKE3 {
		fmt.Fprintf(stdout, "%-30s %8d B  %.2f GB/s\n", "BLAKE3", t.Size, t.GBps)
	}
	kv := rep.RocksDB
	fmt.Fprintf(stdout, "%-30s p50=%.1fµs p95=%.1fµs\n", "rocksdb put (WAL)", kv.Put.P50us, kv.Put.P95us)
	fmt.Fprintf(stdout, "%-30s p50=%.1fµs p95=%.1fµs\n", "rocksdb put (fsync)", kv.PutSync.P50us, kv.PutSync.P95us)
	fmt.Fprintf(stdout, "%-30s p50=%.1fµs p95=%.1fµs\n", "rocksdb get", kv.Get.P50us, kv.Get.P95us)
	wt := rep.Worktree
	fmt.Fprintf(stdout, "%-30s p50=%.0fµs p95=%.0fµs\n", fmt.Sprintf("materialize %d files", wt.Files), wt.Materialize.P50us, wt.Materialize.P95us)
	fmt.Fprintf(stdout, "%-30s p50=%.0fµs p95=%.0fµs\n", "switch, 1 file differs", wt.Switch.P50us, wt.Switch.P95us)
	fmt.Fprintf(stdout, "%-30s p50=%.0fµs p95=%.0fµs\n", "snapshot dir, 1 file edited", wt.Snapshot.P50us, wt.Snapshot.P95us)
	return nil
}

func runBenchTier(c *cli.Context, blobs, size, threshold int, asJSON bool) error {
	fmt.Fprintln(c.App.ErrWriter, "bench: tier (device backends, then the store three ways)")
	rep, err := objbench.Tier(c.Context, blobs, size, threshold)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(c.App.Writer).Encode(struct {
			Machine machine `json:"machine"`
			objbench.TierReport
		}{thisMachine(), rep})
	}
	w := c.App.Writer
	for _, f := range rep.Fallbacks {
		fmt.Fprintf(w, "fallback: %s\n", f)
	}
	fmt.Fprintf(w, "%-6s %-5s %8s %3s %10s %10s %10s %9s\n", "dev", "op", "size", "qd", "p50", "p95", "p99", "MB/s")
	for _, d := range rep.Devices {
		fmt.Fprintf(w, "%-6s %-5s %8d %3d %10v %10v %10v %9.0f\n", d.Backend, d.Op, d.Size, d.QueueDepth, d.P50, d.P95, d.P99, d.MBps)
	}
	fmt.Fprintf(w, "\n%-13s %9s %9s %9s %9s %8s %8s %6s\n", "store", "put p50", "put p95", "get p50", "get p95", "put MB/s", "get MB/s", "WA")
	for _, r := range rep.Store {
		fmt.Fprintf(w, "%-13s %7.0fµs %7.0fµs %7.0fµs %7.0fµs %8.0f %8.0f %6.2f\n", r.Config, r.Put.P50us, r.Put.P95us, r.Get.P50us, r.Get.P95us, r.PutMBps, r.GetMBps, r.WriteAmp)
	}
	return nil
}
