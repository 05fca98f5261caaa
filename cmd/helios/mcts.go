//go:build !thin

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/helios-vcs/helios/mcts"
	"github.com/helios-vcs/helios/mcts/eval"
	"github.com/helios-vcs/helios/mcts/propose"
	"github.com/helios-vcs/helios/mcts/served"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
	"github.com/helios-vcs/helios/objstore/server"
	"github.com/urfave/cli/v2"
)

// mctsCommand is "helios mcts run" and "helios mcts ab". A run on a Helios
// store goes through the store's server, like every other command (see
// searchBackend); ab makes scratch stores of its own.
func mctsCommand() *cli.Command {
	return &cli.Command{
		Name:  "mcts",
		Usage: "tree search over code states, with tests as the reward",
		Subcommands: []*cli.Command{
			{
				Name:      "run",
				Usage:     "search for edits that make the tests pass; results go to refs/heads/mcts/<run>/",
				UsageText: "helios mcts run --store DIR --ref REF --test 'CMD' [--files GLOB...] [--iterations N] [--time-budget DUR] [--workers K] [--seed S] [--proposer NAME] [--test-timeout DUR] [--backend helios|git] [--no-server] [--json]",
				Flags: append([]cli.Flag{storeFlag, jsonFlag, quietFlag, noServerFlag,
					&cli.StringFlag{Name: "ref", Value: "main", Usage: "ref or state ID to start from"},
					&cli.StringFlag{Name: "test", Required: true, Usage: "test command, run with sh -c in a scratch checkout"},
					&cli.StringSliceFlag{Name: "files", Usage: "globs of the files to edit (default: text files that do not look like tests)"},
					&cli.StringFlag{Name: "junit", Usage: "JUnit XML file (relative to the checkout) the test command writes"},
					&cli.DurationFlag{Name: "test-timeout", Usage: "limit per test run (default: 5× the first run, at least 1s)"},
					&cli.StringFlag{Name: "run", Usage: "run name (default: time and seed)"},
					&cli.IntFlag{Name: "top", Value: 3, Usage: "how many top-N refs to write"},
					&cli.StringFlag{Name: "scratch", Usage: "directory for scratch checkouts (default: system temp)"},
				}, searchFlags()...),
				Action: func(c *cli.Context) error {
					o, err := mctsOptionsFrom(c)
					if err != nil {
						return err
					}
					return runMCTS(c.Context, o, c.App.Writer, c.App.ErrWriter)
				},
			},
			mctsABCommand(), mctsExampleCommand(),
		},
	}
}

// searchFlags shape a search; run takes them, and so do the --a and --b
// configurations of ab.
func searchFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "iterations", Value: 200, Usage: "new states to evaluate at most"},
		&cli.DurationFlag{Name: "time-budget", Usage: "wall time limit"},
		&cli.IntFlag{Name: "workers", Value: runtime.NumCPU(), Usage: "parallel workers, each with its scratch checkout"},
		&cli.Uint64Flag{Name: "seed", Usage: "seed (default: random, printed)"},
		&cli.StringFlag{Name: "proposer", Value: "mutate", Usage: "mutate, command:CMD or openai"},
		&cli.StringFlag{Name: "llm-url", Usage: "base URL of an OpenAI-compatible API (openai proposer)"},
		&cli.StringFlag{Name: "llm-model", Usage: "model name (openai proposer)"},
		&cli.StringFlag{Name: "llm-key-env", Value: "OPENAI_API_KEY", Usage: "environment variable holding the API key"},
		&cli.StringFlag{Name: "algorithm", Value: "uct", Usage: "uct or puct"},
		&cli.Float64Flag{Name: "c", Value: mcts.DefaultSelection.C, Usage: "exploration constant"},
		&cli.Float64Flag{Name: "widen-k", Value: mcts.DefaultSelection.WidenK, Usage: "progressive widening: children ≤ k·(visits+1)^alpha"},
		&cli.Float64Flag{Name: "widen-alpha", Value: mcts.DefaultSelection.WidenAlpha, Usage: "progressive widening exponent"},
		&cli.IntFlag{Name: "max-depth", Value: mcts.DefaultSelection.MaxDepth, Usage: "most edit steps stacked on the base"},
		&cli.BoolFlag{Name: "keep-going", Usage: "search on after a state passes every test"},
		&cli.StringFlag{Name: "backend", Value: "helios", Usage: "state store: helios, or git (the baseline: --store is then a git repository, --ref a revision)"},
	}
}

type mctsOptions struct {
	store, ref          string
	json, quiet, seeded bool
	noServer            bool
	cfg                 mcts.Config
	proposer            string
	popts               mcts.ProposerOptions
}

// searchConfig reads the searchFlags of c.
func searchConfig(c *cli.Context) (mcts.Config, string, mcts.ProposerOptions, error) {
	sel := mcts.Selection{C: c.Float64("c"), WidenK: c.Float64("widen-k"), WidenAlpha: c.Float64("widen-alpha"), MaxDepth: c.Int("max-depth")}
	switch c.String("algorithm") {
	case "uct":
	case "puct":
		sel.PUCT = true
	default:
		return mcts.Config{}, "", mcts.ProposerOptions{}, fmt.Errorf("mcts: unknown --algorithm %q (uct, puct)", c.String("algorithm"))
	}
	cfg := mcts.Config{Iterations: c.Int("iterations"), TimeBudget: c.Duration("time-budget"), Workers: c.Int("workers"),
		Seed: c.Uint64("seed"), Selection: sel, KeepGoing: c.Bool("keep-going"), Backend: c.String("backend")}
	if b := cfg.Backend; b != "helios" && b != "git" {
		return mcts.Config{}, "", mcts.ProposerOptions{}, fmt.Errorf("mcts: unknown --backend %q (helios, git)", b)
	}
	if c.IsSet("time-budget") && !c.IsSet("iterations") {
		cfg.Iterations = 0
	}
	po := mcts.ProposerOptions{LLMURL: c.String("llm-url"), LLMModel: c.String("llm-model"), LLMKey: os.Getenv(c.String("llm-key-env"))}
	return cfg, c.String("proposer"), po, nil
}

func mctsOptionsFrom(c *cli.Context) (mctsOptions, error) {
	cfg, prop, po, err := searchConfig(c)
	if err != nil {
		return mctsOptions{}, err
	}
	cfg.Files = c.StringSlice("files")
	cfg.Top = c.Int("top")
	cfg.Run = c.String("run")
	cfg.Test = eval.Config{Command: c.String("test"), Timeout: c.Duration("test-timeout"), JUnit: c.String("junit"), Dir: c.String("scratch")}
	store := c.String("store")
	if cfg.Backend == "git" && !c.IsSet("store") {
		store = "." // the git repository the command runs in
	}
	return mctsOptions{store: store, ref: c.String("ref"), json: c.Bool("json"), quiet: c.Bool("quiet"),
		seeded: c.IsSet("seed"), noServer: c.Bool("no-server"), cfg: cfg, proposer: prop, popts: po}, nil
}

func runMCTS(ctx context.Context, o mctsOptions, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if !o.seeded {
		o.cfg.Seed = rand.Uint64() >> 1
	}
	var (
		st   mcts.Store
		base objstore.ID
	)
	baseName := func() string { return base.String() }
	if o.cfg.Backend == "git" {
		g, err := mcts.OpenGit(o.store)
		if err != nil {
			return err
		}
		defer g.Close()
		g.Author = currentUser()
		if base, err = g.Resolve(o.ref); err != nil {
			return err
		}
		st = g
		baseName = func() string { return g.StateName(base) }
	} else {
		b, resolve, err := searchBackend(o.store, max(o.cfg.Workers, 1), o.noServer, stderr)
		if err != nil {
			return err
		}
		defer b.Close()
		if base, err = resolve(o.ref); err != nil {
			return err
		}
		st = b
	}
	o.popts.Stderr = stderr
	p, err := mcts.NewProposer(o.proposer, o.popts)
	if err != nil {
		return err
	}
	if c, ok := p.(propose.Closer); ok {
		defer c.Close()
	}
	o.cfg.Base, o.cfg.Proposer, o.cfg.ProposerName = base, p, o.proposer
	if !o.quiet {
		o.cfg.Progress = stderr
	}
	search, err := mcts.NewSearch(st, o.cfg)
	if err != nil {
		return err
	}
	if !o.quiet {
		fmt.Fprintf(stderr, "mcts: searching from %s with seed %d, %d workers, proposer %s, backend %s\n", baseName(), o.cfg.Seed, max(o.cfg.Workers, 1), o.proposer, o.cfg.Backend)
	}
	r, err := search.Run(ctx)
	if err != nil {
		return err
	}
	if o.json {
		return json.NewEncoder(stdout).Encode(r)
	}
	if !o.quiet {
		printReport(stdout, r)
	}
	return nil
}

// searchBackend opens the Helios store in dir for a search: through the
// store's server (started if none runs), with one connection per worker,
// or, with --no-server or when no server can start, on the database opened
// here for writing (a running server is asked to hand it over). The search
// is the same either way, and so is its audit record: the result refs move
// in one batch with the journal's record, written by whichever process
// holds the database, as the user who ran the search. resolve names the
// base state.
func searchBackend(dir string, workers int, noServer bool, stderr io.Writer) (b mcts.Backend, resolve func(string) (objstore.ID, error), err error) {
	if _, err := os.Stat(dbDir(dir)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("no helios store at %q (run: helios init --store %s)", dir, dir)
		}
		return nil, nil, err
	}
	if !noServer {
		c, err := server.Connect(dir, server.ConnectOptions{Build: server.BuildID(), Command: serverCommand})
		if err == nil {
			conns := []*server.Client{c}
			for len(conns) < workers {
				more, err := server.Dial(dir, server.BuildID())
				if err != nil {
					for _, c := range conns {
						c.Close()
					}
					return nil, nil, fmt.Errorf("mcts: connection %d to the server: %w", len(conns)+1, err)
				}
				conns = append(conns, more)
			}
			sb := served.New(conns...)
			sb.Author = currentUser()
			return sb, c.ResolveState, nil
		}
		fmt.Fprintf(stderr, "helios: no server for %s (%v); opening the store directly\n", dir, err)
	}
	s, err := openExclusive(dir, false, stderr)
	if err != nil {
		return nil, nil, err
	}
	return mcts.Objstore{Store: s, Author: currentUser()}, s.ResolveState, nil
}

func printReport(w io.Writer, r *mcts.Report) {
	verdict := "not solved"
	if r.Solved {
		verdict = "solved"
	}
	fmt.Fprintf(w, "mcts run %s (seed %d): %s, best score %.3f (base %.3f), %d iterations, %d evaluations, %.1fs, stop: %s\n",
		r.Run, r.Seed, verdict, r.BestScore, r.BaseScore, r.Iterations, r.Evaluations, r.ElapsedS, r.Stop)
	if r.BestCommit != "" {
		fmt.Fprintf(w, "%s %s\n", r.BestRef, r.BestCommit)
	} else {
		fmt.Fprintf(w, "%s %v\n", r.BestRef, r.BestState)
	}
	for _, e := range r.BestEdits {
		fmt.Fprintf(w, "    %s\n", e)
	}
	for _, t := range r.Top {
		fmt.Fprintf(w, "%s %.3f %s\n", t.Ref, t.Score, strings.Join(t.Edits, "; "))
	}
	fmt.Fprintf(w, "time: setup %.3fs, propose %.3fs, switch %.3fs, test %.3fs, score %.3fs, store %.3fs, search %.3fs, results %.3fs; %.2f ms/iteration outside the tests, %.1f iterations/s\n",
		r.Time.SetupS, r.Time.ProposeS, r.Time.SwitchS, r.Time.TestS, r.Time.ScoreS, r.Time.StoreS, r.Time.SearchS, r.Time.ResultsS, r.OverheadMSPer, r.ItersPerS)
}

func mctsABCommand() *cli.Command {
	return &cli.Command{
		Name:      "ab",
		Usage:     "compare two search configurations, paired, over a suite of tasks",
		UsageText: "helios mcts ab --tasks DIR|builtin --a 'FLAGS' --b 'FLAGS' [--seeds K] [--json]",
		Flags: []cli.Flag{jsonFlag, quietFlag,
			&cli.StringFlag{Name: "tasks", Value: "builtin", Usage: "task suite directory, or builtin"},
			&cli.StringFlag{Name: "a", Usage: "search flags of configuration A"},
			&cli.StringFlag{Name: "b", Usage: "search flags of configuration B"},
			&cli.IntFlag{Name: "seeds", Value: 1, Usage: "seeds per task (1, 2, ...)"},
			&cli.StringFlag{Name: "only", Usage: "run only tasks whose name contains this"},
		},
		Action: func(c *cli.Context) error {
			return runAB(c.Context, abOptions{tasks: c.String("tasks"), a: c.String("a"), b: c.String("b"), seeds: c.Int("seeds"),
				only: c.String("only"), json: c.Bool("json"), quiet: c.Bool("quiet")}, c.App.Writer, c.App.ErrWriter)
		},
	}
}

type abOptions struct {
	tasks, a, b, only string
	seeds             int
	json, quiet       bool
}

// parseSearchFlags reads an --a/--b configuration: the search flags of
// mcts run, one worker unless it says otherwise.
func parseSearchFlags(s string) (mcts.ABConfig, error) {
	var out mcts.ABConfig
	app := &cli.App{Name: "config", Writer: io.Discard, ErrWriter: io.Discard, ExitErrHandler: func(*cli.Context, error) {},
		Flags: searchFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected %q", c.Args().First())
			}
			cfg, prop, po, err := searchConfig(c)
			if err != nil {
				return err
			}
			if !c.IsSet("workers") {
				cfg.Workers = 1
			}
			out = mcts.ABConfig{Name: s, Search: cfg, Proposer: prop, ProposerOptions: po}
			return nil
		}}
	if err := app.Run(append([]string{"config"}, strings.Fields(s)...)); err != nil {
		return out, fmt.Errorf("mcts: configuration %q: %w", s, err)
	}
	return out, nil
}

func runAB(ctx context.Context, o abOptions, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	a, err := parseSearchFlags(o.a)
	if err != nil {
		return err
	}
	b, err := parseSearchFlags(o.b)
	if err != nil {
		return err
	}
	dir := o.tasks
	if dir == "builtin" {
		tmp, err := os.MkdirTemp("", "helios-ab-tasks-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if err := mcts.WriteBuiltinTasks(tmp); err != nil {
			return err
		}
		dir = tmp
	}
	tasks, err := mcts.LoadTasks(dir)
	if err != nil {
		return err
	}
	if o.only != "" {
		var keep []mcts.Task
		for _, t := range tasks {
			if strings.Contains(t.Name, o.only) {
				keep = append(keep, t)
			}
		}
		tasks = keep
	}
	if len(tasks) == 0 {
		return errors.New("mcts: no tasks")
	}
	ab := &mcts.AB{A: a, B: b, Seeds: max(o.seeds, 1), Open: openScratchStore}
	if !o.quiet {
		ab.Log = stderr
	}
	rep, err := ab.Run(ctx, tasks)
	if err != nil {
		return err
	}
	if o.json {
		return json.NewEncoder(stdout).Encode(rep)
	}
	rep.WriteText(stdout)
	return nil
}

// openScratchStore makes a fresh RocksDB store in dir for one A/B trial.
func openScratchStore(dir string) (*objstore.Store, error) {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	kv, err := rocksdb.Open(dbDir(dir), rocksdb.Options{Create: true})
	if err != nil {
		return nil, err
	}
	s, err := objstore.Init(kv, objstore.Options{})
	if err != nil {
		kv.Close()
		return nil, err
	}
	return s, nil
}

// mctsExampleCommand writes the built-in example project (a shell library
// with an injected off-by-one and a TAP test script) for demos.
func mctsExampleCommand() *cli.Command {
	return &cli.Command{
		Name:      "example",
		Usage:     "write a tiny project with an injected bug into DIR (for trying mcts run)",
		UsageText: "helios mcts example --dir DIR",
		Flags:     []cli.Flag{&cli.StringFlag{Name: "dir", Required: true}},
		Action: func(c *cli.Context) error {
			dir := c.String("dir")
			for name, content := range mcts.ExampleProject() {
				p := filepath.Join(dir, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
					return err
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					return err
				}
			}
			fmt.Fprintf(c.App.Writer, "wrote the example project to %s; its test command is: sh test.sh\n", dir)
			return nil
		},
	}
}
