package mcts

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/helios-vcs/helios/objstore"
)

// Report is what a search found and how its time went. It is the JSON
// that `helios mcts run --json` prints.
type Report struct {
	Run       string      `json:"run"`
	Seed      uint64      `json:"seed"`
	Workers   int         `json:"workers"`
	Proposer  string      `json:"proposer"`
	Backend   string      `json:"backend"`
	Base      objstore.ID `json:"base"`
	BaseScore float64     `json:"base_score"`
	BestRef   string      `json:"best_ref"`
	BestState objstore.ID `json:"best_state"`
	// BestCommit is the best state as git names it (--backend git).
	BestCommit    string     `json:"best_commit,omitempty"`
	BestScore     float64    `json:"best_score"`
	Solved        bool       `json:"solved"`
	BestEdits     []string   `json:"best_edits"`
	Top           []TopState `json:"top"`
	Iterations    int        `json:"iterations"`
	Evaluations   int        `json:"evaluations"`
	CacheHits     int        `json:"cache_hits"`
	Nodes         int        `json:"nodes"`
	Merged        int        `json:"merged"`
	BadEdits      int        `json:"bad_edits"`
	Stop          string     `json:"stop"`
	ElapsedS      float64    `json:"elapsed_s"`
	FirstSolvedS  float64    `json:"first_solution_s,omitempty"`
	ItersPerS     float64    `json:"iterations_per_s"`
	TestTimeoutS  float64    `json:"test_timeout_s"`
	Time          TimeReport `json:"time"`
	OverheadMSPer float64    `json:"overhead_ms_per_iteration"`
	// Trees lists the node trees in creation order (the search tree's
	// shape, for determinism checks).
	Trees []objstore.ID `json:"-"`
}

// TopState is one of the best states found.
type TopState struct {
	Ref   string      `json:"ref"`
	State objstore.ID `json:"state"`
	Score float64     `json:"score"`
	Edits []string    `json:"edits"`
}

// TimeReport is Timing in seconds.
type TimeReport struct {
	ProposeS float64 `json:"propose_s"`
	SwitchS  float64 `json:"switch_s"`
	TestS    float64 `json:"test_s"`
	ScoreS   float64 `json:"score_s"`
	StoreS   float64 `json:"store_s"`
	SearchS  float64 `json:"search_s"`
	// Once per search, outside the per-iteration overhead.
	SetupS   float64 `json:"setup_s"`
	ResultsS float64 `json:"results_s"`
}

func resultRef(run, name string) string { return "refs/heads/mcts/" + run + "/" + name }

// path returns the edits from the base to n.
func (n *Node) path() []*Node {
	var out []*Node
	for x := n; x.Parent != nil; x = x.Parent {
		out = append([]*Node{x}, out...)
	}
	return out
}

func editLines(n *Node) []string {
	var out []string
	for _, x := range n.path() {
		for _, e := range x.Edits {
			out = append(out, e.String())
		}
	}
	return out
}

// finish commits the result states, moves the refs and builds the report.
// Each result is a new state with the node's tree whose parent is the
// node's parent's state, so that `git log` shows one commit per edit step
// and the last one's message the score and every edit from the base.
func (s *Search) finish() (*Report, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	elapsed := s.cfg.Now().Sub(s.start)
	var cands []*Node
	for _, n := range s.nodes {
		if n.Evaluated && n != s.root {
			cands = append(cands, n)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return better(cands[i], cands[j]) })
	if len(cands) > s.cfg.Top {
		cands = cands[:s.cfg.Top]
	}
	r := &Report{
		Run: s.cfg.Run, Seed: s.cfg.Seed, Workers: s.cfg.Workers, Proposer: s.cfg.ProposerName, Backend: s.cfg.Backend,
		Base: s.cfg.Base, BaseScore: s.root.Reward, BestRef: resultRef(s.cfg.Run, "best"),
		BestScore: s.best.Reward, Solved: s.best.Result.Solved, BestEdits: editLines(s.best),
		Iterations: s.iterations, Evaluations: s.evaluations + 1, CacheHits: s.ev.CacheHits(),
		Nodes: len(s.nodes), Merged: s.merged, BadEdits: s.badEdits, Stop: s.reason,
		ElapsedS: elapsed.Seconds(), FirstSolvedS: s.firstSolved.Seconds(), TestTimeoutS: s.ev.Timeout().Seconds(),
	}
	t0 := time.Now()
	states := map[*Node]objstore.ID{s.root: s.root.State}
	commit := func(n *Node) (objstore.ID, error) {
		if id, ok := states[n]; ok {
			return id, nil
		}
		var msg strings.Builder
		fmt.Fprintf(&msg, "mcts %s: score %.3f", s.cfg.Run, n.Reward)
		if res := n.Result; res.Format != "" {
			fmt.Fprintf(&msg, " (%d passed, %d failed, %d broken; %s)", res.Passed, res.Failed, res.Broken, res.Format)
		}
		if n.Result.Solved {
			msg.WriteString(", all tests pass")
		}
		fmt.Fprintf(&msg, "\n\nbase %v, score %.3f\n", s.cfg.Base, s.root.Reward)
		for _, e := range editLines(n) {
			fmt.Fprintf(&msg, "%s\n", e)
		}
		fmt.Fprintf(&msg, "\nseed %d, proposer %s, %d iterations\n", s.cfg.Seed, s.cfg.ProposerName, s.iterations)
		id, _, err := s.st.MakeState(n.Parent.State, n.files, msg.String())
		states[n] = id
		return id, err
	}
	var ups []objstore.RefUpdate
	add := func(name string, id objstore.ID) error {
		old := objstore.ZeroID
		ref, err := s.st.Ref(name)
		switch {
		case err == nil:
			old = ref.ID
		case !errors.Is(err, objstore.ErrNotFound):
			return err
		}
		ups = append(ups, objstore.RefUpdate{Name: name, Old: old, New: id})
		return nil
	}
	bestID, err := commit(s.best)
	if err != nil {
		return nil, err
	}
	r.BestState = bestID
	if _, ok := s.st.(StateNamer); ok {
		r.BestCommit = stateName(s.st, bestID)
	}
	if err := add(r.BestRef, bestID); err != nil {
		return nil, err
	}
	for i, n := range cands {
		id, err := commit(n)
		if err != nil {
			return nil, err
		}
		name := resultRef(s.cfg.Run, fmt.Sprintf("top-%d", i+1))
		if err := add(name, id); err != nil {
			return nil, err
		}
		r.Top = append(r.Top, TopState{Ref: name, State: id, Score: n.Reward, Edits: editLines(n)})
	}
	if err := s.st.UpdateRefs(ups...); err != nil {
		return nil, fmt.Errorf("mcts: result refs: %w", err)
	}
	s.timing.Results += time.Since(t0)
	t := s.timing
	r.Time = TimeReport{ProposeS: t.Propose.Seconds(), SwitchS: t.Switch.Seconds(), TestS: t.Test.Seconds(), ScoreS: t.Score.Seconds(),
		StoreS: t.Store.Seconds(), SearchS: t.Search.Seconds(),
		SetupS: t.Setup.Seconds(), ResultsS: t.Results.Seconds()}
	if s.iterations > 0 {
		r.OverheadMSPer = float64((t.Propose + t.Switch + t.Score + t.Store + t.Search).Microseconds()) / 1000 / float64(s.iterations)
	}
	if elapsed > 0 {
		r.ItersPerS = float64(s.iterations) / elapsed.Seconds()
	}
	for _, n := range s.nodes {
		r.Trees = append(r.Trees, n.Tree)
	}
	return r, nil
}
