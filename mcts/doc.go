// Package mcts searches over code states for edits that make a test
// command pass: Monte Carlo Tree Search whose nodes are states in the
// store, whose children come from proposers, and whose reward is the share
// of tests passing. `helios mcts run` drives it; this comment is its
// specification and its README.
//
//	helios mcts run --store DIR --ref main --test 'go test -json ./...' [--files GLOB...]
//	    [--iterations N] [--time-budget DUR] [--workers K] [--seed S] [--proposer NAME]
//	    [--test-timeout DUR] [--junit FILE] [--algorithm uct|puct] [--c C]
//	    [--widen-k K] [--widen-alpha A] [--max-depth D] [--keep-going] [--run NAME]
//	    [--backend helios|git] [--json]
//	helios mcts ab --tasks DIR|builtin --a 'FLAGS' --b 'FLAGS' [--seeds K] [--json]
//
// # The store, through small interfaces
//
// The search asks the store for roles, not for the store (store.go):
// StateMaker (a child state from a parent plus changed files),
// FileReader, TreeWalker, StateReader, RefMover (compare-and-swap), and
// the evaluator's eval.Switcher (move a directory between states writing
// only the difference). Backend is all of them plus ImportDir and Close:
// the one state-backend interface, with two implementations that pass
// the same conformance suite (package storetest).
//
// Objstore adapts *objstore.Store (--backend helios, the default): tests
// run it on objstore.NewMemKV, the CLI on RocksDB. A child state is made
// with a Writer: the changed blobs and the trees above them are hashed in
// memory and written with the state in one batch.
//
// Git (--backend git) is the baseline the speed-up is measured against:
// the same search on a git repository through the git binary, driven as
// a tool that cares about speed would drive it (long-running cat-file
// --batch, hash-object --stdin-paths and mktree --batch; one read-tree -u
// per checkout switch with an index file per scratch checkout; refs in
// one update-ref transaction). With `mcts run`, --store is then the git
// repository (default the current directory) and --ref a revision; the
// results are refs/heads/mcts/<run>/... in it, and the user's worktree,
// index and HEAD are not touched. Git object IDs travel in objstore.ID,
// left-aligned; Report.BestCommit gives the best state as git names it.
//
// TreeFirst is an optional ability: PrepareState gives a child's root tree
// before its state is written, so a candidate whose tree is already a node
// costs no state (Helios writes nothing for it; git writes its blob and
// trees, which it cannot name otherwise, but no commit). MessageFirst
// refines it for a store behind a server (mcts/served): the message goes
// with the request, and the store writes a state it expects to be new in
// the same round trip.
//
// # Nodes
//
// A node is a state plus the edit that made it from its parent. Nodes are
// keyed by root tree ID: a candidate whose tree is already a node is not
// evaluated again; it is merged into that node (linked as a child of the
// node being expanded too, unless that would make a cycle), so the tree is
// a DAG over distinct trees. Each node's state is stored when it is made
// (a Draft on the parent: only the changed file and the trees above it are
// written), without a ref.
//
// # Selection
//
// From the root, a node that may widen gets a new child; otherwise the
// child with the best score is taken (Selection). A node may widen while it
// has fewer than ceil(K·(visits+1)^Alpha) live or pending children
// (progressive widening, K = 3, Alpha = 0.6 by default), it is not at
// --max-depth, it does not already pass, and its proposer is not used up.
// A node's value is the best reward at or below it (tests are
// deterministic, so the best leaf is what a path is worth). UCT scores
// Q + C·sqrt(ln(N+1)/n); PUCT scores Q + C·P·sqrt(N)/(1+n) with P the
// proposer's prior. A node whose proposer is used up and whose children
// are all dead is dead; a dead root ends the search ("exhausted").
//
// # Workers and determinism
//
// --workers K (default the number of cores) run iterations in parallel,
// each with its own scratch checkout. Selection, expansion bookkeeping and
// backpropagation hold one lock; proposing, making states and testing do
// not. A worker's path carries a virtual loss: until its result is in,
// each node on it counts one more visit whose reward is 0, which steers
// the other workers elsewhere. Every random choice comes from a PCG seeded
// by (seed, the edits from the base to the node, round): with --workers 1
// a seed gives the same tree every time (the seed is printed and in the
// report), on either backend. With more workers the order of results,
// and so the tree, depends on timing.
//
// # Proposers
//
// A propose.Proposer returns candidates for a node: edits of whole lines,
// each naming the path, the 1-based line, the line's current text ("old",
// checked before applying) and its replacement lines ("new": [] deletes,
// several insert). A candidate is applied whole or rejected whole.
//
// mutate (default) is language-agnostic; see propose.Mutate for the
// operators. It ranks lines by the file:line references in the node's own
// failing output (Go, Python tracebacks, TAP diagnostics), by nearness to
// them, and by the bodies of the functions the failing tests name. Since a
// child's proposals come from the child's own test output, the search
// refines: after a partial fix, the next edits aim at what still fails.
//
// command:CMD runs CMD once (sh -c) and talks JSON lines over its stdin
// and stdout, one request and one answer at a time. Request:
//
//	{"version": 1, "node": "b3:…", "round": 0,
//	 "files": [{"path": "calc.go", "content": "…"}],   // files the output names first, ≤ 256 KiB
//	 "paths": ["calc.go", …],                          // every editable path
//	 "output": "…",                                    // the node's failing output
//	 "failing": ["pkg.TestClamp", …], "score": 0.5,
//	 "history": [{"edits": [...], "score": 0.25}],     // from the base to this node
//	 "seed": 123}
//
// Answer (one line):
//
//	{"candidates": [{"edits": [{"path": "calc.go", "line": 12, "old": "if x < n {", "new": ["if x <= n {"]}],
//	                 "prior": 0.8, "note": "why"}]}
//	{"error": "…"}    // or no candidates: nothing for this node
//
// Unknown fields are an error; a node is asked at most twice (round 0,
// 1). stderr passes through. The program is killed at the end of the run.
//
// openai asks an OpenAI-compatible POST {--llm-url}/chat/completions with
// --llm-model and the key from $OPENAI_API_KEY (--llm-key-env), sending
// the files with numbered lines, the edits so far and the failing output,
// and expects exactly {"edits": [...]} in the format above (one ```json
// fence tolerated). Answers with extra text, unknown keys, paths not
// offered, or an "old" that does not match are rejected and counted.
//
// # Evaluation
//
// The evaluator (package eval) runs --test with sh -c in a scratch
// checkout per worker under a temporary directory (never the user's
// worktree; removed at the end) that moves between states with the
// store's Checkout, writing only the paths that differ. The first run (the
// base) sets the timeout unless --test-timeout does: 5× its duration, at
// least 1 s; a run past it is killed with its whole process group and
// scores 0. Results are cached by (tree, command).
//
// The reward is the share of tests passing when the output can be read:
// go test -json, go test -v, TAP, pytest's summary (names with -v or -rA),
// unittest's summary, or JUnit XML from --junit FILE. A test that passed
// at the base and fails (or, with named tests, is gone) costs as much as
// one passing test earns, so a patch that breaks something scores below
// one that does not. A non-zero exit with no failing test counts one
// failure. When no format is recognized the reward is the exit status: 1
// for 0, else 0. A state is solved when the command exits 0 and no test
// fails; the search stops at the first one unless --keep-going.
//
// The test command may write into its checkout (build output, caches);
// checkouts are forced, so such files never block a switch, but a test
// that edits tracked files which later states do not change leaves those
// edits in place.
//
// # Results
//
// The best state is refs/heads/mcts/<run>/best and the top --top (3) are
// .../top-1, .../top-2, ..., all moved in one compare-and-swap batch at
// the end. Each is a new state with the node's tree whose parent is the
// node's parent state, with a message giving the score, the test counts,
// every edit from the base, the seed and the proposer; `git fetch helios`
// brings them back as ordinary commits. When nothing beats the base, best
// is the base. --json prints Report: run, seed, best_ref, best_state,
// best_score, solved, iterations, evaluations, elapsed_s (best_commit
// and backend too), and where the time went: per iteration proposing,
// switching checkouts, testing, reading test output into rewards (score),
// in the store and in the search itself; once per search, setup (the
// base's files, first checkout and scoring) and results (the result
// states and refs). overhead_ms_per_iteration is the per-iteration part
// outside the test runs. A progress line goes to stderr every second (not
// with -q).
//
// # A/B runs
//
// helios mcts ab runs two configurations (flags as for run, one worker
// unless given; --backend too) on every task of a suite with seeds 1..K,
// each trial on a fresh store (a RocksDB store, or a bare git repository
// for --backend git), paired by task and seed. Before a task's first
// trial each arm runs its test command once, untimed, and each arm keeps
// its own build caches for the run (XDG_CACHE_HOME, GOCACHE), so neither
// arm runs on the other's builds or pays for a cold cache. A task is
// plausible-solved when its tests pass, verified when its held-out tests
// pass too. The report gives per configuration the SuccessScore (share
// verified) with a Wilson 95% interval, median time to first solution,
// mean evaluations, iterations per second and the overhead per
// iteration, and for the pair an exact sign test on the discordant pairs
// (McNemar's exact test).
//
// --tasks builtin writes WriteBuiltinTasks' suite: 32 small programs of
// our own, 20 Python (unittest) and 12 Go (go test -json, held-out tests
// behind the "heldout" build tag), standard library only, each with one
// injected bug that one mutation undoes (a test checks that, and that
// the bug fails the tests and the fix passes the held-out ones). It is
// small and its bugs are of the kinds the mutate proposer knows, which
// bounds what its numbers can say: they measure the search and its cost,
// not a proposer's reach on real bugs.
package mcts
