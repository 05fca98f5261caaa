package mcts

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/helios-vcs/helios/mcts/eval"
	"github.com/helios-vcs/helios/mcts/propose"
	"github.com/helios-vcs/helios/objstore"
)

// Config is one search.
type Config struct {
	// Run names the search; results go under refs/heads/mcts/<Run>/.
	Run string
	// Base is the state to start from.
	Base     objstore.ID
	Proposer propose.Proposer
	// ProposerName is recorded in messages and reports.
	ProposerName string
	// Backend names the state store for reports and A/B runs: "helios"
	// (default) or "git" (see Git).
	Backend string
	Test    eval.Config
	// Files are globs of the files to edit (default: every text file that
	// does not look like a test).
	Files []string
	// Iterations bounds the new nodes evaluated (default 200 when there is
	// no TimeBudget); TimeBudget bounds the wall time.
	Iterations int
	TimeBudget time.Duration
	Workers    int // default runtime.NumCPU()
	Seed       uint64
	Selection  Selection
	// KeepGoing searches on after the first state that passes all tests.
	KeepGoing bool
	// Top is how many best states get a top-N ref (default 3).
	Top int
	// Progress, if set, gets a progress line every ProgressEvery (1 s).
	Progress      io.Writer
	ProgressEvery time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultSelection is UCT with C = 1.4, K = 3, Alpha = 0.6, depth ≤ 8:
// single-line bugs are common, so the base is widened generously.
var DefaultSelection = Selection{C: 1.4, WidenK: 3, WidenAlpha: 0.6, MaxDepth: 8}

// Timing is where a search's time went, summed over workers.
type Timing struct {
	Propose time.Duration // proposer calls and applying edits
	Switch  time.Duration // moving scratch checkouts
	Test    time.Duration // running the test command
	Score   time.Duration // reading test output into a reward
	// Setup and Results are once per search, not per iteration: reading
	// the base (its files, its first checkout and scoring; its test run is
	// Test), and writing the result states and refs.
	Setup, Results time.Duration
	Store          time.Duration // making states, writing result refs
	Search         time.Duration // selection and backpropagation under the lock
}

// Search is one running search. Make it with NewSearch, then Run.
type Search struct {
	st  Store
	cfg Config
	ev  *eval.Evaluator

	paths, all []string

	mu          sync.Mutex
	cond        *sync.Cond
	root        *Node
	table       map[objstore.ID]*Node
	nodes       []*Node
	started     int
	iterations  int
	evaluations int
	merged      int
	badEdits    int
	stop        bool
	reason      string
	best        *Node
	start       time.Time
	firstSolved time.Duration
	timing      Timing
}

// NewSearch checks cfg and fills its defaults.
func NewSearch(st Store, cfg Config) (*Search, error) {
	if cfg.Proposer == nil {
		return nil, errors.New("mcts: no proposer")
	}
	if cfg.Base.IsZero() {
		return nil, errors.New("mcts: no base state")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if cfg.Iterations <= 0 && cfg.TimeBudget <= 0 {
		cfg.Iterations = 200
	}
	if cfg.Selection == (Selection{}) {
		cfg.Selection = DefaultSelection
	}
	if cfg.Top <= 0 {
		cfg.Top = 3
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = time.Second
	}
	switch cfg.Backend {
	case "":
		cfg.Backend = "helios"
	case "helios", "git":
	default:
		return nil, fmt.Errorf("mcts: unknown backend %q (helios, git)", cfg.Backend)
	}
	if cfg.Run == "" {
		cfg.Run = fmt.Sprintf("%s-s%d", cfg.Now().UTC().Format("20060102T150405"), cfg.Seed)
	}
	if err := objstore.ValidRefName(resultRef(cfg.Run, "best")); err != nil {
		return nil, fmt.Errorf("mcts: run name %q: %w", cfg.Run, err)
	}
	s := &Search{st: st, cfg: cfg, table: map[objstore.ID]*Node{}}
	s.cond = sync.NewCond(&s.mu)
	return s, nil
}

// Run searches until the iterations or the time budget are used up, a
// state passes every test (unless KeepGoing), the proposer has nothing
// left, or ctx ends; then it writes the result refs and reports.
func (s *Search) Run(ctx context.Context) (*Report, error) {
	s.start = s.cfg.Now()
	t0 := time.Now()
	// The base is always evaluated, even past the time budget (a search
	// has no meaning without it); the workers then stop at once.
	baseCtx := ctx
	if s.cfg.TimeBudget > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.TimeBudget)
		defer cancel()
	}
	base, err := s.st.State(s.cfg.Base)
	if err != nil {
		return nil, fmt.Errorf("mcts: base state: %w", err)
	}
	s.paths, s.all, err = listPaths(s.st, s.st, s.cfg.Base, base.Root, s.cfg.Files)
	if err != nil {
		return nil, err
	}
	if len(s.paths) == 0 {
		return nil, errors.New("mcts: no editable files (see --files)")
	}
	s.ev, err = eval.New(s.st, s.cfg.Test)
	if err != nil {
		return nil, err
	}
	defer s.ev.Close()
	s.root = &Node{State: s.cfg.Base, Tree: base.Root}
	s.table[base.Root] = s.root
	s.nodes = append(s.nodes, s.root)
	res, err := s.ev.Eval(baseCtx, 0, s.root.State, s.root.Tree)
	if err != nil {
		return nil, err
	}
	s.addTiming(Timing{Setup: time.Since(t0) - res.Test, Test: res.Test})
	s.root.Result, s.root.Reward, s.root.Value, s.root.Visits, s.root.Evaluated = res, res.Reward, res.Reward, 1, true
	s.best = s.root
	if res.Solved {
		s.stop, s.reason = true, "base passes"
	}
	if res.TimedOut {
		return nil, fmt.Errorf("mcts: the base state's tests timed out after %v", s.ev.Timeout())
	}
	stopProgress := s.progress()
	var wg sync.WaitGroup
	errs := make([]error, s.cfg.Workers)
	for w := range s.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = s.worker(ctx, w)
			if errs[w] != nil {
				s.halt("error")
			}
		}()
	}
	wg.Wait()
	stopProgress()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if s.reason == "" {
		s.reason = "cancelled"
		if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			s.reason = "time budget"
		}
	}
	return s.finish()
}

func (s *Search) halt(reason string) {
	s.mu.Lock()
	if !s.stop {
		s.stop, s.reason = true, reason
	}
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *Search) addTiming(t Timing) {
	s.mu.Lock()
	s.timing.Propose += t.Propose
	s.timing.Switch += t.Switch
	s.timing.Test += t.Test
	s.timing.Score += t.Score
	s.timing.Store += t.Store
	s.timing.Search += t.Search
	s.timing.Setup += t.Setup
	s.mu.Unlock()
}

func (s *Search) progress() func() {
	if s.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(s.cfg.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.mu.Lock()
				line := fmt.Sprintf("mcts: %s: %d iterations, %d nodes, best %.3f (base %.3f), %.1fs\n",
					s.cfg.Run, s.iterations, len(s.nodes), s.best.Reward, s.root.Reward, s.cfg.Now().Sub(s.start).Seconds())
				s.mu.Unlock()
				io.WriteString(s.cfg.Progress, line)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// worker runs iterations until the search stops.
func (s *Search) worker(ctx context.Context, w int) error {
	for {
		path, leaf, ok := s.selectLeaf(ctx)
		if !ok {
			return nil
		}
		child, err := s.expand(ctx, leaf, path)
		if err != nil || child == nil {
			s.undo(path, leaf, child == nil && err == nil)
			if err != nil && ctx.Err() == nil {
				return err
			}
			continue
		}
		res, err := s.ev.Eval(ctx, w, child.State, child.Tree)
		if err != nil {
			s.undo(path, leaf, false)
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		s.backprop(path, leaf, child, res)
	}
}

// selectLeaf descends from the root to the node to expand and puts a
// virtual loss on the way. It waits while every choice is being expanded
// by other workers, and returns false when the search is over.
func (s *Search) selectLeaf(ctx context.Context) ([]*Node, *Node, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t0 := time.Now()
	var waited time.Duration
	wait := func() {
		w := time.Now()
		s.cond.Wait()
		waited += time.Since(w)
	}
	defer func() { s.timing.Search += time.Since(t0) - waited }()
	for {
		switch {
		case s.stop:
			return nil, nil, false
		case ctx.Err() != nil:
			s.stop = true
			s.cond.Broadcast()
			return nil, nil, false
		case s.cfg.Iterations > 0 && s.started >= s.cfg.Iterations:
			if s.iterations >= s.cfg.Iterations {
				s.stop, s.reason = true, "iterations"
				s.cond.Broadcast()
				return nil, nil, false
			}
			wait() // others' iterations may yet fail and be retried
			continue
		case s.root.dead:
			s.stop, s.reason = true, "exhausted"
			s.cond.Broadcast()
			return nil, nil, false
		}
		path, leaf, retry := s.descend()
		if leaf != nil {
			s.started++
			return path, leaf, true
		}
		if !retry {
			wait()
		}
	}
}

// descend walks from the root; it returns the leaf to widen, or retry
// when it found a dead end (now marked), or neither when it must wait.
func (s *Search) descend() ([]*Node, *Node, bool) {
	sel := s.cfg.Selection
	n := s.root
	path := []*Node{n}
	for {
		if sel.canWiden(n) {
			for _, p := range path {
				p.Virtual++
			}
			n.pending++
			return path, n, false
		}
		c := sel.best(n)
		if c == nil {
			if n.pending == 0 && (n.exhausted || !n.Evaluated || n.Reward >= 1 || sel.MaxDepth > 0 && n.Depth >= sel.MaxDepth) {
				n.dead = true
				return nil, nil, true
			}
			return nil, nil, false
		}
		n = c
		path = append(path, c)
	}
}

// undo takes back a selection that made no new node.
func (s *Search) undo(path []*Node, leaf *Node, exhausted bool) {
	s.mu.Lock()
	for _, p := range path {
		p.Virtual--
	}
	leaf.pending--
	if exhausted {
		leaf.exhausted = true
	}
	s.started--
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *Search) backprop(path []*Node, leaf, child *Node, res *eval.Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t0 := time.Now()
	defer func() { s.timing.Search += time.Since(t0) }()
	s.timing.Switch += res.Switch
	s.timing.Test += res.Test
	s.timing.Score += res.Score
	child.Result, child.Reward, child.Value, child.Visits, child.Evaluated = res, res.Reward, res.Reward, 1, true
	leaf.pending--
	leaf.Children = append(leaf.Children, child)
	for _, p := range path {
		p.Virtual--
		p.Visits++
		p.Value = max(p.Value, res.Reward)
	}
	s.iterations++
	if !res.Cached {
		s.evaluations++
	}
	if better(child, s.best) {
		s.best = child
	}
	if res.Solved && s.firstSolved == 0 {
		s.firstSolved = s.cfg.Now().Sub(s.start)
	}
	if res.Solved && !s.cfg.KeepGoing {
		s.stop, s.reason = true, "solved"
	}
	s.cond.Broadcast()
}

// better orders result candidates: higher reward, then fewer edits from
// the base, then made earlier.
func better(a, b *Node) bool {
	if a.Reward != b.Reward {
		return a.Reward > b.Reward
	}
	if a.Depth != b.Depth {
		return a.Depth < b.Depth
	}
	return a.Order < b.Order
}

// expand makes a new child of leaf from the proposer's next candidate. A
// candidate whose tree is already a node is merged into that node (linked
// as a child of leaf too, unless that would make a cycle) and the next one
// is tried. It returns nil when the proposer has nothing more.
func (s *Search) expand(ctx context.Context, leaf *Node, path []*Node) (*Node, error) {
	leaf.mu.Lock()
	defer leaf.mu.Unlock()
	read := s.reader(leaf.State)
	for {
		t0 := time.Now()
		cand, ok, err := s.nextCandidate(ctx, leaf, read)
		if err != nil || !ok {
			s.addTiming(Timing{Propose: time.Since(t0)})
			return nil, err
		}
		files, err := propose.Apply(cand, read)
		t1 := time.Now()
		s.addTiming(Timing{Propose: t1.Sub(t0)})
		if err != nil {
			s.mu.Lock()
			s.badEdits++
			s.mu.Unlock()
			continue
		}
		state, tree, err := s.makeChild(leaf, files, cand.Edits)
		s.addTiming(Timing{Store: time.Since(t1)})
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		if ex, ok := s.table[tree]; ok {
			s.merged++
			if ex.Evaluated && !hasChild(leaf, ex) && !reaches(ex, leaf) {
				leaf.Children = append(leaf.Children, ex)
			}
			s.mu.Unlock()
			continue
		}
		child := &Node{State: state, Tree: tree, Parent: leaf, Edits: cand.Edits, Note: cand.Note, Prior: cand.Prior,
			Depth: leaf.Depth + 1, Order: len(s.nodes), files: files}
		s.table[tree] = child
		s.nodes = append(s.nodes, child)
		s.mu.Unlock()
		return child, nil
	}
}

// makeChild makes the state of leaf with files changed. With a TreeFirst
// store, a tree that is already a node makes no state: the state returned
// is zero, and the caller merges by tree.
func (s *Search) makeChild(leaf *Node, files map[string][]byte, edits []propose.Edit) (state, tree objstore.ID, err error) {
	tf, ok := s.st.(TreeFirst)
	if !ok {
		return s.st.MakeState(leaf.State, files, s.stateMessage(edits))
	}
	var ps PendingState
	if mf, ok := s.st.(MessageFirst); ok {
		ps, err = mf.PrepareStateMessage(leaf.State, files, s.stateMessage(edits))
	} else {
		ps, err = tf.PrepareState(leaf.State, files)
	}
	if err != nil {
		return state, tree, err
	}
	tree = ps.Root()
	s.mu.Lock()
	_, known := s.table[tree]
	s.mu.Unlock()
	if known {
		ps.Abort()
		return state, tree, nil
	}
	state, err = ps.Commit(s.stateMessage(edits))
	return state, tree, err
}

func hasChild(n, c *Node) bool {
	for _, x := range n.Children {
		if x == c {
			return true
		}
	}
	return false
}

// reaches reports whether to is n or below it.
func reaches(n, to *Node) bool {
	seen := map[*Node]bool{}
	var walk func(*Node) bool
	walk = func(x *Node) bool {
		if x == to {
			return true
		}
		if seen[x] {
			return false
		}
		seen[x] = true
		for _, c := range x.Children {
			if walk(c) {
				return true
			}
		}
		return false
	}
	return walk(n)
}

// nextCandidate pops leaf's next candidate, asking the proposer for a new
// round when the queue is empty. leaf.mu is held.
func (s *Search) nextCandidate(ctx context.Context, leaf *Node, read func(string) ([]byte, error)) (propose.Candidate, bool, error) {
	for len(leaf.queue) == 0 {
		if leaf.round < 0 {
			return propose.Candidate{}, false, nil
		}
		req := s.request(leaf, read)
		cs, err := s.cfg.Proposer.Propose(ctx, req)
		if err != nil {
			return propose.Candidate{}, false, err
		}
		if len(cs) == 0 {
			leaf.round = -1
			return propose.Candidate{}, false, nil
		}
		leaf.round++
		leaf.queue = cs
	}
	c := leaf.queue[0]
	leaf.queue = leaf.queue[1:]
	return c, true, nil
}

func (s *Search) reader(state objstore.ID) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		_, b, err := s.st.ReadFile(state, p)
		return b, err
	}
}

// request describes leaf to the proposer. Its Rand is seeded from the
// search seed, the edits from the base to the node and the round: the
// same seed gives the same requests whatever the number of workers, and
// whatever the backend (a tree's ID differs between Helios and git; the
// edits that made it do not).
func (s *Search) request(leaf *Node, read func(string) ([]byte, error)) *propose.Request {
	s.mu.Lock()
	res := leaf.Result
	var hist []propose.Step
	for n := leaf; n.Parent != nil; n = n.Parent {
		hist = append([]propose.Step{{Edits: n.Edits, Score: n.Reward}}, hist...)
	}
	s.mu.Unlock()
	h := fnv.New64a()
	for _, st := range hist {
		io.WriteString(h, propose.Candidate{Edits: st.Edits}.Key())
		h.Write([]byte{0})
	}
	return &propose.Request{
		Node: stateName(s.st, leaf.State), Round: leaf.round, Paths: s.paths, All: s.all, Read: read,
		Output: res.Output, Failing: res.Failing, Score: res.Reward, History: hist,
		Rand: rand.New(rand.NewPCG(s.cfg.Seed, h.Sum64()+uint64(leaf.round))),
	}
}

// stateMessage is the message of a search state: its edits.
func (s *Search) stateMessage(edits []propose.Edit) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mcts %s: %d edit(s)\n\n", s.cfg.Run, len(edits))
	for _, e := range edits {
		fmt.Fprintf(&b, "%s\n", e)
	}
	return b.String()
}
